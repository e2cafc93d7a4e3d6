"""The folder of one run: where each artefact lives, the settings record, package versions.

Layout::

    RUN_DIR/
      settings.json        resolved settings, schedule, method details, package versions
      eval.csv             mean and per-task success and return vs env steps (append-only)
      tb/                  TensorBoard events and SB3's progress_<session>.csv
      checkpoints/         latest.json -> model_<steps>.zip, state_<steps>.pkl
                           (+ replay_buffer_<steps>.pkl)
      final_model.zip      the trained model (SB3 zip, optimisers included)
      plots/               success.png, routing_heatmaps.png, routing_embedding.png
      table.md             final success beside the paper's Table 1
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from examples.common.atomic import RunFolderError, atomic_write_text, remove_stale_tmp

__all__ = ["KEY_PACKAGES", "RunDir", "package_versions"]

KEY_PACKAGES = (
    "modnet-rl",  # the distribution's name; PyPI's "modnet" is another project
    "torch",
    "stable-baselines3",
    "metaworld",
    "mujoco",
    "gymnasium",
    "numpy",
)


def package_versions() -> dict[str, str]:
    """Versions of the packages a result depends on (and Python's)."""
    versions = {"python": platform.python_version()}
    for name in KEY_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass(frozen=True)
class RunDir:
    """Paths of one run's artefacts under ``root``."""

    root: Path

    @property
    def settings_json(self) -> Path:
        return self.root / "settings.json"

    @property
    def eval_csv(self) -> Path:
        return self.root / "eval.csv"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tb"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def final_model(self) -> Path:
        return self.root / "final_model.zip"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def table(self) -> Path:
        return self.root / "table.md"

    def create(self) -> list[Path]:
        """Make the folders; remove temporary files a killed session left (returns them)."""
        removed = []
        for folder in (self.root, self.tensorboard, self.checkpoints, self.plots):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                # Checked now, before envs and models are built, not at the first write.
                probe = folder / f".write-check-{os.getpid()}.tmp"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as error:
                raise RunFolderError(
                    f"{folder}: cannot be written ({error.strerror or error}). Make it "
                    "writable, or choose another folder with --run-dir."
                ) from error
            removed += remove_stale_tmp(folder)
        return removed

    def write_record(self, record: dict[str, Any]) -> None:
        """Write settings.json (atomically), stamped with the time and package versions."""
        stamped = {
            **record,
            "versions": package_versions(),
            "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        atomic_write_text(self.settings_json, json.dumps(stamped, indent=2, default=str) + "\n")

    def read_record(self) -> dict[str, Any]:
        """settings.json as a dict.

        Raises:
            RunFolderError: it is missing or damaged (the message names it).
        """
        try:
            record = json.loads(self.settings_json.read_text())
        except FileNotFoundError as error:
            raise RunFolderError(
                f"{self.settings_json}: missing; {self.root} is not a run folder"
            ) from error
        except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
            raise RunFolderError(
                f"{self.settings_json}: damaged, not JSON ({type(error).__name__}: {error}). "
                "It records the run's settings; restore it from a copy (a sweep's folder "
                "holds the settings of each run in its name and in the sweep command)."
            ) from error
        if not isinstance(record, dict) or "settings" not in record:
            raise RunFolderError(f"{self.settings_json}: not a run record (no 'settings')")
        return record

    def next_session(self) -> int:
        """1 for a fresh run, 2 for its first resume...: names SB3's per-session CSV log."""
        return len(list(self.tensorboard.glob("progress_*.csv"))) + 1
