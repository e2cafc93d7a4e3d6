"""The two progress bars of a run (tqdm): training, with the latest evaluation, and evaluation.

Both bars go to stderr and show only on a terminal (``disable=None`` is tqdm's "off
when the stream is not a TTY"), so a log file or a captured run gets no carriage
returns or cursor moves. Without a bar, each evaluation prints one line instead.
SB3's own ``progress_bar=True`` is not used: it draws a rich bar, which does not
nest with tqdm's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from tqdm.auto import tqdm

from examples.common.eval_log import EvalRow

__all__ = ["CountingPredictor", "TrainProgress", "describe_row"]


def describe_row(row: EvalRow) -> str:
    """``"success 45% (reach-v3 100%, push-v3 0%)"``: the mean, then each task (up to 10)."""
    text = f"success {100 * row.mean_success:.0f}%"
    if len(row.success) <= 10:
        tasks = ", ".join(f"{name} {100 * value:.0f}%" for name, value in row.success.items())
        text += f" ({tasks})"
    return text


class TrainProgress(BaseCallback):
    """One bar over env steps, all tasks together; its postfix is the latest evaluation.

    ``latest()`` returns the newest ``EvalRow`` (None before the first). Place this
    callback after the evaluation callback, so a row shows in the step it was taken.
    """

    def __init__(
        self, total_steps: int, latest: Callable[[], EvalRow | None], *, enabled: bool
    ) -> None:
        super().__init__()
        self.total_steps = total_steps
        self.latest = latest
        self.enabled = enabled
        self._shown: EvalRow | None = None
        self.bar: Any = None

    def _on_training_start(self) -> None:
        self.bar = tqdm(
            total=self.total_steps,
            initial=self.num_timesteps,  # a resumed run starts where its checkpoint was
            desc="train",
            unit="step",
            unit_scale=self.total_steps >= 100_000,  # 15.0M, but 300 not 300.0
            dynamic_ncols=True,
            disable=None if self.enabled else True,
        )

    def _on_step(self) -> bool:
        self.bar.update(self.num_timesteps - self.bar.n)
        row = self.latest()
        if row is not None and row is not self._shown:
            self._shown = row
            if self.bar.disable:
                print(f"eval at {row.env_steps:,} env steps: {describe_row(row)}", flush=True)
            else:
                self.bar.set_postfix_str(f"last eval {100 * row.mean_success:.0f}% success")
        return True

    def _on_training_end(self) -> None:
        self._on_step()  # the evaluation of the last step comes after it (after its update)
        self.bar.close()


class CountingPredictor:
    """A model whose ``predict`` also advances a bar: one VecEnv step per call.

    ``evaluate`` (``modnet_metaworld``) runs every column until each has played its
    episodes, with no early end under the paper's protocol, so it takes exactly
    ``episodes x longest horizon`` calls.
    """

    def __init__(self, model: Any, *, total: int, desc: str, enabled: bool) -> None:
        self.model = model
        # leave=False: the bar disappears when the evaluation ends; the training bar's
        # postfix then shows the result.
        self.bar = tqdm(
            total=total,
            desc=desc,
            unit="step",
            leave=False,
            dynamic_ncols=True,
            disable=None if enabled else True,
        )

    def predict(self, observation: np.ndarray, **kwargs: Any) -> tuple[np.ndarray, Any]:
        self.bar.update(1)
        return self.model.predict(observation, **kwargs)

    def close(self) -> None:
        self.bar.close()
