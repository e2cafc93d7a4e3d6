"""Aggregate run folders into one comparison table and one figure.

    python -m examples.aggregate runs/MT10-fixed-soft-shallow-s0 runs/MT10-fixed-mt-sac-s0 --out report/
    python -m examples.aggregate runs/sweep --out report/      # every run folder below runs/sweep

Runs are grouped by (benchmark, mode, method); seeds of a group are pooled. ``--out``
receives ``table.md`` (mean and IQM of final success with 95% bootstrap CIs, beside
the paper's Table 1), ``success.png`` (curves, band = range across seeds) and
``runs.csv`` (one line per run: its final success, for further analysis).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

from examples.common.atomic import atomic_write_text
from examples.common.plots import plot_success_curves
from examples.common.results import RunResult, load_run
from examples.common.tables import success_table

__all__ = ["aggregate", "find_run_dirs", "main"]


def find_run_dirs(paths: Sequence[Path]) -> list[Path]:
    """Each path if it is a run folder (holds settings.json), else the run folders below it."""
    found: list[Path] = []
    for path in paths:
        if (path / "settings.json").exists():
            found.append(path)
        else:
            found.extend(sorted(p.parent for p in path.rglob("settings.json")))
    return list(dict.fromkeys(found))


def aggregate(paths: Sequence[Path], out: Path, *, reps: int = 2000) -> list[RunResult]:
    """Write table.md, success.png and runs.csv for the runs under ``paths`` into ``out``."""
    run_dirs = find_run_dirs(paths)
    runs = []
    for run_dir in run_dirs:
        if not (run_dir / "eval.csv").exists():
            print(f"skipped {run_dir}: no evaluation yet", file=sys.stderr)
            continue
        runs.append(load_run(run_dir))
    if not runs:
        raise FileNotFoundError(
            f"aggregate: paths must hold run folders with evaluations, got none in {list(map(str, paths))}"
        )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "table.md", success_table(runs, reps=reps))
    plot_success_curves(runs, out / "success.png")
    with open(out / "runs.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["run", "benchmark", "mode", "method", "seed", "env_steps", "final_success"]
        )
        for run in runs:
            writer.writerow(
                [
                    str(run.root),
                    run.benchmark,
                    run.mode,
                    run.method,
                    run.seed,
                    int(run.env_steps[-1]),
                    f"{run.final_success.mean():.6g}",
                ]
            )
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m examples.aggregate",
        description="Aggregate run folders of examples.train into one table and figure.",
    )
    parser.add_argument(
        "runs",
        nargs="+",
        type=Path,
        metavar="RUN_DIR",
        help="Run folders, or folders holding them.",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="Output folder.")
    parser.add_argument(
        "--reps", type=int, default=2000, help="Bootstrap resamples for the CIs (default: 2000)."
    )
    args = parser.parse_args(argv)
    try:
        runs = aggregate(args.runs, args.out, reps=args.reps)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print((args.out / "table.md").read_text())
    print(f"{len(runs)} runs -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
