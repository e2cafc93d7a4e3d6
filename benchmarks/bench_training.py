"""Whole-loop throughput of ``examples.train``: where a training run's wall time goes.

Runs the real training loop (``examples.train.train``, any method, preset, task subset
and the other ``examples.train`` options) and times, from the outside, by wrapping:

- ``env``: the training VecEnv's ``step`` (with ``--env-workers``, the wait for the
  worker processes);
- ``predict``: ``MTSAC.predict`` outside evaluation (choosing the training actions);
- ``replay_add`` / ``replay_sample``: ``TaskBalancedReplayBuffer.add`` / ``.sample``;
- ``update``: ``MTSAC.train`` less the replay sampling inside it;
- ``evaluation``: ``examples.train.evaluate`` (its env steps and predicts included); with
  ``--eval-worker``, what the training process spends on evaluation: handing snapshots
  to the worker and reading results (``EvaluationWorker.submit`` / ``.finished``,
  waits for the worker included); the worker's own time per evaluation is reported
  beside it;
- ``rest``: everything else in the window (SB3's loop, callbacks, logging).

Times are exclusive (a timer running inside another is subtracted from the outer one;
inside ``evaluation`` nothing else is counted). The window opens at the first update
(after the warm-up collection) and closes when ``model.learn`` returns, so the shares
sum to 1. The final evaluation and model save of ``train`` run after the window (the
final evaluation's time still counts towards the cost of one evaluation); its plots and
table are not written.

From the measured costs (collection per env step, seconds per update, seconds per
evaluation env step) it projects the wall time of the paper's runs with their evaluation
schedule (MT10: 15M env steps, 1.5M updates at batch 1,280, 7,500 evaluations of 3
episodes per task; MT50: 50M env steps, 1M updates at batch 6,400, 5,000 evaluations).
The benchmark measured is projected directly; the other one is scaled, assuming that
collection and evaluation cost per env step are the same and that the update time grows
in proportion to the batch (stated in the output).

    python benchmarks/bench_training.py                       # MT10, paper preset, soft-shallow
    python benchmarks/bench_training.py --steps 4000 --method mtsac --env-workers 2
    python benchmarks/bench_training.py --json report.json    # the report as JSON too
    python benchmarks/bench_training.py --steps 1800 --eval-worker   # evaluation overlapped

Every ``examples.train`` option is accepted. The benchmark's own defaults differ from
``train``'s: ``--preset paper``, ``--warmup-steps 1000`` (the paper's 40,000 add nothing
to the rates), no checkpoints in the window, no replay in the final checkpoint, no bars.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # `python benchmarks/bench_training.py` from the root

# Libraries examples/ imports for plots, statistics and TensorBoard, which the timed loop
# does not use. On a bare machine (benchmarks/gpu_check.sh) they may be absent:
# --stub-missing (or the env var MODNET_BENCH_STUB_MISSING=1, which gpu_check.sh sets)
# puts an empty stand-in in place of each missing one, so examples.train imports; the
# benchmark then writes no plots, no TensorBoard and no end-of-run summary.
OPTIONAL = ("matplotlib", "tensorboard", "arch", "pandas", "PIL", "imageio", "boto3", "rliable")
STUBBED: list[str] = []


def stub_missing(names: Sequence[str] = OPTIONAL, *, always: bool = False) -> list[str]:
    """Install stand-ins for the missing (or, ``always``, all) ``names``; returns those stubbed."""
    import importlib.abc
    import importlib.machinery
    import importlib.util
    import types
    from unittest import mock

    chosen = {n for n in names if always or importlib.util.find_spec(n) is None}

    class Stub(types.ModuleType):
        __path__: list[str] = []  # a package, so submodules import too

        def __getattr__(self, name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            return mock.MagicMock(name=f"{self.__name__}.{name}")

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
            if fullname.split(".")[0] in chosen:
                return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
            return None

        def create_module(self, spec: Any) -> Any:
            return Stub(spec.name)

        def exec_module(self, module: Any) -> None:
            pass

    if chosen:
        for name in list(sys.modules):
            if name.split(".")[0] in chosen:
                del sys.modules[name]
        sys.meta_path.insert(0, Finder())
        if "tensorboard" in chosen:  # torch's wrapper checks tensorboard's version on import
            sys.modules["torch.utils.tensorboard"] = Stub("torch.utils.tensorboard")
    STUBBED[:] = sorted(chosen)
    return STUBBED


if os.environ.get("MODNET_BENCH_STUB_MISSING") == "1" or "--stub-missing" in sys.argv:
    stub_missing(always="--stub-always" in sys.argv)

import torch  # noqa: E402

import examples.train as train_module  # noqa: E402
from examples.settings import resolve_schedule  # noqa: E402
from modnet_metaworld.eval_worker import EvaluationWorker  # noqa: E402
from modnet_sb3 import MTSAC, TaskBalancedReplayBuffer  # noqa: E402

CATEGORIES = ("env", "predict", "replay_add", "replay_sample", "update", "evaluation", "rest")

# The paper's runs (examples/settings.py, paper preset): env steps, tasks, evaluations,
# evaluation env steps of one evaluation (every column runs 3 episodes of its benchmark's
# longest horizon: 150 on MT10, 200 on MT50).
PAPER_RUNS = {
    "MT10": {
        "env_steps": 15_000_000,
        "tasks": 10,
        "evaluations": 7_500,
        "eval_steps": 10 * 3 * 150,
    },
    "MT50": {
        "env_steps": 50_000_000,
        "tasks": 50,
        "evaluations": 5_000,
        "eval_steps": 50 * 3 * 200,
    },
}
BATCH_PER_TASK = 128  # the paper's batch: 128 transitions of every task


class Timers:
    """Exclusive wall and CPU time per category; nothing inside ``evaluation`` is counted apart.

    CPU time is this process's (``time.process_time``, all its threads): on a loaded
    machine it stays near what the work costs on an idle core, where wall time stretches;
    env workers' own CPU time is not in it.
    """

    def __init__(self) -> None:
        self.total = dict.fromkeys(CATEGORIES, 0.0)
        self.cpu = dict.fromkeys(CATEGORIES, 0.0)
        self.calls = dict.fromkeys(CATEGORIES, 0)
        # [category, wall start, wall of timed children, cpu start, cpu of timed children]
        self._stack: list[list[Any]] = []

    @contextlib.contextmanager
    def time(self, category: str) -> Iterator[None]:
        if self._stack and self._stack[-1][0] == "evaluation":
            yield
            return
        frame = [category, time.perf_counter(), 0.0, time.process_time(), 0.0]
        self._stack.append(frame)
        try:
            yield
        finally:
            self._stack.pop()
            elapsed = time.perf_counter() - frame[1]
            cpu = time.process_time() - frame[3]
            self.total[category] += elapsed - frame[2]
            self.cpu[category] += cpu - frame[4]
            self.calls[category] += 1
            if self._stack:
                self._stack[-1][2] += elapsed
                self._stack[-1][4] += cpu

    def snapshot(self) -> dict[str, float]:
        return {**self.total, **{f"cpu:{k}": v for k, v in self.cpu.items()}}


def timed(timers: Timers, category: str, function: Callable) -> Callable:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with timers.time(category):
            return function(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


class Probe:
    """The wrappers around the loop and what they measured."""

    def __init__(self) -> None:
        self.timers = Timers()
        self.window_start: tuple[float, dict[str, float], int, int] | None = None
        self.window_end: tuple[float, dict[str, float], int, int] | None = None
        self.evaluations: list[float] = []  # seconds of each evaluation
        self.evaluations_cpu: list[float] = []
        self.worker_evaluations: list[float] = []  # --eval-worker: the worker's seconds of each
        self.submitted: list[int] = []  # --eval-worker: env steps of each snapshot handed over
        self.num_envs = 0
        self.model: MTSAC | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        timers = self.timers
        build_env, evaluate = train_module.build_env, train_module.evaluate
        train, learn = MTSAC.train, MTSAC.learn
        built: list[Any] = []

        def build_env_timed(*args: Any, **kwargs: Any) -> Any:
            env = build_env(*args, **kwargs)
            if not built:  # the first one is the training env; the second evaluates
                env.step = timed(timers, "env", env.step)
                self.num_envs = env.num_envs
            built.append(env)
            return env

        def evaluate_timed(*args: Any, **kwargs: Any) -> Any:
            start, cpu = time.perf_counter(), time.process_time()
            with timers.time("evaluation"):
                result = evaluate(*args, **kwargs)
            self.evaluations.append(time.perf_counter() - start)
            self.evaluations_cpu.append(time.process_time() - cpu)
            return result

        def train_timed(model: MTSAC, gradient_steps: int, batch_size: int = 64) -> None:
            if self.window_start is None:
                self.window_start = self._mark(model)
            with timers.time("update"):
                train(model, gradient_steps, batch_size)

        submit, finished = EvaluationWorker.submit, EvaluationWorker.finished

        def submit_timed(worker: EvaluationWorker, *args: Any, **kwargs: Any) -> None:
            with timers.time("evaluation"):
                submit(worker, *args, **kwargs)
            self.submitted.append(kwargs["env_steps"])

        def finished_timed(worker: EvaluationWorker, *args: Any, **kwargs: Any) -> Any:
            with timers.time("evaluation"):
                done = finished(worker, *args, **kwargs)
            self.worker_evaluations.extend(result.seconds for result in done)
            return done

        def learn_timed(model: MTSAC, *args: Any, **kwargs: Any) -> Any:
            self.model = model
            result = learn(model, *args, **kwargs)
            self.window_end = self._mark(model)
            return result

        with contextlib.ExitStack() as stack:
            stack.enter_context(patched(train_module, "build_env", build_env_timed))
            stack.enter_context(patched(train_module, "evaluate", evaluate_timed))
            # Plots and the table come after the window and take seconds: not written.
            stack.enter_context(patched(train_module, "write_reports", lambda *a, **k: None))
            if STUBBED:  # no TensorBoard, no statistics for the summary
                stack.enter_context(patched(train_module, "make_logger", csv_logger))
                stack.enter_context(patched(train_module, "run_summary", lambda *a, **k: ""))
                # --eval-worker: the worker imports examples.train too, with the same stand-ins.
                stubbed_env = functools.partial(stubbed_worker_eval_env, list(STUBBED))
                stack.enter_context(patched(train_module, "worker_eval_env", stubbed_env))
            stack.enter_context(patched(MTSAC, "train", train_timed))
            stack.enter_context(patched(EvaluationWorker, "submit", submit_timed))
            stack.enter_context(patched(EvaluationWorker, "finished", finished_timed))
            stack.enter_context(patched(MTSAC, "learn", learn_timed))
            stack.enter_context(
                patched(MTSAC, "predict", _method_timed(timers, "predict", MTSAC.predict))
            )
            for name, category in (("add", "replay_add"), ("sample", "replay_sample")):
                original = getattr(TaskBalancedReplayBuffer, name)
                stack.enter_context(
                    patched(
                        TaskBalancedReplayBuffer, name, _method_timed(timers, category, original)
                    )
                )
            yield

    def _mark(self, model: MTSAC) -> tuple[float, dict[str, float], int, int]:
        snapshot = {**self.timers.snapshot(), "cpu:window": time.process_time()}
        return time.perf_counter(), snapshot, model.num_timesteps, model._n_updates


def stubbed_worker_eval_env(stubbed: list[str], *args: Any) -> Any:
    """``examples.train.worker_eval_env`` in the evaluation worker, after the stand-ins of
    ``stubbed`` are installed there (pickled by value when this file runs as a script)."""
    stub_missing(stubbed, always=True)
    import examples.train

    return examples.train.worker_eval_env(*args)


def csv_logger(run: Any, **_: Any) -> Any:
    """SB3's logger writing the CSV only (TensorBoard is stubbed)."""
    from stable_baselines3.common.logger import Logger, make_output_format

    folder = str(run.tensorboard)
    return Logger(folder, [make_output_format("csv", folder)])


