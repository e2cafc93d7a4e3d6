"""Sweep seeds x methods x benchmarks x modes with submitit: local processes or SLURM jobs.

    # here: two methods, three seeds, one process per run, at most 2 at a time
    python -m examples.sweep --methods soft-shallow mt-sac --seeds 0 1 2 --out runs/sweep --max-parallel 2

    # on a SLURM cluster: the paper's schedule, one GPU per run
    python -m examples.sweep --cluster slurm --preset paper --benchmarks MT10 MT50 \\
        --methods soft-shallow soft-deep mt-sac mt-mh-sac moe hard-routing mlp-matched \\
        --seeds 0 1 2 --device cuda --gpus-per-node 1 --cpus-per-task 8 --mem-gb 64 \\
        --timeout-min 4320 --slurm-partition gpu --out runs/paper

Each run is ``examples.train`` in the folder ``OUT/<benchmark>-<mode>-<method>-s<seed>``.
Every setting is validated before anything is submitted. A job that finds its folder
already holds a run resumes it from its last checkpoint, so re-running the sweep (or
SLURM requeueing a pre-empted job, see ``TrainJob.checkpoint``) continues where it
stopped; a run killed before its first checkpoint is moved aside and started over
(``resumable``). When the jobs are done, the runs are aggregated into ``OUT/report``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import submitit

from examples.aggregate import aggregate
from examples.common.cli import field_choices
from examples.common.run_dir import RunDir
from examples.settings import TrainSettings, resolve_schedule, validate_settings
from modnet.errors import ConfigError

__all__ = ["TrainJob", "main", "resumable", "sweep_settings"]

REPO_ROOT = Path(__file__).resolve().parent.parent


class TrainJob(submitit.helpers.Checkpointable):
    """One run of ``examples.train``; resumes its folder if it already holds a run.

    As a ``Checkpointable``, a job SLURM pre-empts or times out is requeued with the
    same arguments, and the requeued job resumes from the run's last checkpoint.
    """

    def __call__(self, values: dict[str, Any]) -> str:
        from examples.train import train  # imported in the job's process

        settings = validate_settings(values)
        return str(train(settings, resume=resumable(Path(values["run_dir"]))))


def resumable(run_dir: Path) -> Path | None:
    """``run_dir`` if the job should resume it, else None (the job starts the run afresh).

    A folder holding a run with checkpoint files is resumed (``--resume`` checks and
    reports what it finds). A folder whose run was killed before its first checkpoint
    (``settings.json`` but no checkpoint file) has nothing to resume: it is renamed
    ``<name>.unfinished-<n>`` and the run starts over, as a requeued job should.
    """
    run = RunDir(run_dir)
    if not run.settings_json.exists():
        return None
    if run.checkpoints.is_dir() and any(run.checkpoints.iterdir()):
        return run_dir
    n = 1
    while (aside := run_dir.with_name(f"{run_dir.name}.unfinished-{n}")).exists():
        n += 1
    run_dir.rename(aside)
    print(f"{run_dir} stopped before its first checkpoint: moved to {aside}, starting over")
    return None


def sweep_settings(
    *,
    benchmarks: Sequence[str],
    modes: Sequence[str],
    methods: Sequence[str],
    seeds: Sequence[int],
    out: Path,
    overrides: dict[str, Any],
) -> list[TrainSettings]:
    """Every combination as validated settings (raises ConfigError before any job starts)."""
    from examples.train import check_schedule, check_tasks

    runs = []
    for benchmark, mode, method, seed in itertools.product(benchmarks, modes, methods, seeds):
        values = {
            **overrides,
            "benchmark": benchmark,
            "mode": mode,
            "method": method,
            "seed": seed,
            "progress_bar": False,
            "run_dir": str(out / f"{benchmark}-{mode}-{method}-s{seed}"),
        }
        settings = validate_settings(values)
        check_tasks(settings)
        check_schedule(resolve_schedule(settings), settings.num_tasks)
        runs.append(settings)
    return runs


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``["total_steps=600", "tasks=reach-v3,push-v3"]`` -> a dict for TrainSettings."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in TrainSettings.model_fields:
            raise ConfigError(
                f"--set: each item must be KEY=VALUE with KEY a training setting "
                f"({', '.join(TrainSettings.model_fields)}), got {pair!r}"
            )
        values[key] = tuple(value.split(",")) if key == "tasks" else value
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m examples.sweep",
        description="Run examples.train over seeds x methods x benchmarks x modes with submitit.",
    )
    # Allowed values and single defaults are TrainSettings' own, so both commands agree.
    defaults = {name: field.default for name, field in TrainSettings.model_fields.items()}
    for field in ("benchmark", "mode"):  # --benchmarks, --modes: the setting's default alone
        parser.add_argument(
            f"--{field}s",
            nargs="+",
            default=[defaults[field]],
            choices=field_choices(TrainSettings, field),
            help=f"(default: {defaults[field]})",
        )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["soft-shallow", "mt-sac"],
        choices=field_choices(TrainSettings, "method"),
        help="(default: soft-shallow mt-sac)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="(default: 0 1 2)")
    parser.add_argument(
        "--preset",
        choices=field_choices(TrainSettings, "preset"),
        default=defaults["preset"],
        help=f"Schedule of every run (default: {defaults['preset']}).",
    )
    parser.add_argument(
        "--device",
        choices=field_choices(TrainSettings, "device"),
        default=defaults["device"],
        help="Torch device of every run.",
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="Other training settings for every run, e.g. total_steps=600 tasks=reach-v3,push-v3.",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="Sweep folder.")
    parser.add_argument(
        "--cluster",
        choices=["local", "slurm", "debug"],
        default="local",
        help="submitit back-end: local processes, SLURM jobs, or in-process (debug).",
    )
    parser.add_argument(
        "--max-parallel",
        type=int,
        default=1,
        help="Runs at the same time (local: waves; SLURM: array parallelism) (default: 1).",
    )
    parser.add_argument(
        "--timeout-min",
        type=int,
        default=24 * 60,
        help="Time limit of each job in minutes (default: 1440).",
    )
    parser.add_argument("--cpus-per-task", type=int, default=2, help="CPUs per job (default: 2).")
    parser.add_argument("--gpus-per-node", type=int, default=0, help="GPUs per job (default: 0).")
    parser.add_argument(
        "--mem-gb", type=int, default=16, help="Memory per job in GB (default: 16)."
    )
    parser.add_argument(
        "--slurm-partition", default=None, help="SLURM partition (default: the cluster's)."
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="Submit and exit (aggregate later with examples.aggregate).",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        overrides = {**parse_overrides(args.set), "preset": args.preset, "device": args.device}
        runs = sweep_settings(
            benchmarks=args.benchmarks,
            modes=args.modes,
            methods=args.methods,
            seeds=args.seeds,
            out=args.out,
            overrides=overrides,
        )
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    # Jobs unpickle TrainJob from `examples`, which lives in the repository, not site-packages.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    executor = submitit.AutoExecutor(folder=args.out / "submitit", cluster=args.cluster)
    executor.update_parameters(
        name="modnet-train",
        timeout_min=args.timeout_min,
        cpus_per_task=args.cpus_per_task,
        gpus_per_node=args.gpus_per_node,
        mem_gb=args.mem_gb,
        slurm_array_parallelism=args.max_parallel,
        **({"slurm_partition": args.slurm_partition} if args.slurm_partition else {}),
    )
    values = [settings.model_dump(mode="json") for settings in runs]
    # SLURM throttles the array itself; locally, waves of max_parallel processes.
    wave = len(values) if args.cluster == "slurm" else max(1, args.max_parallel)
    failures = 0
    for start in range(0, len(values), wave):
        jobs = executor.map_array(TrainJob(), values[start : start + wave])
        for job in jobs:
            print(f"submitted job {job.job_id}")
        if args.no_wait:
            continue
        for job, run in zip(jobs, values[start : start + wave], strict=True):
            try:
                print(f"done: {job.result()}")
            except Exception as error:  # noqa: BLE001 - report every failed run, then go on
                failures += 1
                print(f"failed: {run['run_dir']}: {error}", file=sys.stderr)
    if args.no_wait:
        print(f"jobs submitted; logs in {args.out / 'submitit'}")
        return 0
    aggregate([args.out], args.out / "report")
    print((args.out / "report" / "table.md").read_text())
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
