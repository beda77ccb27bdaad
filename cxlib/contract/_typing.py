"""Typing one column of text: values, and the mask of values that could not be read."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from cxlib.contract._spec import ContractError, TableSpec

log = logging.getLogger(__name__)


# Column kinds: id (stripped text key), str, datetime, float, int, flag (0/1), bool.
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}


_FALSE = {"false", "f", "no", "n", "0", "0.0"}


_MIN_TS = pd.Timestamp("1900-01-01")


_MAX_TS = pd.Timestamp("2200-01-01")


def _is_text(s: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(s) or s.dtype == object


def _blank(s: pd.Series) -> pd.Series:
    if _is_text(s):
        return s.isna() | (s.astype("str").str.strip() == "")
    return s.isna()


def _prefix_ids(typed: pd.DataFrame) -> None:
    """Prefix ``customer_id`` by ``source_system`` (``CRM-A`` + ``-`` + id) where both are
    known, in place; a frame without ``source_system`` is left as it is."""
    if "source_system" not in typed.columns:
        return
    has_sys = typed["source_system"].notna() & typed["customer_id"].notna()
    typed.loc[has_sys, "customer_id"] = (
        typed.loc[has_sys, "source_system"] + "-" + typed.loc[has_sys, "customer_id"]
    )


def _text_bool(low: pd.Series) -> pd.Series:
    """Nullable booleans from lower-cased text: true/yes/1 ... → True, false/no/0 ... → False,
    anything else missing."""
    out = pd.Series(pd.NA, index=low.index, dtype="boolean")
    out[low.isin(_TRUE)] = True
    out[low.isin(_FALSE)] = False
    return out


_PLAIN_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"


_PLAIN_DIGITS = 15


def _to_number(text: pd.Series) -> pd.Series:
    """``pd.to_numeric(text, errors="coerce")`` as float64, without a Python object per value.

    Plain decimals (``-?digits[.digits]`` with at most 15 digits, the bulk of real data) are
    cast by Arrow; any other value goes through ``pd.to_numeric``. The results are the same:
    a decimal of at most 15 digits is an integer below 2**53 divided by a power of ten that
    doubles hold exactly, which both parsers round correctly (pandas's own parser since 3.0 is
    fast_float, as Arrow's), and the integer/float choice ``pd.to_numeric`` makes for the whole
    column changes no value once it is float64 except the sign of a negative zero: a column
    with a ``-0`` is therefore parsed by ``pd.to_numeric`` as a whole. Text that is not
    Arrow-backed is parsed by ``pd.to_numeric`` too.
    """
    dtype = text.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return pd.to_numeric(text, errors="coerce").astype("float64")
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(text.array)
    digits = pc.subtract(
        pc.utf8_length(arr),
        pc.add(
            pc.cast(pc.starts_with(arr, "-"), pa.int64()),
            pc.count_substring(arr, "."),
        ),
    )
    plain = pc.and_kleene(
        pc.match_substring_regex(arr, _PLAIN_NUMBER), pc.less_equal(digits, _PLAIN_DIGITS)
    )
    plain = pc.fill_null(plain, False).to_numpy(zero_copy_only=False)
    values = pc.cast(pc.if_else(plain, arr, pa.scalar(None, arr.type)), pa.float64())
    out = values.to_numpy(zero_copy_only=False).copy()  # NaN where not plain
    rest = ~plain & text.notna().to_numpy()
    if rest.any():
        out[rest] = pd.to_numeric(text[rest], errors="coerce").astype("float64").to_numpy()
    negative_zero = (out == 0) & pc.fill_null(pc.starts_with(arr, "-"), False).to_numpy(
        zero_copy_only=False
    )
    if negative_zero.any():  # its sign depends on the other values: as pd.to_numeric does
        return pd.to_numeric(text, errors="coerce").astype("float64")
    return pd.Series(out, index=text.index, dtype="float64")


def _parse(s: pd.Series, kind: str, date_format: str | None) -> tuple[pd.Series, pd.Series]:
    # the stripped text is computed once (as _blank computes it) and used by every kind
    stripped = s.astype("str").str.strip() if _is_text(s) else None
    blank = s.isna() | (stripped == "") if stripped is not None else s.isna()

    def text() -> pd.Series:
        return stripped if stripped is not None else s.astype("str").str.strip()

    if kind in ("id", "str"):
        out = text() if kind == "id" else s.astype("str")
        out = out.where(~blank, pd.NA).astype("str")
        return out, pd.Series(False, index=s.index)
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(s):
            parsed = s.dt.tz_convert("UTC").dt.tz_localize(None) if s.dt.tz is not None else s
        else:
            parsed = pd.to_datetime(
                text(), format=date_format or "ISO8601", errors="coerce", utc=True
            ).dt.tz_localize(None)
        parsed = parsed.where((parsed >= _MIN_TS) & (parsed < _MAX_TS))
        parsed = parsed.astype("datetime64[ns]")
        return parsed, parsed.isna() & ~blank
    if kind in ("float", "int", "flag"):
        if stripped is not None:
            digits = stripped
            if kind == "flag":
                low = digits.str.lower()
                digits = digits.mask(low.isin(_TRUE), "1").mask(low.isin(_FALSE), "0")
            num = _to_number(digits)
        elif pd.api.types.is_bool_dtype(s):
            num = s.astype("float64")
        else:
            num = pd.to_numeric(s, errors="coerce")
        num = num.astype("float64")
        bad = ~blank & ~np.isfinite(num.fillna(0.0).to_numpy()) | (num.isna() & ~blank)
        num = num.where(~bad)
        if kind == "int":
            # a fraction, or a number no whole-number column can hold (beyond ±2**63, e.g. 1E100)
            frac = num.notna() & ((num != np.floor(num.fillna(0))) | (num.abs() >= 2.0**63))
            bad = bad | frac
            return num.where(~frac).round().astype("Int64"), bad
        if kind == "flag":
            bad = bad | (num.notna() & ~num.isin([0.0, 1.0]))
            return num.where(~bad), bad
        return num, bad
    if kind == "bool":
        if pd.api.types.is_bool_dtype(s):
            return s.astype("boolean"), pd.Series(False, index=s.index)
        out = _text_bool(text().str.lower())
        bad = out.isna() & ~blank
        return out, bad
    raise ValueError(f"unknown column kind {kind!r}")


def _infer_extra(s: pd.Series) -> pd.Series:
    """Type a non-contract column from its content: numbers, booleans, else text."""
    if not _is_text(s):
        return s
    blank = _blank(s)
    if blank.all():
        return s.astype("str")
    text = s.astype("str").str.strip()
    num = pd.to_numeric(text.where(~blank), errors="coerce")
    if num[~blank].notna().all():
        return num.astype("float64")
    low = text.str.lower()
    if low[~blank].isin(_TRUE | _FALSE).all() and not low[~blank].isin({"0", "1"}).all():
        return _text_bool(low)
    return s.astype("str")


def _rename(
    raw: pd.DataFrame, spec: TableSpec, mapping: Mapping[str, str], file: str
) -> pd.DataFrame:
    """Rename the user's columns to contract names (config mapping, then case-insensitive)."""
    headers = [str(c).replace("\ufeff", "").strip() for c in raw.columns]
    user_map = {str(k).strip().lower(): v for k, v in mapping.items()}
    canon = {c.name.lower(): c.name for c in spec.columns}
    new = []
    for h in headers:
        low = h.lower()
        if low in user_map:
            new.append(user_map[low])
        elif low in canon:
            new.append(canon[low])
        else:
            new.append(h)
    dupes = sorted({n for n in new if new.count(n) > 1})
    if dupes:
        raise ContractError(
            f"{file}: column '{dupes[0]}' appears more than once after matching names "
            "case-insensitively. Fix: rename or drop one of them.",
            file=file,
            column=dupes[0],
        )
    out = raw.copy()
    out.columns = new
    return out


def _missing_column_error(
    spec: TableSpec, col: str, present: list[str], file: str
) -> ContractError:
    close = difflib.get_close_matches(col, present, n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    kind = spec.by_name[col].kind
    expected = {
        "id": "a customer identifier",
        "datetime": "a date or date-time (YYYY-MM-DD[ HH:MM:SS])",
        "float": "a number",
        "flag": "0 or 1",
        "str": "text",
    }.get(kind, kind)
    no_ids = ""
    if col == "customer_id" and spec.name != "customers":
        no_ids = (
            f"; if the file has no customer ids (anonymous rows), set "
            f"`tables.{spec.name}.row_id: true` to number the rows instead"
        )
    return ContractError(
        f"{file}: required column '{col}' ({expected}) is missing from the '{spec.name}' table "
        f"(found: {', '.join(present) or 'no columns'}).{hint} Fix: rename the column to '{col}' "
        f"or map it in the config under tables.{spec.name}.columns{no_ids}.",
        file=file,
        column=col,
    )