def _method_timed(timers: Timers, category: str, function: Callable) -> Callable:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        with timers.time(category):
            return function(self, *args, **kwargs)

    return method


def machine() -> dict[str, Any]:
    device = "cpu"
    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    return {
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "torch_threads": torch.get_num_threads(),
        "cuda": device,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "processor": platform.processor() or platform.machine(),
    }


def report_of(probe: Probe, settings: Any, schedule: Any, load_before: list[float]) -> dict:
    if probe.window_start is None or probe.window_end is None:
        raise RuntimeError(
            "bench_training: no update happened (the run ended in its warm-up): "
            "raise --steps or lower --warmup-steps"
        )
    t0, before, steps0, updates0 = probe.window_start
    t1, after, steps1, updates1 = probe.window_end
    wall = t1 - t0
    seconds = {name: after[name] - before[name] for name in CATEGORIES if name != "rest"}
    seconds["rest"] = wall - sum(seconds.values())
    cpu_wall = after["cpu:window"] - before["cpu:window"]
    cpu = {
        name: after[f"cpu:{name}"] - before[f"cpu:{name}"] for name in CATEGORIES if name != "rest"
    }
    cpu["rest"] = cpu_wall - sum(cpu.values())
    env_steps = steps1 - steps0
    updates = updates1 - updates0
    tasks = probe.num_envs
    horizon = max(schedule.episode_length.values())
    eval_steps = tasks * schedule.eval_episodes * horizon  # every column plays to the end
    per_update = (seconds["update"] + seconds["replay_sample"]) / max(updates, 1)
    per_eval = sum(probe.evaluations) / len(probe.evaluations) if probe.evaluations else None
    eval_worker = bool(getattr(settings, "eval_worker", False))
    # With the worker, what an evaluation costs the training process: its time handing
    # over snapshots and reading (or waiting for) results in the window, per snapshot
    # handed over in the window (the final evaluation, after the window, waits for a
    # whole evaluation: a run pays that once).
    in_window = [s for s in probe.submitted if steps0 < s <= steps1]
    if eval_worker:
        per_eval = seconds["evaluation"] / len(in_window) if in_window else None
    # Collection: everything in the window but the updates (with their sampling) and evaluation.
    collection = wall - seconds["update"] - seconds["replay_sample"] - seconds["evaluation"]
    per_env_step = collection / max(env_steps, 1)
    cpu_per_update = (cpu["update"] + cpu["replay_sample"]) / max(updates, 1)
    cpu_collection = cpu_wall - cpu["update"] - cpu["replay_sample"] - cpu["evaluation"]
    cpu_per_eval = (
        sum(probe.evaluations_cpu) / len(probe.evaluations_cpu) if probe.evaluations_cpu else None
    )
    if eval_worker:
        cpu_per_eval = cpu["evaluation"] / len(in_window) if in_window else None
    loop_rate = env_steps / wall
    # What the update alone allows: one update per VecEnv step, i.e. per `tasks` env steps.
    update_bound_rate = tasks / per_update if updates else None
    report: dict[str, Any] = {
        "machine": {**machine(), "load_average_before": load_before},
        "settings": {
            "benchmark": settings.benchmark,
            "mode": settings.mode,
            "method": settings.method,
            "preset": settings.preset,
            "tasks": tasks,
            "batch_size": schedule.batch_size,
            "threads": settings.threads,
            "device": str(probe.model.device) if probe.model is not None else settings.device,
            "env_workers": getattr(settings, "env_workers", 1),
            "compile": getattr(settings, "compile", False),
            "eval_worker": eval_worker,
            "warmup_steps": schedule.warmup_steps,
            "stubbed": list(STUBBED),
            "eval_freq": schedule.eval_freq,
            "eval_episodes": schedule.eval_episodes,
        },
        "window": {"wall_s": wall, "env_steps": env_steps, "updates": updates},
        "rates": {
            "env_steps_per_s": loop_rate,
            "updates_per_s": updates / wall,
            "update_bound_env_steps_per_s": update_bound_rate,
            "loop_vs_update_bound": loop_rate / update_bound_rate if update_bound_rate else None,
        },
        "seconds": seconds,
        "shares": {name: value / wall for name, value in seconds.items()},
        "cpu_seconds": {**cpu, "window": cpu_wall},
        "cpu_shares": {name: value / cpu_wall for name, value in cpu.items()},
        "costs": {
            "collection_s_per_env_step": per_env_step,
            "update_s": per_update,
            "evaluation_s": per_eval,
            "evaluation_env_steps": eval_steps,
            "evaluations_timed": len(probe.evaluations) if not eval_worker else len(in_window),
            "evaluations_in_window": len(in_window) if eval_worker else None,
            "worker_evaluation_s": (
                sum(probe.worker_evaluations) / len(probe.worker_evaluations)
                if probe.worker_evaluations
                else None
            ),
        },
    }
    report["projection"] = project(
        settings.benchmark,
        tasks,
        schedule.batch_size,
        per_env_step,
        per_update,
        per_eval,
        eval_steps,
    )
    # The same from this process's CPU time: what the run would take on idle cores (exact
    # with --env-workers 1 and --threads 1, where every cost is this process's one thread).
    report["projection_cpu"] = project(
        settings.benchmark,
        tasks,
        schedule.batch_size,
        cpu_collection / max(env_steps, 1),
        cpu_per_update,
        cpu_per_eval,
        eval_steps,
    )
    return report


