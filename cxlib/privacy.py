"""Privacy by default: pseudonymous ids, small-group suppression, safe exports.

Everything that leaves a run (reports, exports) goes through these helpers:

- :func:`pseudonymise` replaces customer ids shown in reports by a keyed hash, stable within a run;
- :func:`suppress_small_groups` removes groups of fewer than ``min_group_size`` customers and
  returns the rows shown with the number hidden (:class:`Suppressed`, whose ``note`` says so);
- :func:`write_export` writes CSV exports atomically and neutralises spreadsheet formulas;
- :data:`PII_COLUMNS` names the contract columns that hold personal data.

Temporary copies of the data (validated tables, backend tables, DuckDB's spill space) live in
private folders (:func:`private_tempdir`): mode 0700, marked with their owner process, deleted
by their owner when done and, if the owner was killed first, by the next
:func:`sweep_private_tempdirs`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: Contract columns that hold personal data and never appear in a report or export.
PII_COLUMNS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "postcode",
    "address",
    "birth_year",
    "birth_date",
    "comment",
)

#: Leading characters that make a spreadsheet treat a cell as a formula.
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")

PSEUDONYM_KEY_ENV = "CX_PSEUDONYM_KEY"


def resolve_pseudonym_key(key: str | None = None) -> str:
    """Return the pseudonymisation key: the argument, else ``$CX_PSEUDONYM_KEY``, else a random one.

    A random key is stable only for the process that drew it; the runner draws one per run and
    passes it to every notebook, so ids are stable within a run and unlinkable across runs.
    """
    if key:
        return str(key)
    env = os.environ.get(PSEUDONYM_KEY_ENV)
    if env:
        return env
    return os.urandom(16).hex()


def pseudonymise(ids: pd.Series | pd.Index, key: str, *, prefix: str = "C-") -> pd.Series:
    """Map customer ids to keyed-hash pseudonyms (HMAC-SHA256, first 10 hex characters).

    Parameters
    ----------
    ids : Series or Index
        Customer ids (any type; compared as strings).
    key : str
        Secret key; the same key gives the same pseudonym for the same id.
    prefix : str
        Prefix of each pseudonym.

    Returns
    -------
    Series of str aligned with ``ids`` (missing ids stay missing).
    """
    values = pd.Series(ids, copy=False)
    keyb = str(key).encode()
    uniques = pd.unique(values.dropna().astype(str))
    mapping = {
        u: prefix + hmac.new(keyb, u.encode(), hashlib.sha256).hexdigest()[:10] for u in uniques
    }
    out = values.astype("str").map(mapping)
    out[values.isna()] = pd.NA
    return out.rename(values.name)


@dataclass(frozen=True)
class Suppressed:
    """A table after small-group suppression: the rows shown and what was hidden.

    Returned by :func:`suppress_small_groups`; the count travels beside the table (never in
    ``DataFrame.attrs``) so that a report can say how many groups it leaves out
    (:meth:`note`).

    Attributes
    ----------
    frame : DataFrame
        The rows shown (a copy; the caller may change it).
    hidden : int
        Number of rows hidden.
    complementary : bool
        Whether a row was hidden only so that a smaller hidden one cannot be worked out from a
        total the report states elsewhere (complementary suppression).
    min_size : int
        The smallest group that may be shown (``min_group_size``), named by :meth:`note`.
    """

    frame: pd.DataFrame
    hidden: int = 0
    complementary: bool = False
    min_size: int = 10

    def note(self, *, what: str = "group", unit: str = "customers") -> str:
        """The sentence a report shows under the table.

        Parameters
        ----------
        what : str
            Singular noun for a row (``"group"``, ``"consent status"`` ...); an ``s`` is added
            for several.
        unit : str
            What the rows count (``"customers"``, ``"people"``).

        Returns
        -------
        str
            E.g. "2 groups are not shown: fewer than 10 customers (privacy rule)."; empty when
            nothing was hidden.
        """
        n = int(self.hidden)
        if not n:
            return ""
        noun = what if n == 1 else what + "s"
        verb = "is" if n == 1 else "are"
        text = f"{n} {noun} {verb} not shown: fewer than {self.min_size} {unit}"
        if self.complementary:
            text += ", or hidden so that a smaller one cannot be worked out from the total"
        return text + " (privacy rule)."


def suppress_small_groups(
    df: pd.DataFrame,
    count_col: str = "customers",
    min_size: int = 10,
    *,
    complement: bool = False,
) -> Suppressed:
    """Drop rows describing fewer than ``min_size`` customers (``count_col`` holds the count).

    Parameters
    ----------
    df : DataFrame
        One row per group with its customer count in ``count_col``.
    count_col : str
        Column holding the number of customers of each group.
    min_size : int
        Smallest group that may be shown (``min_group_size``).
    complement : bool
        Also hide the smallest shown group when the hidden groups together hold between 1 and
        ``min_size - 1`` customers, so that a hidden group cannot be recovered by subtracting the
        shown rows from a total the report states elsewhere (complementary suppression). Use it
        for tables whose rows add up to a known total (statuses, source systems).

    Returns
    -------
    Suppressed
        ``frame`` holds the rows shown, ``hidden`` the number of rows hidden and
        ``complementary`` whether one was hidden only to protect another;
        :meth:`Suppressed.note` is the sentence a report shows about them.

    Raises
    ------
    KeyError
        When ``df`` has no column ``count_col``.
    """
    if count_col not in df.columns:
        raise KeyError(f"suppress_small_groups: no column {count_col!r} in {list(df.columns)}")
    counts = pd.to_numeric(df[count_col], errors="coerce").fillna(0).to_numpy(dtype=float)
    keep = counts >= min_size
    hidden = float(counts[~keep].sum())
    extra = bool(complement and 0 < hidden < min_size and keep.any())
    if extra:
        keep[np.flatnonzero(keep)[np.argmin(counts[keep])]] = False
    n_hidden = int((~keep).sum())
    if n_hidden:
        log.info("suppressed %d group(s) under %d customers", n_hidden, min_size)
    return Suppressed(df.loc[keep].copy(), n_hidden, extra, int(min_size))


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells starting with ``= + - @ TAB CR`` with a quote so spreadsheets show text.

    Numeric columns are left alone (a negative number is not a formula).
    """
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if not (pd.api.types.is_string_dtype(s) or s.dtype == object):
            continue
        text = s.astype("str")
        risky = s.notna() & text.str.startswith(FORMULA_PREFIXES)
        if risky.any():
            out[col] = s.where(~risky, "'" + text)
    return out


EXPORT_FLOAT_FORMAT = "%.10g"
"""Floats in exports carry 10 significant digits: the last bits of a float can differ between
machines (BLAS, libm), so a fixed precision makes the same seed give the same bytes anywhere."""


def write_export(df: pd.DataFrame, path: str | os.PathLike, *, index: bool = False) -> Path:
    """Write ``df`` as CSV atomically (temporary file in the same folder, then rename).

    Cells that a spreadsheet would run as a formula are neutralised first; floats are written
    with :data:`EXPORT_FLOAT_FORMAT`. A crash never leaves a
    half-written export: readers see the old file or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    safe = neutralise_formulas(df)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            safe.to_csv(fh, index=index, lineterminator="\n", float_format=EXPORT_FLOAT_FORMAT)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("wrote export %s (%d rows)", path, len(df))
    return path


# --- Private temporary folders -------------------------------------------------------------

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
