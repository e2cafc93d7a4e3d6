"""examples.train under the paper preset: the authors' horizons, goals and update order reach
the run, each evaluation draws goals of its own, and the run states its protocol."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("metaworld")
pytest.importorskip("modnet_metaworld")
pytest.importorskip("modnet_sb3")

import torch  # noqa: E402

from examples import train as train_module  # noqa: E402
from modnet_sb3 import MTSAC  # noqa: E402


@pytest.fixture
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # examples.train sets it for the whole process


def test_a_paper_run_uses_and_records_the_authors_protocol(
    keep_threads, tmp_path, monkeypatch
) -> None:
    indices: list[int] = []
    evaluate = train_module.evaluate

    def counting(*args, **kwargs):
        indices.append(kwargs["evaluation_index"])
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(train_module, "evaluate", counting)
    run = tmp_path / "run"
    # assembly-v3: a 200-step task of the authors' MT50, random at every reset in their
    # Fixed runs (so no goal list to build). Three evaluations of one episode.
    argv = ["--preset", "paper", "--benchmark", "MT50", "--tasks", "assembly-v3"]
    argv += ["--method", "mt-sac", "--total-steps", "150", "--warmup-steps", "100"]
    argv += ["--eval-freq", "50", "--checkpoint-freq", "150", "--eval-episodes", "1"]
    argv += ["--batch-per-task", "8", "--replay-size", "1000", "--no-progress-bar"]
    assert train_module.main([*argv, "--run-dir", str(run)]) == 0

    assert indices == [0, 1, 2]
    record = json.loads((run / "settings.json").read_text())
    assert record["settings"]["mode"] == "fixed"
    schedule = record["schedule"]
    assert (schedule["env_mode"], schedule["update_order"]) == ("authors-fixed", "authors")
    protocol = record["protocol"]
    assert protocol["mode"] == "authors-fixed"
    assert protocol["horizons"] == {"assembly-v3": 200}
    assert protocol["randomised_tasks"] == ["assembly-v3"]
    assert protocol["evaluation_episodes_per_task"] == 1
    assert protocol["metaworld_version"] == record["versions"]["metaworld"]
    assert MTSAC.load(run / "final_model.zip", device="cpu").update_order == "authors"
    table = (run / "table.md").read_text()
    # One task of MT50: no Table 1 number beside it (the paper's is over all 50).
    assert "| MT50 | fixed | mt-sac | 1 | 150 |" in table and table.count("| - |") == 1
    assert "Protocol of this run:" in table and "- horizons: 200 steps\n" in table