def project(
    benchmark: str,
    tasks: int,
    batch_size: int,
    per_env_step: float,
    per_update: float,
    per_eval: float | None,
    eval_steps: int,
) -> dict[str, dict[str, Any]]:
    """Projected hours of the paper runs from the measured costs (one process, serial)."""
    per_eval_step = per_eval / eval_steps if per_eval is not None else None
    out = {}
    for name, run in PAPER_RUNS.items():
        exact = name == benchmark and tasks == run["tasks"]
        batch = BATCH_PER_TASK * run["tasks"]
        update_s = per_update * batch / batch_size  # = per_update when measured at that batch
        updates = run["env_steps"] // run["tasks"]
        parts = {
            "collection_h": run["env_steps"] * per_env_step / 3600,
            "updates_h": updates * update_s / 3600,
            "evaluation_h": (
                run["evaluations"] * run["eval_steps"] * per_eval_step / 3600
                if per_eval_step is not None
                else None
            ),
        }
        total = sum(v for v in parts.values() if v is not None)
        out[name] = {
            **parts,
            "total_h": total,
            "update_only_h": parts["updates_h"],
            "update_share": parts["updates_h"] / total if total else None,
            "updates": updates,
            "basis": "measured on this benchmark and batch"
            if exact and batch == batch_size
            else f"scaled from {tasks} tasks at batch {batch_size} (update time x batch ratio "
            f"{batch / batch_size:.2f}; collection and evaluation per env step as measured)",
        }
    return out


