"""How long a run has been running, over all its sessions (a fresh start and each resume)."""

from __future__ import annotations

import time

__all__ = ["RunClock"]


class RunClock:
    """Seconds since the run started: ``already`` plus this session's time.

    A resumed run sets ``already`` to the time its checkpoint had taken, so
    ``eval.csv``'s ``elapsed_s`` goes on from there; the time spent past that
    checkpoint by the session that was killed is not counted (its rows are dropped).
    """

    def __init__(self, already: float = 0.0) -> None:
        self.already = already
        self._start = time.monotonic()

    def session(self) -> float:
        """Seconds since this session started."""
        return time.monotonic() - self._start

    def __call__(self) -> float:
        return self.already + self.session()
