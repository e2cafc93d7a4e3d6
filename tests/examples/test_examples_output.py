"""What a run prints and records about time: the CLI's wording, eval.csv's clock, the summary,
the routing distance and the progress bars (no Meta-World needed)."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest

pytest.importorskip("modnet_sb3")

from examples.common.checkpoints import latest_checkpoint, save_checkpoint  # noqa: E402
from examples.common.cli import flag, with_flags  # noqa: E402
from examples.common.eval_log import EvalCSV, EvalRow, read_eval_csv  # noqa: E402
from examples.common.plots import (  # noqa: E402
    plot_routing_embedding,
    plot_routing_heatmaps,
    plot_success_curves,
)
from examples.common.progress import CountingPredictor, describe_row  # noqa: E402
from examples.common.results import RunResult  # noqa: E402
from examples.common.routing_probe import RoutingSample, routing_distance  # noqa: E402
from examples.common.run_clock import RunClock  # noqa: E402
from examples.common.summary import format_duration, run_summary  # noqa: E402
from examples.settings import TrainSettings  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def test_flags_replace_field_names_only_where_they_are_the_setting() -> None:
    assert flag("total_steps") == "--total-steps"
    message = (
        "TrainSettings: warmup_steps must be below total_steps = 300, got 300; "
        "TrainSettings: tasks must be MT10 tasks, one of ['reach-v3'], got ['fly-v3']"
    )
    assert with_flags(message, TrainSettings) == (
        "--warmup-steps must be below --total-steps = 300, got 300; "
        "--tasks must be MT10 tasks, one of ['reach-v3'], got ['fly-v3']"
    )
    # Not a field: left alone; an already worded flag is not doubled.
    assert with_flags("--total-steps and batch_size", TrainSettings) == (
        "--total-steps and batch_size"
    )


def test_the_run_clock_goes_on_from_what_a_checkpoint_had_taken() -> None:
    clock = RunClock(already=100.0)
    time.sleep(0.01)
    assert 100.01 <= clock() < 101.0
    assert 0.01 <= clock.session() < 1.0


def test_eval_csv_has_elapsed_seconds_and_the_unix_time(tmp_path) -> None:
    clock = RunClock(already=50.0)
    table = EvalCSV(tmp_path / "eval.csv", ["a"], clock=clock)
    before = time.time()
    table.append(EvalRow(10, {"a": 1.0}, {"a": 2.0}))
    table.append(EvalRow(20, {"a": 0.0}, {"a": 1.0}))
    rows = read_eval_csv(table.path)
    assert list(rows[0])[-2:] == ["elapsed_s", "unix_time"]
    elapsed = [float(row["elapsed_s"]) for row in rows]
    assert 50.0 <= elapsed[0] <= elapsed[1] < 51.0
    assert before - 1 <= float(rows[0]["unix_time"]) <= time.time() + 1
    assert table.last_elapsed() == elapsed[1]


def test_an_older_eval_csv_is_upgraded_to_the_new_columns_on_resume(tmp_path) -> None:
    path = tmp_path / "eval.csv"
    header = "env_steps,mean_success,mean_return,success/a,return/a,wall_time_s\n"
    path.write_text(header + "10,1,2,1,2,1000.5\n20,0,1,0,1,1030.5\n30,0,1,0,1,1060.5\n")
    table = EvalCSV(path, ["a"])
    assert table.drop_after(20) == 1
    rows = read_eval_csv(path)
    assert [(row["elapsed_s"], row["unix_time"]) for row in rows] == [
        ("0.000", "1000.5"),
        ("30.000", "1030.5"),
    ]
    table.append(EvalRow(30, {"a": 1.0}, {"a": 1.0}))  # the new row lines up with the header
    assert read_eval_csv(path)[-1]["env_steps"] == "30"


def test_a_checkpoint_records_the_elapsed_time(tmp_path) -> None:
    from modnet_sb3 import MTSAC
    from modnet_sb3.testing import make_point_reach_vec_env

    model = MTSAC("MlpPolicy", make_point_reach_vec_env(2), policy_kwargs={"net_arch": [8]})
    save_checkpoint(model, tmp_path, replay_buffer=False, elapsed_s=12.3456)
    assert latest_checkpoint(tmp_path).elapsed_s == 12.346
    (tmp_path / "latest.json").write_text(
        json.dumps({"num_timesteps": 0, "model": "m.zip", "replay_buffer": None})
    )
    assert latest_checkpoint(tmp_path).elapsed_s is None  # a run from before elapsed_s


def _sample(final: list[float], n: int = 2, batch: int = 3) -> RoutingSample:
    layers = np.full((batch, 1, n, n), 1.0 / n)
    return RoutingSample(layers, np.tile(np.array(final), (batch, 1)))


def test_routing_distance_is_the_mean_total_variation_between_tasks() -> None:
    same = {"a": _sample([0.5, 0.5]), "b": _sample([0.5, 0.5])}
    assert routing_distance(same) == 0.0
    # Final mixes disjoint (TV 1), the layer's two rows identical (TV 0): mean over 3 rows.
    apart = {"a": _sample([1.0, 0.0]), "b": _sample([0.0, 1.0])}
    assert routing_distance(apart) == pytest.approx(1 / 3)
    assert routing_distance({"a": _sample([1.0, 0.0])}) == 0.0


def _result(tmp_path, success: list[float], method: str = "soft-shallow") -> RunResult:
    steps = np.array([100, 200])
    table = np.array([[0.0] * len(success), success])
    names = [f"task-{i}" for i in range(len(success))]
    return RunResult(tmp_path, "MT10", "fixed", method, 0, names, steps, table, table)


def _summary(
    tmp_path, success: list[float], method: str = "soft-shallow", **overrides: object
) -> str:
    """``run_summary`` of a two-evaluation run; ``overrides`` replace the keyword defaults."""
    kwargs = dict(preset="smoke", session_s=1.0, elapsed_s=1.0, paper=87.0, routing=0.25)
    return run_summary(_result(tmp_path, success, method), **{**kwargs, **overrides})


def test_the_summary_states_success_time_and_where_things_are(tmp_path) -> None:
    text = _summary(tmp_path, [1.0, 0.0], session_s=75.0, elapsed_s=200.0)
    assert "MT10-fixed, soft-shallow, seed 0: 200 env steps (smoke preset)" in text
    assert "task-0           100.0 %" in text and "task-1             0.0 %" in text
    assert "mean over tasks   50.0 %" in text
    # Two of MT10's tasks: the paper's number is named but marked as not comparable.
    assert "is over all MT10 tasks after 15M env steps: 87.0 %; not comparable" in text
    every = _summary(tmp_path, [1.0] * 10, preset="paper")
    assert "(the paper's Table 1, after 15M env steps: 87.0 %)" in every
    assert "tasks differ by 0.250" in text
    assert "wall time: 1 min 15 s this session, 3 min 20 s since the run started" in text
    assert f"run folder: {tmp_path}" in text and "plots/routing_heatmaps.png" in text
    plain = _summary(
        tmp_path, [1.0], "mt-sac", session_s=5.0, elapsed_s=5.0, paper=None, routing=None
    )
    assert "wall time: 5.0 s\n" in plain and "mt-sac has none" in plain
    assert "routing_heatmaps" not in plain and "after 15M" not in plain
    single = _summary(tmp_path, [1.0], routing=0.0)  # one task: no distance to print
    assert "one task, nothing to compare it with" in single and "differ by" not in single
    assert format_duration(3 * 3600 + 5 * 60) == "3 h 05 min"


def test_progress_lines_and_the_counting_predictor() -> None:
    row = EvalRow(300, {"reach-v3": 1.0, "push-v3": 0.0}, {"reach-v3": 1.0, "push-v3": 0.0})
    assert describe_row(row) == "success 50% (reach-v3 100%, push-v3 0%)"

    class Model:
        def predict(self, obs, deterministic=False):
            return obs * 2, None

    counting = CountingPredictor(Model(), total=3, desc="eval", enabled=False)
    assert counting.predict(np.ones(2), deterministic=True)[0].tolist() == [2.0, 2.0]
    counting.close()


def test_figures_are_written_for_one_and_many_tasks(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for tasks, n, layers in ((2, 2, 1), (12, 4, 3)):  # 12 tasks wrap into two blocks
        logits = rng.normal(size=(tasks, 5, layers, n, n))
        probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        samples = {
            f"t{i}": RoutingSample(probabilities[i], probabilities[i, :, 0, 0])
            for i in range(tasks)
        }
        plot_routing_heatmaps(samples, tmp_path / f"heat{tasks}.png", title="x")
        assert plot_routing_embedding(samples, tmp_path / f"emb{tasks}.png") == "PCA"
        assert (tmp_path / f"heat{tasks}.png").read_bytes()[:8] == PNG
    plot_success_curves([_result(tmp_path, [1.0, 0.5])], tmp_path / "success.png")
    assert (tmp_path / "success.png").read_bytes()[:8] == PNG


def test_tqdm_bars_stay_off_where_the_stream_is_not_a_terminal() -> None:
    from tqdm.auto import tqdm

    stream = io.StringIO()  # not a TTY: disable=None turns the bar off
    with tqdm(total=3, file=stream, disable=None) as bar:
        bar.update(3)
    assert stream.getvalue() == ""