def format_report(report: dict) -> str:
    m, s, w, r = report["machine"], report["settings"], report["window"], report["rates"]
    lines = [
        f"machine: {m['cores']} cores, load average {m['load_average_before']} before / "
        f"{m['load_average']} after, torch {m['torch']} with {m['torch_threads']} threads, "
        f"{m['cuda']}, python {m['python']}",
        "settings: " + ", ".join(f"{k}={v}" for k, v in s.items()),
        f"window: {w['env_steps']:,} env steps and {w['updates']:,} updates in {w['wall_s']:.1f} s "
        "(after the warm-up)",
        f"env steps/s {r['env_steps_per_s']:.1f}; updates/s {r['updates_per_s']:.2f}",
    ]
    if r["update_bound_env_steps_per_s"]:
        lines.append(
            f"the update alone allows {r['update_bound_env_steps_per_s']:.1f} env steps/s: "
            f"loop / update bound = {r['loop_vs_update_bound']:.3f} (target >= 0.9)"
        )
    lines.append("share of wall time in the window:")
    for name, share in report["shares"].items():
        lines.append(f"  {name:<14} {share:7.1%}  {report['seconds'][name]:9.2f} s")
    c = report["costs"]
    if c["evaluation_s"] is not None:
        eval_line = (
            f"{c['evaluation_s']:.2f} s per evaluation of {c['evaluation_env_steps']:,} env "
            f"steps ({c['evaluations_timed']} timed)"
        )
    else:
        eval_line = "no evaluation in the window" if s["eval_worker"] else "no evaluation ran"
    if s["eval_worker"]:
        worker_s = c["worker_evaluation_s"]
        each = f"{worker_s:.2f} s each there" if worker_s is not None else "none finished"
        eval_line = f"evaluation in the worker process: {eval_line} in this process, {each}"
    lines.append(
        f"costs: collection {1e3 * c['collection_s_per_env_step']:.3f} ms per env step, "
        f"update {1e3 * c['update_s']:.1f} ms, {eval_line}"
    )
    cs = report["cpu_shares"]
    lines.append(
        f"CPU time of this process in the window: {report['cpu_seconds']['window']:.1f} s; shares "
        + ", ".join(f"{name} {share:.1%}" for name, share in cs.items())
    )
    if s["eval_worker"]:
        lines.append(
            "with --eval-worker the projections count what evaluation costs this process (the "
            "worker's own time overlaps the training, on a core of its own)"
        )
    for title, key in (
        ("projected paper runs from wall time (as measured, this load; hours):", "projection"),
        (
            "projected paper runs from this process's CPU time (idle cores; hours):",
            "projection_cpu",
        ),
    ):
        lines.append(title)
        lines.extend(projection_lines(report[key]))
    return "\n".join(lines)


