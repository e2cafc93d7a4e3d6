"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never half.

The bytes go to a temporary file ``.<name>.<random>.tmp`` in the same folder, are
flushed and fsync'ed, then ``os.replace`` swaps the name (atomic on POSIX within one
file system), and the folder is fsync'ed so the rename itself survives a crash. A
process killed mid-write leaves such a temporary file behind; ``remove_stale_tmp``
clears them when the next session starts.

The file gets the permissions ``open()`` would give a new file under the user's umask
(``tempfile.mkstemp`` creates it 0600, which would make a run folder unreadable to the
user's group after the first rewrite). A full disk raises ``RunFolderError`` naming
the file being written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from modnet.errors import ModnetError

__all__ = [
    "RunFolderError",
    "atomic_open",
    "atomic_write_text",
    "fsync_dir",
    "new_file_mode",
    "remove_stale_tmp",
]

TMP_SUFFIX = ".tmp"


class RunFolderError(ModnetError, RuntimeError):
    """A run folder cannot be used as it is: a damaged or missing file, a full disk.

    The message names the file and says what to do.
    """

    @classmethod
    def unreadable(
        cls, path: Path | str, error: BaseException, todo: str, *, read_as: str = ""
    ) -> RunFolderError:
        """``<path>: damaged, cannot be read[ read_as] (<error type>: <error>). <todo>``."""
        return cls(
            f"{path}: damaged, cannot be read{read_as} ({type(error).__name__}: {error}). {todo}"
        )


def new_file_mode() -> int:
    """The mode a new file gets from ``open()``: ``0o666`` less the process's umask."""
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return 0o666 & ~mask


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: Path | str, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path``.

    If the block raises, ``path`` is untouched and the temporary file is removed; if
    the process dies, it is left with a ``.tmp`` name that nothing reads.

    Raises:
        RunFolderError: the disk is full (``ENOSPC``/``EDQUOT``), naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        os.fchmod(fd, new_file_mode())
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise RunFolderError(
                f"{path}: the disk is full ({error.strerror}); the previous version of the "
                "file is intact. Free some space, then continue the run with --resume."
            ) from error
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path | str, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def remove_stale_tmp(folder: Path) -> list[Path]:
    """Remove the temporary files ``atomic_open`` left in ``folder`` (one level) when killed.

    Call it only when no other process writes into ``folder``. Returns the removed paths.
    """
    removed = []
    if folder.is_dir():
        for stale in folder.glob(f".*{TMP_SUFFIX}"):
            if stale.is_file():
                stale.unlink(missing_ok=True)
                removed.append(stale)
    return removed
