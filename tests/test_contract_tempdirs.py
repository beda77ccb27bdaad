"""Private temporary folders (personal data) left by a process killed before its clean-up are
deleted at the next ``load_source`` / ``FolderSource`` start; a running owner's folders and
anything that is not ours are kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from cxlib.sources import (
    OWNER_MARKER,
    FolderSource,
    private_tempdir,
    sweep_private_tempdirs,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"

# a notebook without the runner's validated folder: load_source(lazy=...) makes the private
# folders (DuckDB spill space and the Parquet copy of the transactions), then waits
LAZY_LOAD = f"""
import sys, time
from pathlib import Path
from cxlib.contract import load_source
data = load_source({str(SAMPLE)!r}, tables=["transactions"], lazy=("transactions",))
print(data._lazy_store.dir, flush=True)
time.sleep(600)
"""

MAKE_ONE = """
import time
from cxlib.sources import private_tempdir
print(private_tempdir("cx-backend-"), flush=True)
time.sleep(600)
"""


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """A temporary folder of its own for this test and its subprocesses (the system's /tmp
    is never swept by the tests)."""
    where = tmp_path / "tmp"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    return where


def start(code: str, where: Path) -> tuple[subprocess.Popen, str]:
    """Run ``code`` in a new Python process with ``TMPDIR=where``; returns it and its first line."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, "TMPDIR": str(where)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    assert line, proc.stderr.read()[-2000:] if proc.poll() is not None else "no output"
    return proc, line


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()


def test_folders_of_a_killed_process_are_deleted_at_the_next_start(private_tmp):
    proc, backend = start(LAZY_LOAD, private_tmp)
    left = sorted(p.name.rsplit("-", 1)[0] for p in private_tmp.iterdir())
    assert left == ["cx-backend", "cx-read"]  # the CSV's text copy (cx-raw) is already gone
    assert (Path(backend) / "transactions.parquet").is_file()  # customer-level rows
    for folder in private_tmp.iterdir():
        owner = json.loads((folder / OWNER_MARKER).read_text())
        assert owner["pid"] == proc.pid
        assert owner["started"] == pytest.approx(psutil.Process(proc.pid).create_time())
        assert (folder.stat().st_mode & 0o077) == 0
    kill(proc)  # a kernel shut down hard: no finalizer runs
    assert len(list(private_tmp.iterdir())) == 2
    FolderSource(SAMPLE)  # the next start
    assert list(private_tmp.iterdir()) == []


def test_next_load_source_deletes_them_too(private_tmp):
    from cxlib.contract import load_source

    proc, backend = start(MAKE_ONE, private_tmp)
    kill(proc)
    assert Path(backend).is_dir()
    load_source(SAMPLE, tables=["campaign"])
    assert not Path(backend).exists()


def test_the_pytest_session_end_sweeps_what_finished_kernels_left(private_tmp):
    """The repository's ``conftest.py`` sweeps at the end of a pytest session (nbval shuts
    kernels down without their finalizers); a running owner's folder stays."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    dead, gone = start(MAKE_ONE, private_tmp)
    kill(dead)
    alive, kept = start(MAKE_ONE, private_tmp)
    try:
        hooks.pytest_sessionfinish(session=None, exitstatus=0)
        assert not Path(gone).exists()
        assert Path(kept).is_dir()
    finally:
        kill(alive)


def test_a_running_owners_folder_is_kept(private_tmp):
    proc, folder = start(MAKE_ONE, private_tmp)
    try:
        assert sweep_private_tempdirs() == []
        FolderSource(SAMPLE)
        assert Path(folder, OWNER_MARKER).is_file()
    finally:
        kill(proc)
    assert sweep_private_tempdirs() == [Path(folder)]


def test_only_our_marked_folders_are_swept(private_tmp, tmp_path):
    """Kept: a folder being created (no marker yet), a half-written marker, a folder of another
    name, a symbolic link, this process's own folder. Deleted: a folder whose PID now belongs
    to a process started at another time (PID reuse)."""
    me = psutil.Process()
    dead = {"pid": me.pid, "started": me.create_time() - 3600.0}  # same PID, another process

    def folder(name: str, marker: str | None) -> Path:
        p = private_tmp / name
        p.mkdir()
        (p / "transactions.parquet").write_bytes(b"x")
        if marker is not None:
            (p / OWNER_MARKER).write_text(marker)
        return p

    creating = folder("cx-backend-creating", None)
    partial = folder("cx-read-partial", '{"pid": 1')
    other = folder("someone-else-1", json.dumps(dead))
    reused = folder("cx-backend-reused", json.dumps(dead))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / OWNER_MARKER).write_text(json.dumps(dead))
    (private_tmp / "cx-read-link").symlink_to(outside, target_is_directory=True)
    mine = private_tempdir("cx-raw-")

    assert sweep_private_tempdirs() == [reused]
    assert not reused.exists()
    for kept in (creating, partial, other, outside, mine):
        assert kept.is_dir() and any(kept.iterdir())
    assert (private_tmp / "cx-read-link").is_symlink()


def test_a_zombie_owner_counts_as_gone(private_tmp):
    """A killed process its parent has not yet waited for is a zombie: its folders go."""
    proc, folder = start(MAKE_ONE, private_tmp)
    proc.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 30
    while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sweep_private_tempdirs() == [Path(folder)]
    kill(proc)


def test_private_tempdir_rejects_a_foreign_prefix(private_tmp):
    with pytest.raises(ValueError, match="prefix"):
        private_tempdir("tmp-")
    assert list(private_tmp.iterdir()) == []


def test_an_engine_spills_into_a_private_folder_deleted_at_close(private_tmp):
    """An Engine's own DuckDB connection never spills into DuckDB's default ``.tmp`` of the
    working directory: it gets a private, owner-marked folder, deleted when the engine closes."""
    import pandas as pd

    from cxlib.engine import Engine
    from cxlib.privacy import private_tempdir as from_privacy

    assert from_privacy is private_tempdir  # cxlib.sources re-exports cxlib.privacy's
    with Engine() as engine:
        assert list(private_tmp.iterdir()) == []  # made with the connection, on first use
        engine.table(pd.DataFrame({"customer_id": ["a"]}))
        where = engine.con.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0]
        (folder,) = private_tmp.iterdir()
        assert Path(where) == folder and folder.name.startswith("cx-backend-")
        assert (folder / OWNER_MARKER).is_file() and (folder.stat().st_mode & 0o077) == 0
    assert list(private_tmp.iterdir()) == []
