"""The examples' plumbing: atomic writes, checkpoints, the eval CSV, matched widths, routing probes."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("modnet_sb3")

from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

from examples.common.atomic import atomic_open, atomic_write_text  # noqa: E402
from examples.common.checkpoints import latest_checkpoint, save_checkpoint  # noqa: E402
from examples.common.eval_log import EvalCSV, EvalRecorder, EvalRow, read_eval_csv  # noqa: E402
from examples.common.plots import plot_routing_embedding, plot_routing_heatmaps  # noqa: E402
from examples.common.routing_probe import probe_routing  # noqa: E402
from examples.common.subset import SubsetOneHot  # noqa: E402
from examples.methods import matched_mlp_widths  # noqa: E402
from examples.paper_results import PAPER_TABLE_1, paper_success  # noqa: E402
from modnet_sb3 import MTSAC  # noqa: E402
from modnet_sb3.testing import PointReachEnv, make_point_reach_vec_env  # noqa: E402


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path) -> None:
    path = tmp_path / "model.zip"
    atomic_write_text(path, "old")
    with pytest.raises(RuntimeError), atomic_open(path, "w") as handle:
        handle.write("half of the new")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.zip"]  # no temporary left over


SMALL = {
    "MlpPolicy": {"net_arch": [32, 32]},
    "SoftModularPolicy": {"module_features": 16, "hidden_features": 32, "routing_features": 16},
    "MultiHeadPolicy": {"trunk_sizes": [32], "head_sizes": [16]},
}


def _toy_model(policy: str = "SoftModularPolicy", num_tasks: int = 3) -> MTSAC:
    """A small MTSAC on the toy point-reaching tasks (small networks: fast saves)."""
    env = make_point_reach_vec_env(num_tasks, seed=0)
    return MTSAC(
        policy,
        env,
        learning_starts=10,
        batch_size=6,
        buffer_size=300,
        policy_kwargs=dict(SMALL[policy]),
        seed=0,
    )


def test_checkpoints_restore_steps_model_and_buffer(tmp_path) -> None:
    model = _toy_model()
    model.learn(60)
    checkpoint = save_checkpoint(model, tmp_path, replay_buffer=True)
    assert latest_checkpoint(tmp_path) == checkpoint
    assert checkpoint.num_timesteps == model.num_timesteps == 60
    restored = MTSAC.load(checkpoint.model, env=model.get_env())
    restored.load_replay_buffer(checkpoint.replay_buffer)
    assert restored.num_timesteps == 60
    assert restored.replay_buffer.size() == model.replay_buffer.size() > 0
    obs = model.get_env().reset()
    np.testing.assert_allclose(
        restored.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )
    # The optimisers' state travels too (Adam's step counts are non-empty after training).
    assert restored.actor.optimizer.state_dict()["state"]
    # Older checkpoints are pruned; the newest replay buffer only is kept.
    model.learn(30, reset_num_timesteps=False)
    save_checkpoint(model, tmp_path, replay_buffer=True)
    model.learn(30, reset_num_timesteps=False)
    last = save_checkpoint(model, tmp_path, replay_buffer=True)
    assert sorted(p.name for p in tmp_path.glob("model_*.zip")) == [
        "model_000000000090.zip",
        "model_000000000120.zip",
    ]
    assert [p.name for p in tmp_path.glob("replay_buffer_*.pkl")] == [last.replay_buffer.name]
    assert json.loads((tmp_path / "latest.json").read_text())["num_timesteps"] == 120


def test_no_checkpoint_means_none(tmp_path) -> None:
    assert latest_checkpoint(tmp_path) is None


def test_eval_csv_appends_and_drops_rows_newer_than_a_checkpoint(tmp_path) -> None:
    table = EvalCSV(tmp_path / "eval.csv", ["a", "b"])
    for step in (100, 200, 300):
        table.append(EvalRow(step, {"a": 1.0, "b": 0.0}, {"a": 5.0, "b": 1.0}))
    rows = read_eval_csv(table.path)
    assert [row["env_steps"] for row in rows] == ["100", "200", "300"]
    assert float(rows[0]["mean_success"]) == 0.5 and float(rows[0]["mean_return"]) == 3.0
    assert table.drop_after(200) == 1
    assert table.steps() == [100, 200]
    assert table.drop_after(200) == 0
    with open(table.path, "a") as handle:  # a row torn by a kill mid-write
        handle.write("300,0.5,3")
    assert table.drop_after(250) == 1
    assert table.steps() == [100, 200]
    with pytest.raises(ValueError, match=r"EvalCSV.append: tasks must be \['a', 'b'\]"):
        table.append(EvalRow(400, {"a": 1.0}, {"a": 1.0}))


def test_eval_recorder_evaluates_on_its_grid_and_continues_it_on_resume(tmp_path) -> None:
    calls = []

    def fake_evaluate(model):
        calls.append(model.num_timesteps)
        return EvalRow(0, {str(i): 0.0 for i in range(3)}, {str(i): 0.0 for i in range(3)})

    table = EvalCSV(tmp_path / "eval.csv", ["0", "1", "2"])
    model = _toy_model("MlpPolicy")
    model.learn(30, callback=EvalRecorder(fake_evaluate, table, every=12))
    assert calls == [12, 24]
    model.learn(
        30, callback=EvalRecorder(fake_evaluate, table, every=12), reset_num_timesteps=False
    )
    assert calls == [12, 24, 36, 48, 60]
    assert table.steps() == calls


def test_subset_one_hot_keeps_the_chosen_columns() -> None:
    columns = DummyVecEnv([lambda: PointReachEnv(1, 4), lambda: PointReachEnv(3, 4)])
    wrapped = SubsetOneHot(columns, num_tasks=4, task_indices=[1, 3])
    assert wrapped.observation_space.shape == (4,)
    obs = wrapped.reset()
    assert obs.shape == (2, 2 + 2)
    np.testing.assert_array_equal(obs[:, 2:], np.eye(2))


def test_matched_mlp_widths_match_the_counts_they_aim_at() -> None:
    def actor(d, a, w):
        return (d + 1) * w + 2 * (w + 1) * w + 2 * (w + 1) * a

    def critic(d, a, w):
        return (d + a + 1) * w + 2 * (w + 1) * w + (w + 1)

    wa, wc = matched_mlp_widths(49, 4, 691_022, 690_823)
    assert abs(actor(49, 4, wa) - 691_022) <= abs(actor(49, 4, wa + 1) - 691_022)
    assert abs(actor(49, 4, wa) - 691_022) <= abs(actor(49, 4, wa - 1) - 691_022)
    assert abs(critic(49, 4, wc) - 690_823) / 690_823 < 0.005


def test_paper_numbers_cover_the_paper_methods() -> None:
    assert paper_success("MT10", "fixed", "soft-shallow") == 87.0
    assert paper_success("MT50", "conditioned", "hard-routing") == 29.1
    assert paper_success("MT10", "fixed", "mlp-matched") is None
    for table in PAPER_TABLE_1.values():
        assert set(table) == {
            "mt-sac",
            "mt-mh-sac",
            "moe",
            "hard-routing",
            "soft-shallow",
            "soft-deep",
        }


def test_routing_probe_and_its_plots(tmp_path) -> None:
    model = _toy_model("SoftModularPolicy")
    obs = np.concatenate([np.zeros((4, 2)), np.tile(np.eye(3)[1], (4, 1))], axis=1)
    sample = probe_routing(model.policy, obs)
    assert sample.layers.shape == (4, 1, 2, 2) and sample.final.shape == (4, 2)
    np.testing.assert_allclose(sample.layers.sum(axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(sample.final.sum(axis=-1), 1.0, rtol=1e-5)
    assert sample.vectors().shape == (4, 6)
    assert probe_routing(_toy_model("MlpPolicy").policy, obs) is None
    assert probe_routing(_toy_model("MultiHeadPolicy").policy, obs) is None
    rng = np.random.default_rng(0)
    samples = {
        name: probe_routing(model.policy, obs + rng.normal(0, 0.5, obs.shape) * (obs < 0.5))
        for name in ("t0", "t1", "t2")
    }
    plot_routing_heatmaps(samples, tmp_path / "heat.png")
    assert (
        plot_routing_embedding(samples, tmp_path / "emb.png") == "PCA"
    )  # 12 samples: too few for t-SNE
    assert (tmp_path / "heat.png").stat().st_size > 1000
    assert (tmp_path / "emb.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("hello world\nfoo,bar\n", r"no env_steps column"),
        (
            "env_steps,mean_success,mean_return,elapsed_s,unix_time\nsix hundred,0,0,1,1\n",
            r"line 2: env_steps is 'six hundred', not a step count",
        ),
        (
            "env_steps,mean_success,mean_return,success/pick-place-v3,return/pick-place-v3,"
            "elapsed_s,unix_time\n600,0,0,0,0,1,1\n",
            r"its columns \['return/pick-place-v3', 'return/reach-v3', 'success/pick-place-v3', "
            r"'success/reach-v3'\] differ from this run's",
        ),
    ],
)
def test_a_damaged_eval_csv_is_named_with_what_to_do(tmp_path, text, pattern) -> None:
    from examples.common.atomic import RunFolderError

    path = tmp_path / "eval.csv"
    path.write_text(text)
    with pytest.raises(RunFolderError, match=rf"eval.csv: damaged.*{pattern}.*Restore it"):
        EvalCSV(path, ["reach-v3"]).drop_after(10_000)
    assert path.read_text() == text  # nothing rewritten


def test_a_damaged_sibling_does_not_stop_a_run_s_reports(tmp_path) -> None:
    from examples.common.results import load_run, with_sibling_seeds

    for name, seed in (("run", 0), ("other", 1)):
        root = tmp_path / name
        root.mkdir()
        settings = {"benchmark": "MT10", "mode": "fixed", "method": "mt-sac", "seed": seed}
        record = {"settings": settings, "task_names": ["reach-v3"]}
        (root / "settings.json").write_text(json.dumps(record))
        EvalCSV(root / "eval.csv", ["reach-v3"]).append(
            EvalRow(100, {"reach-v3": 1.0}, {"reach-v3": 2.0})
        )
    (tmp_path / "other" / "eval.csv").write_text("garbage\n\x00\n")
    runs = with_sibling_seeds(load_run(tmp_path / "run"))
    assert [run.seed for run in runs] == [0]


def test_a_run_folder_that_cannot_be_written_is_refused_before_anything_is_built(
    tmp_path, monkeypatch
) -> None:
    from pathlib import Path

    from examples.common.atomic import RunFolderError
    from examples.common.run_dir import RunDir

    def read_only(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_bytes", read_only)  # root ignores chmod: simulate it
    with pytest.raises(RunFolderError, match=r"run: cannot be written \(Permission denied\)"):
        RunDir(tmp_path / "run").create()