def projection_lines(projection: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for name, p in projection.items():
        evaluation = f"{p['evaluation_h']:.1f}" if p["evaluation_h"] is not None else "?"
        lines.append(
            f"  {name}: {p['total_h']:.1f} h = collection {p['collection_h']:.1f} + "
            f"{p['updates']:,} updates {p['updates_h']:.1f} + evaluation {evaluation} "
            f"(update share {p['update_share']:.1%}; {p['basis']})"
        )
    return lines


BENCH_DEFAULTS = {
    "preset": "paper",
    "warmup_steps": 1_000,
    "progress_bar": False,
    "save_replay_buffer": False,
}


def build_settings(argv: Sequence[str], steps: int) -> Any:
    """``TrainSettings`` from ``examples.train``'s flags with the benchmark's defaults."""
    namespace = train_module.build_parser().parse_args(list(argv))
    if namespace.resume is not None:
        raise SystemExit("bench_training: --resume is not supported")
    values = train_module.namespace_to_values(namespace, train_module.TrainSettings)
    values = {**BENCH_DEFAULTS, **values}
    settings = train_module.validate_settings(values)
    warmup = resolve_schedule(settings).warmup_steps
    # total = warm-up + the measured steps; no checkpoint inside the window.
    total = warmup + steps
    return train_module.validate_settings(
        {**values, "total_steps": total, "checkpoint_freq": values.get("checkpoint_freq", total)}
    )


def run(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/bench_training.py",
        description="Time the whole training loop of examples.train and project the paper "
        "runs. Any other option is examples.train's (python -m examples.train --help).",
    )
    parser.add_argument(
        "--steps", type=int, default=2_000, help="env steps to time after the warm-up"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    parser.add_argument(
        "--stub-missing",
        action="store_true",
        help=f"stand-ins for the missing ones of {', '.join(OPTIONAL)} (read at start-up)",
    )
    parser.add_argument(
        "--stub-always", action="store_true", help="with --stub-missing: stub them all (tests)"
    )
    own, rest = parser.parse_known_args(argv)
    settings = build_settings(rest, own.steps)
    schedule = resolve_schedule(settings)
    probe = Probe()
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="bench_training_") as folder:
        if settings.run_dir is None:
            settings = settings.model_copy(update={"run_dir": Path(folder) / "run"})
        with probe.installed(), contextlib.redirect_stdout(sys.stderr):
            train_module.train(settings)  # its end-of-run summary goes to stderr
    report = report_of(probe, settings, schedule, load_before)
    if own.json is not None:
        own.json.write_text(json.dumps(report, indent=2))
    return report


def main(argv: Sequence[str] | None = None) -> int:
    report = run(argv)
    print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
