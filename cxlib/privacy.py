"""Privacy by default: pseudonymous ids, small-group suppression, safe exports.

Everything that leaves a run (reports, exports) goes through these helpers:

- :func:`pseudonymise` replaces customer ids shown in reports by a keyed hash, stable within a run;
- :func:`suppress_small_groups` removes groups of fewer than ``min_group_size`` customers and
  :func:`suppression_note` says so;
- :func:`write_export` writes CSV exports atomically and neutralises spreadsheet formulas;
- :data:`PII_COLUMNS` names the contract columns that hold personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import tempfile
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
    "birth_year",
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


def suppress_small_groups(
    df: pd.DataFrame,
    count_col: str = "customers",
    min_size: int = 10,
    *,
    complement: bool = False,
) -> pd.DataFrame:
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
    DataFrame
        The rows shown; ``result.attrs["suppressed_groups"]`` holds the number of rows hidden
        and ``attrs["complementary"]`` whether one was hidden only to protect another, so that a
        report can say so (see :func:`suppression_note`).
    """
    if count_col not in df.columns:
        raise KeyError(f"suppress_small_groups: no column {count_col!r} in {list(df.columns)}")
    counts = pd.to_numeric(df[count_col], errors="coerce").fillna(0).to_numpy(dtype=float)
    keep = counts >= min_size
    hidden = float(counts[~keep].sum())
    extra = bool(complement and 0 < hidden < min_size and keep.any())
    if extra:
        keep[np.flatnonzero(keep)[np.argmin(counts[keep])]] = False
    out = df.loc[keep].copy()
    out.attrs["suppressed_groups"] = int((~keep).sum())
    out.attrs["complementary"] = extra
    if (~keep).any():
        log.info("suppressed %d group(s) under %d customers", int((~keep).sum()), min_size)
    return out


def suppression_note(
    df: pd.DataFrame, min_size: int, *, what: str = "group", unit: str = "customers"
) -> str:
    """The sentence a report shows under a table that :func:`suppress_small_groups` filtered,
    e.g. "2 groups are not shown: fewer than 10 customers (privacy rule)."; empty when
    nothing was hidden."""
    n = int(df.attrs.get("suppressed_groups", 0))
    if not n:
        return ""
    noun = what if n == 1 else what + "s"
    verb = "is" if n == 1 else "are"
    text = f"{n} {noun} {verb} not shown: fewer than {min_size} {unit}"
    if df.attrs.get("complementary"):
        text += ", or hidden so that a smaller one cannot be worked out from the total"
    return text + " (privacy rule)."


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
