"""python -m examples.aggregate on fake run folders (no training needed)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("rliable")

from examples import aggregate as aggregate_module  # noqa: E402
from examples.common.eval_log import EvalCSV, EvalRow  # noqa: E402
from examples.common.results import load_run  # noqa: E402

TASKS = ["reach-v3", "push-v3"]


def fake_run(root, *, method, seed, curve):
    """A run folder as examples.train leaves it: settings.json and eval.csv."""
    root.mkdir(parents=True)
    settings = {"benchmark": "MT10", "mode": "fixed", "method": method, "seed": seed}
    (root / "settings.json").write_text(json.dumps({"settings": settings, "task_names": TASKS}))
    table = EvalCSV(root / "eval.csv", TASKS)
    for step, (reach, push) in curve:
        table.append(
            EvalRow(step, {"reach-v3": reach, "push-v3": push}, {"reach-v3": 1.0, "push-v3": 2.0})
        )
    return root


def test_aggregate_two_runs_into_one_table_and_figure(tmp_path, capsys) -> None:
    a = fake_run(
        tmp_path / "a", method="soft-shallow", seed=0, curve=[(100, (0.0, 0.0)), (200, (1.0, 0.0))]
    )
    b = fake_run(
        tmp_path / "b", method="soft-shallow", seed=1, curve=[(100, (0.0, 1.0)), (200, (1.0, 1.0))]
    )
    out = tmp_path / "report"
    assert aggregate_module.main([str(a), str(b), "--out", str(out), "--reps", "200"]) == 0
    table = (out / "table.md").read_text()
    row = next(line for line in table.splitlines() if "soft-shallow" in line)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[:5] == ["MT10", "fixed", "soft-shallow", "2", "200"]
    assert cells[5].startswith("75.0 [")  # final success: (1 + 0 + 1 + 1) / 4
    assert cells[6].startswith("100.0 [")  # IQM of [0, 1, 1, 1]: the middle half is [1, 1]
    # The paper's Table 1 (MT10-Fixed, Shallow: 87.0) is over all ten tasks, so a
    # two-task run gets no paper number beside it.
    assert cells[7] == "-"
    assert (out / "success.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "runs.csv").read_text().count("soft-shallow") == 2
    assert "2 runs ->" in capsys.readouterr().out


def test_aggregate_finds_run_folders_below_a_sweep_folder_and_keeps_methods_apart(tmp_path) -> None:
    fake_run(tmp_path / "sweep" / "x", method="mt-sac", seed=0, curve=[(100, (0.0, 0.5))])
    fake_run(tmp_path / "sweep" / "y", method="mlp-matched", seed=0, curve=[(100, (1.0, 0.5))])
    runs = aggregate_module.aggregate([tmp_path / "sweep"], tmp_path / "out", reps=100)
    assert sorted(run.method for run in runs) == ["mlp-matched", "mt-sac"]
    table = (tmp_path / "out" / "table.md").read_text()
    assert "| MT10 | fixed | mlp-matched | 1 | 100 | 75.0" in table
    assert table.count("| - |") == 2  # two-task runs: no paper number beside them
    assert load_run(tmp_path / "sweep" / "x").final_success.tolist() == [0.0, 0.5]


def test_aggregate_without_runs_fails_clearly(tmp_path, capsys) -> None:
    assert aggregate_module.main([str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "paths must hold run folders with evaluations" in capsys.readouterr().err


def test_a_run_finds_the_other_seeds_of_its_setting_next_to_it(tmp_path) -> None:
    from examples.common.results import with_sibling_seeds

    a = fake_run(tmp_path / "a", method="soft-deep", seed=3, curve=[(100, (0.0, 0.0))])
    fake_run(tmp_path / "b", method="soft-deep", seed=1, curve=[(100, (1.0, 0.0))])
    fake_run(tmp_path / "c", method="moe", seed=2, curve=[(100, (1.0, 1.0))])
    (tmp_path / "d").mkdir()  # an unfinished run folder: skipped
    (tmp_path / "d" / "eval.csv").write_text("env_steps\n")
    seeds = with_sibling_seeds(load_run(a))
    assert [run.seed for run in seeds] == [1, 3]
    assert all(run.method == "soft-deep" for run in seeds)


def test_a_run_on_every_task_gets_the_paper_number_beside_it(tmp_path) -> None:
    import numpy as np

    from examples.common.results import RunResult
    from examples.common.tables import success_table
    from modnet_metaworld.suites import task_names

    names = task_names("MT10")
    table = np.array([[1.0] * len(names)])
    run = RunResult(
        tmp_path, "MT10", "fixed", "soft-shallow", 0, names, np.array([100]), table, table
    )
    row = next(
        line for line in success_table([run], reps=50).splitlines() if "soft-shallow" in line
    )
    assert row.strip("|").split("|")[-1].strip() == "87.0"  # Table 1, MT10-Fixed, Shallow


def test_a_sibling_still_running_or_of_another_schedule_is_not_another_seed(tmp_path) -> None:
    from examples.common.results import with_sibling_seeds

    def scheduled(name, seed, curve, learning_rate):
        root = fake_run(tmp_path / name, method="soft-shallow", seed=seed, curve=curve)
        record = json.loads((root / "settings.json").read_text())
        record["schedule"] = {"total_steps": 200, "learning_rate": learning_rate}
        (root / "settings.json").write_text(json.dumps(record))
        return root

    done = [(100, (0.0, 0.0)), (200, (1.0, 1.0))]
    run = scheduled("run", 0, done, 1e-3)
    scheduled("same", 1, done, 1e-3)
    scheduled("running", 2, done[:1], 1e-3)  # one evaluation so far: would cut the curve
    scheduled("other-lr", 3, done, 3e-4)
    seeds = with_sibling_seeds(load_run(run))
    assert [r.seed for r in seeds] == [0, 1]
    assert all(r.env_steps.tolist() == [100, 200] for r in seeds)
