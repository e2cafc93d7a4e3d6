"""TensorBoard output for SB3's logger that hides, on resume, what the killed session wrote.

A resumed run replays the steps after its checkpoint; the events the previous session
wrote for those steps are still in its event file, so TensorBoard would draw two points
per step. TensorBoard's ``purge_step`` (``SummaryWriter(purge_step=S + 1)``) writes a
``SessionLog.START`` event that makes TensorBoard drop every earlier event at a step
of ``S + 1`` or later, across the folder's event files.
"""

from __future__ import annotations

from stable_baselines3.common.logger import TensorBoardOutputFormat
from torch.utils.tensorboard import SummaryWriter

__all__ = ["ResumedTensorBoard"]


class ResumedTensorBoard(TensorBoardOutputFormat):
    """SB3's TensorBoard output; events of steps after ``resumed_at`` from older sessions are purged."""

    def __init__(self, folder: str, *, resumed_at: int) -> None:
        # Not super().__init__: it would open a writer without purge_step.
        self.writer = SummaryWriter(log_dir=folder, purge_step=resumed_at + 1)
        self._is_closed = False
