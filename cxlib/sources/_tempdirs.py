"""Private temporary folders (mode 0700, marked with their owner process) and the sweep that
deletes those of processes that are gone: they hold personal data."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


PRIVATE_PREFIXES: tuple[str, ...] = (
    "cx-backend-",
    "cx-read-",
    "cx-raw-",
    "cx-validated-",
    "cx-spark-",
)
"""Name prefixes of the private temporary folders cxlib creates (they hold personal data)."""


OWNER_MARKER = ".cx-owner"
"""File in each private temporary folder naming the process that owns it (JSON: ``pid`` and
``started``, the process's start time, so that a reused PID is not taken for the owner)."""


_START_TOLERANCE_S = 1.0


def private_tempdir(prefix: str, dir: str | os.PathLike | None = None) -> Path:
    """A new private (mode 0700) temporary folder marked with this process as its owner.

    The caller deletes it when done; if the process dies before (a kernel shut down hard,
    SIGKILL, out of memory), :func:`sweep_private_tempdirs` deletes it at the next start.

    Parameters
    ----------
    prefix : str
        One of :data:`PRIVATE_PREFIXES`.
    dir : path, optional
        Parent folder (default: the system's temporary folder).

    Returns
    -------
    Path
    """
    if prefix not in PRIVATE_PREFIXES:
        raise ValueError(f"unknown private folder prefix {prefix!r}; use one of {PRIVATE_PREFIXES}")
    import psutil

    path = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
    os.chmod(path, 0o700)
    me = psutil.Process()
    part = path / (OWNER_MARKER + ".part")
    part.write_text(json.dumps({"pid": me.pid, "started": me.create_time()}))
    os.replace(part, path / OWNER_MARKER)  # a sweeper sees the whole marker or none
    return path


def _owner_alive(pid: int, started: float) -> bool:
    """Whether the process that created a private folder is still running (a zombie is not;
    a process whose permissions hide it counts as running)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - started) > _START_TOLERANCE_S:
            return False  # the PID was reused by another process
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def sweep_private_tempdirs(where: str | os.PathLike | None = None) -> list[Path]:
    """Delete private temporary folders whose owner process is gone.

    Only folders directly in ``where`` whose name starts with one of :data:`PRIVATE_PREFIXES`,
    that belong to this user, are not symbolic links and hold a complete :data:`OWNER_MARKER`
    are considered; one is deleted when the process named in its marker no longer runs (or its
    PID now belongs to a process started at another time). A folder being created (no marker
    yet) or whose owner runs is kept; anything else in ``where`` is never touched.

    Parameters
    ----------
    where : path, optional
        Default: the system's temporary folder (``tempfile.gettempdir()``).

    Returns
    -------
    list of Path
        The folders deleted.
    """
    base = Path(where) if where is not None else Path(tempfile.gettempdir())
    uid = os.getuid() if hasattr(os, "getuid") else None
    removed: list[Path] = []
    try:
        entries = [e for e in os.scandir(base) if e.name.startswith(PRIVATE_PREFIXES)]
    except OSError:
        return removed
    for entry in entries:
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if uid is not None and entry.stat(follow_symlinks=False).st_uid != uid:
                continue
            marker = Path(entry.path) / OWNER_MARKER
            if not stat.S_ISREG(os.lstat(marker).st_mode):
                continue
            owner = json.loads(marker.read_text())
            pid, started = int(owner["pid"]), float(owner["started"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # no or unreadable marker: not ours to judge
        if _owner_alive(pid, started):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(Path(entry.path))
    if removed:
        log.info("deleted %d private temporary folder(s) left by ended processes", len(removed))
    return removed
