"""Plant realistic data-quality defects in clean synthetic tables and record the truth.

:func:`inject_defects` takes the clean frames made by the generator and returns dirty copies plus
a truth frame (``table``, ``row_key``, ``defect``) that ``truth/defects.csv`` stores. Notebook 01
(the data audit) is tested against it: every defect class must be found with the right count.

Row keys
--------
- ``transactions``: ``transaction_id`` (when the column exists; the lines of a purchase share
  it, so two defects may carry the same key; defects of what the lines share — customer id,
  timestamp, channel — are planted on transactions of one line only);
- ``customers``: ``customer_id``;
- ``events``, ``feedback``, ``campaign`` (and transactions without ``transaction_id``): the
  0-based row position in the dirty frame, i.e. in the written file (header not counted).
  Quarantine files of the contract use 1-based ``row_number`` = position + 1.

For an exact duplicate row the key is the key of the *added copy*; the copy is inserted right
after its original (for transactions the copy keeps the original ``transaction_id``).

Defect classes (``defect`` column) and what they look like
-----------------------------------------------------------
customers: ``invalid_email`` (missing/double @, space, no top-level domain), ``invalid_phone``
(too few/many digits, letters), ``invalid_postcode`` (truncated, extra characters),
``implausible_birth_year`` (1850/1890/1900 or years after the data end), ``missing_email``,
``missing_phone``, ``missing_postcode`` (every missing value after injection is recorded, natural
or planted).

transactions / events / feedback / campaign: ``unparseable_timestamp`` ("31/02/2024", "n/a",
"2024-13-45 10:00"; quarantined by the contract), ``non_numeric_amount`` ("12,50€"; quarantined),
``null_customer_id`` (quarantined), ``future_timestamp`` (about six years ahead, after the data
end), ``non_refund_negative_amount`` (negative amount with a positive quantity; legitimate refunds
have both negative; never on an amount the customer had already paid, which would read as its
refund), ``orphan_customer_id`` (customer unknown to the customers table; every
orphan row after injection is recorded), ``duplicate_row`` (exact copy of a row),
``inconsistent_channel_label`` / ``inconsistent_category_label`` (case, whitespace and synonyms:
"Web", " web ", "WEB", "online", "Store ", "in-store").

Planted defects are disjoint within a table (a row carries at most one planted defect), so that a
quarantined row never also counts as, say, a duplicate. Everything is vectorised and driven by the
given :class:`numpy.random.Generator` only, so the result is deterministic for a seed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_RATES", "DEFECT_CLASSES", "LABEL_SYNONYMS", "inject_defects"]

#: Share of rows of each table that receives each planted defect (applied in this order).
DEFAULT_RATES: dict[str, dict[str, float]] = {
    "customers": {
        "invalid_email": 0.010,
        "invalid_phone": 0.008,
        "invalid_postcode": 0.006,
        "implausible_birth_year": 0.004,
        "missing_email": 0.010,
        "missing_phone": 0.010,
        "missing_postcode": 0.005,
    },
    "transactions": {
        "unparseable_timestamp": 0.002,
        "non_numeric_amount": 0.002,
        "null_customer_id": 0.002,
        "future_timestamp": 0.002,
        "non_refund_negative_amount": 0.003,
        "orphan_customer_id": 0.005,
        "inconsistent_channel_label": 0.015,
        "inconsistent_category_label": 0.010,
        "duplicate_row": 0.010,
    },
    "events": {
        "unparseable_timestamp": 0.001,
        "future_timestamp": 0.001,
        "orphan_customer_id": 0.003,
        "inconsistent_channel_label": 0.010,
        "duplicate_row": 0.005,
    },
    "feedback": {
        "orphan_customer_id": 0.005,
        "duplicate_row": 0.005,
    },
    "campaign": {
        "duplicate_row": 0.002,
    },
}

#: Every defect class this module can plant.
DEFECT_CLASSES: tuple[str, ...] = tuple(
    dict.fromkeys(d for rates in DEFAULT_RATES.values() for d in rates)
)

#: Synonyms planted for canonical channel labels (the audit's synonym map covers them).
LABEL_SYNONYMS: dict[str, tuple[str, ...]] = {
    "web": ("online", "Online"),
    "store": ("in-store", "In-Store"),
    "app": ("mobile app",),
}

_KEY_COLUMN = {"transactions": "transaction_id", "customers": "customer_id"}
#: Defects of what the lines of a transaction share (planted on one-line transactions only).
_HEADER_DEFECTS = frozenset(
    {
        "unparseable_timestamp",
        "null_customer_id",
        "future_timestamp",
        "orphan_customer_id",
        "inconsistent_channel_label",
    }
)
_TABLE_ORDER = ("customers", "transactions", "events", "feedback", "campaign")


# ---------------------------------------------------------------------------------------------
# value generators: each takes the clean values of the chosen rows and returns dirty values
# ---------------------------------------------------------------------------------------------


def _variants(
    values: pd.Series, rng: np.random.Generator, makers: list[Callable[[pd.Series], pd.Series]]
) -> pd.Series:
    """Apply one randomly chosen maker to each value."""
    values = values.astype("str")
    pick = rng.integers(0, len(makers), size=len(values))
    out = values.copy()
    for j, make in enumerate(makers):
        m = pick == j
        if m.any():
            out[m] = make(values[m]).to_numpy()
    return out


_EMAIL_MAKERS: list[Callable[[pd.Series], pd.Series]] = [
    lambda s: s.str.replace("@", "", n=1, regex=False),  # missing @
    lambda s: s.str.replace("@", "@@", n=1, regex=False),  # double @
    lambda s: s.str.replace("@", " @", n=1, regex=False),  # space
    lambda s: s.str.replace(r"@([^.@]+)\..*$", r"@\1", regex=True),  # no top-level domain
    lambda s: s.str.replace("@", "@.", n=1, regex=False),  # dot after @
]
_PHONE_MAKERS: list[Callable[[pd.Series], pd.Series]] = [
    lambda s: s.str.slice(0, 4),  # truncated
    lambda s: s + "9999999999",  # far too many digits
    lambda s: s.str.slice(0, -1) + "x",  # letter
]
_POSTCODE_MAKERS: list[Callable[[pd.Series], pd.Series]] = [
    lambda s: s.str.slice(0, 2),  # truncated
    lambda s: s + "ZZ9",  # extra characters
    lambda s: s.str.slice(0, -1) + "?",  # stray character
]


def _bad_timestamps(ts: pd.Series, rng: np.random.Generator) -> np.ndarray:
    year = ts.dt.year.fillna(2024).astype(int).astype(str).to_numpy()
    options = np.array(["n/a", "00/00/0000", "TBC"], dtype=object)
    pick = rng.integers(0, 5, size=len(ts))
    out = np.empty(len(ts), dtype=object)
    out[pick == 0] = "31/02/" + year[pick == 0]
    out[pick == 1] = year[pick == 1] + "-13-45 10:00"
    rest = pick >= 2
    out[rest] = options[pick[rest] - 2]
    return out


def _bad_amounts(amount: pd.Series, rng: np.random.Generator) -> np.ndarray:
    a = np.abs(amount.astype("float64").to_numpy())
    txt = np.array([f"{x:.2f}" for x in a], dtype=object)
    pick = rng.integers(0, 3, size=len(a))
    out = txt.copy()
    m0, m1, m2 = pick == 0, pick == 1, pick == 2
    out[m0] = np.array([t.replace(".", ",") + "€" for t in txt[m0]], dtype=object)
    out[m1] = np.array(["EUR " + t for t in txt[m1]], dtype=object)
    out[m2] = np.array([t + " EUR" for t in txt[m2]], dtype=object)
    return out


def _label_variants(values: pd.Series, rng: np.random.Generator, synonyms: bool) -> np.ndarray:
    """Case/whitespace variants (and synonyms for channels) that differ from the clean label."""
    vals = values.astype("str").to_numpy(dtype=object)
    out = vals.copy()
    for v in pd.unique(vals):
        m = vals == v
        cands = [v.title(), v.upper(), v.lower(), f" {v} ", f"{v} ", f" {v}"]
        if synonyms:
            cands += list(LABEL_SYNONYMS.get(v.strip().lower(), ()))
        cands = list(dict.fromkeys(c for c in cands if c != v))
        out[m] = np.asarray(cands, dtype=object)[rng.integers(0, len(cands), size=int(m.sum()))]
    return out


def _orphan_ids(
    n: int,
    n_template: int,
    template: Callable[[np.ndarray], pd.Series],
    known: pa.Array,
    rng: np.random.Generator,
) -> np.ndarray:
    """Ids shaped like the real ones (same prefix) that no customer record has: a small pool of
    'deleted' customers shared by the orphan rows.

    ``template(rows)`` returns the clean ids of the given rows (of ``n_template``).
    """
    if n == 0:
        return np.empty(0, dtype=object)
    pool_size = max(1, n // 4)
    base = template(rng.integers(0, n_template, size=pool_size)).astype("str")
    base = base.fillna("C").to_numpy(dtype=object)
    prefix = pd.Series(base).str.replace(r"\d+$", "", regex=True).to_numpy(dtype=object)
    width = int(pd.Series(base).str.extract(r"(\d+)$")[0].str.len().max() or 6) + 1
    pool = np.empty(pool_size, dtype=object)
    todo = np.ones(pool_size, dtype=bool)
    for _ in range(20):
        digits = rng.integers(10 ** (width - 1), 10**width, size=int(todo.sum()))
        pool[todo] = prefix[todo] + np.char.mod("%d", digits).astype(object)
        todo = _isin(pd.Series(pool), known) | pd.Series(pool).duplicated().to_numpy()
        if not todo.any():
            break
    return pool[rng.integers(0, pool_size, size=n)]


def _isin(values: pd.Series, value_set: pa.Array) -> np.ndarray:
    """Fast membership test of string values in an Arrow value set (missing -> False)."""
    arr = pa.array(values.astype("str"), from_pandas=True)  # no copy for Arrow-backed text
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.string())
    hit = pc.is_in(arr, value_set=value_set.cast(arr.type))
    return hit.to_numpy(zero_copy_only=False).astype(bool)


def _to_text_timestamps(ts: pd.Series) -> pd.Series:
    """Datetimes as ISO text (fast, via Arrow), trailing zero fractions dropped."""
    arr = pa.array(ts)
    try:  # whole seconds: no fraction in the text
        arr = arr.cast(pa.timestamp("s"), safe=True)
    except pa.ArrowInvalid:
        pass
    out = pd.Series(pd.array(arr.cast(pa.large_string()), dtype="str"), index=ts.index)
    return out.rename(ts.name)


# ---------------------------------------------------------------------------------------------
# choosing rows
# ---------------------------------------------------------------------------------------------


def _eligible(df: pd.DataFrame, table: str, defect: str) -> np.ndarray | None:
    """Rows that can carry ``defect``, or None when the table lacks what it needs."""
    n = len(df)
    cid = df["customer_id"].notna().to_numpy() if "customer_id" in df else np.ones(n, bool)
    col = {
        "invalid_email": "email",
        "invalid_phone": "phone",
        "invalid_postcode": "postcode",
        "missing_email": "email",
        "missing_phone": "phone",
        "missing_postcode": "postcode",
        "implausible_birth_year": "birth_year",
        "unparseable_timestamp": "timestamp",
        "future_timestamp": "timestamp",
        "non_numeric_amount": "amount",
        "non_refund_negative_amount": "amount",
        "inconsistent_channel_label": "channel",
        "inconsistent_category_label": "category",
        "null_customer_id": "customer_id",
        "orphan_customer_id": "customer_id",
        "duplicate_row": None,
    }[defect]
    if col is None:
        return cid.copy()
    if col not in df.columns:
        return None
    ok = df[col].notna().to_numpy() & cid
    if defect == "non_refund_negative_amount":
        ok &= df["amount"].to_numpy(dtype="float64", na_value=np.nan) > 0
        if "quantity" in df.columns:
            ok &= df["quantity"].to_numpy(dtype="float64", na_value=np.nan) > 0
    if defect in ("invalid_email", "invalid_phone", "invalid_postcode"):
        ok &= (df[col].astype("str").str.len() > 4).to_numpy(dtype=bool, na_value=False)
    if defect == "invalid_email":
        ok &= df[col].astype("str").str.count("@").eq(1).to_numpy(dtype=bool, na_value=False)
    return ok


def _one_line(tid: pd.Series) -> np.ndarray:
    """Rows of transactions with one row (or no id); the rows of a transaction are consecutive,
    as the generator writes them."""
    arr = pa.array(tid.astype("str"), from_pandas=True)
    n = len(arr)
    same = np.zeros(max(n - 1, 0), dtype=bool)
    if n > 1:
        eq = pc.equal(arr.slice(1), arr.slice(0, n - 1))
        same = pc.fill_null(eq, False).to_numpy(zero_copy_only=False).astype(bool)
    alone = np.ones(n, dtype=bool)
    alone[1:] &= ~same
    alone[:-1] &= ~same
    return alone


def _unlike_refunds(
    df: pd.DataFrame, cands: np.ndarray, priority: np.ndarray, k: int
) -> np.ndarray:
    """The candidates for ``non_refund_negative_amount`` (the ``k`` most urgent and some spare)
    without those whose customer had a purchase for the same amount (to the cent) at the same
    time or before: turned negative, such a row would read as that purchase's refund."""
    want = min(len(cands), int(1.5 * k) + 100)
    top = cands[np.argpartition(priority[cands], want - 1)[:want]] if want < len(cands) else cands
    cid = df["customer_id"]
    arr = pa.array(cid.astype("str"), from_pandas=True)
    mine = pc.is_in(arr, value_set=pa.array(cid.take(top).astype("str"), from_pandas=True))
    rows = np.flatnonzero(pc.fill_null(mine, False).to_numpy(zero_copy_only=False))
    amount = df["amount"].to_numpy(dtype="float64", na_value=np.nan)[rows]
    rows, amount = rows[amount > 0], amount[amount > 0]
    cust = pd.factorize(cid.take(rows))[0].astype(np.int64)
    key = (cust << 32) | np.rint(amount * 100).astype(np.int64)
    ts = df["timestamp"].to_numpy(dtype="datetime64[ns]")[rows].view(np.int64)
    order = np.lexsort((ts, key))
    same = key[order][1:] == key[order][:-1]
    repeat = np.zeros(len(df), dtype=bool)
    repeat[rows[order[1:][same]]] = True  # a later (or same-time) repeat of an amount
    tie = same & (ts[order][1:] == ts[order][:-1])
    repeat[rows[order[:-1][tie]]] = True  # the first of two at the same time, too
    return top[~repeat[top]]


def _choose(
    df: pd.DataFrame, table: str, rates: Mapping[str, float], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Disjoint sets of row positions per defect: the eligible free rows with the smallest random
    priority, defect by defect (missing values last)."""
    n = len(df)
    priority = rng.random(n)
    taken = np.zeros(n, dtype=bool)
    chosen: dict[str, np.ndarray] = {}
    ordered = [d for d in rates if not d.startswith("missing_")]
    ordered += [d for d in rates if d.startswith("missing_")]
    single = None
    for defect in ordered:
        rate = rates[defect]
        if rate <= 0:
            continue
        ok = _eligible(df, table, defect)
        if ok is None:
            continue
        if table == "transactions" and defect in _HEADER_DEFECTS and "transaction_id" in df:
            # the lines of a purchase agree on its customer, time and channel: such a defect
            # goes to a purchase of one line, so that no purchase is split by it
            if single is None:
                single = _one_line(df["transaction_id"])
            ok = ok & single
        cands = np.flatnonzero(ok & ~taken)
        k = min(int(round(rate * n)), len(cands))
        if k == 0:
            continue
        if defect == "non_refund_negative_amount" and "timestamp" in df.columns:
            cands = _unlike_refunds(df, cands, priority, k)
            k = min(k, len(cands))
        pr = priority[cands]
        pick = cands[np.argpartition(pr, k - 1)[:k]] if k < len(cands) else cands
        pick = np.sort(pick)
        taken[pick] = True
        chosen[defect] = pick
    return chosen


# ---------------------------------------------------------------------------------------------
# one table
# ---------------------------------------------------------------------------------------------


#: dtype of a numeric column that must also hold malformed text ("12,50€"): pandas ``str``
#: (Arrow-backed) holding each number as Arrow's shortest round-trip text (``12.5``, ``-3.99``).
NUMBER_TEXT = "str"


def _as_text_column(df: pd.DataFrame, col: str) -> None:
    """Make ``col`` able to hold malformed text (timestamps as ISO text, other values as
    objects). Numeric columns are handled by :func:`_apply_number_text_edits` instead."""
    s = df[col]
    if pd.api.types.is_datetime64_any_dtype(s):
        df[col] = _to_text_timestamps(s)
    elif not (pd.api.types.is_string_dtype(s) or s.dtype == object):
        df[col] = s.astype(object)


def _merge_edits(parts: list[tuple[np.ndarray, object]]) -> tuple[np.ndarray, np.ndarray]:
    """Positions (sorted) and planted values (object; ``None`` = missing) of one column."""
    pos = np.concatenate([p for p, _ in parts])
    vals = np.empty(len(pos), dtype=object)
    i = 0
    for p, v in parts:
        vals[i : i + len(p)] = None if v is None else np.asarray(v, dtype=object)
        i += len(p)
    order = np.argsort(pos, kind="stable")
    return pos[order], vals[order]


def _apply_edits(df: pd.DataFrame, col: str, parts: list[tuple[np.ndarray, object]]) -> None:
    """Write all planted values of one column at once (``None`` values mean missing)."""
    n = len(df)
    pos, vals = _merge_edits(parts)
    s = df[col]
    if isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow" and n > 0:
        arr = pa.array(s.array)  # no copy for a single chunk
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        mask = np.zeros(n, dtype=bool)
        mask[pos] = True
        vals = [None if (v is None or v is pd.NA) else str(v) for v in vals]
        new = pc.replace_with_mask(arr, pa.array(mask), pa.array(vals, type=arr.type))
        del arr, s
        df[col] = pd.Series(pd.array(new, dtype=df[col].dtype), index=df.index, name=col)
    elif isinstance(s.dtype, pd.CategoricalDtype):
        # a label column kept as categories (memory): the planted spellings become categories
        given = np.array([v is not None and v is not pd.NA for v in vals], dtype=bool)
        text = pd.Index([str(v) for v in vals[given]], dtype="str")
        cats = s.cat.categories.append(text.unique().difference(s.cat.categories))
        codes = s.cat.codes.to_numpy().astype(np.int32)
        codes[pos[given]] = cats.get_indexer(text)
        codes[pos[~given]] = -1
        del s
        df[col] = pd.Categorical.from_codes(codes, cats)
    else:
        missing = np.array([v is None for v in vals], dtype=bool)
        if (~missing).any():
            df.loc[pos[~missing], col] = np.asarray(list(vals[~missing]))
        if missing.any():
            df.loc[pos[missing], col] = None
    return None


def _apply_number_text_edits(
    df: pd.DataFrame, col: str, parts: list[tuple[np.ndarray, object]]
) -> None:
    """Plant text and numbers in a numeric column, which becomes text (:data:`NUMBER_TEXT`).

    Every number is written as Arrow's text for it (what the CSV writer writes for a float);
    a planted value is first normalised as NumPy would store it next to text (a ``str``) and
    read back with :func:`pandas.to_numeric`, so a planted number stays the same number and
    everything that is not a number stays the planted text. No Python object per row.
    """
    pos, vals = _merge_edits(parts)
    missing = np.array([v is None for v in vals], dtype=bool)
    given = np.asarray(list(vals[~missing]))  # mixed numbers and text -> all str, as stored
    as_num = pd.to_numeric(pd.Series(given, dtype=object), errors="coerce")
    as_num = as_num.to_numpy(dtype="float64", na_value=np.nan)
    num = df[col].to_numpy(dtype="float64", na_value=np.nan, copy=True)
    num[pos[~missing]] = as_num
    num[pos[missing]] = np.nan
    arr = pa.array(num, from_pandas=True).cast(pa.large_string())
    del num
    is_text = np.isnan(as_num)
    if is_text.any():
        mask = np.zeros(len(df), dtype=bool)
        mask[pos[~missing][is_text]] = True
        text = pa.array([str(v) for v in given[is_text]], type=pa.large_string())
        arr = pc.replace_with_mask(arr, pa.array(mask), text)
    df[col] = pd.Series(pd.array(arr, dtype=NUMBER_TEXT), index=df.index, name=col)


def _take_rows(df: pd.DataFrame, take: np.ndarray, consume: bool) -> pd.DataFrame:
    """``df.take(take)`` with a fresh index, built column by column; with ``consume`` each
    column is removed from ``df`` once copied, so only one column is held twice."""
    cols: dict[str, pd.Series] = {}
    for c in list(df.columns):
        s = df.pop(c) if consume else df[c]
        cols[c] = s.take(take).reset_index(drop=True)
        del s
    return pd.DataFrame(cols, copy=False)


@dataclass
class _Planting:
    """The planting of one table's defects: the dirty frame, where each clean row went, the
    planned edits per column (written together once planned) and the truth rows."""

    table: str
    df: pd.DataFrame
    dup_src: np.ndarray  # clean positions of the duplicated rows (each copy follows its original)
    key_col: str | None
    rng: np.random.Generator
    data_end: pd.Timestamp
    is_text_ts: bool = False  # the timestamp column will hold text
    edits: dict[str, list[tuple[np.ndarray, object]]] = field(default_factory=dict)
    truth: list[pd.DataFrame] = field(default_factory=list)

    def new_pos(self, old: np.ndarray) -> np.ndarray:
        """Positions in the dirty frame of the clean row positions ``old``."""
        return old + np.searchsorted(self.dup_src, old, side="left")

    def at(self, col: str, old: np.ndarray) -> pd.Series:
        """Clean values of column ``col`` at the clean row positions ``old``."""
        return self.df[col].iloc[self.new_pos(old)]

    def keys(self, pos: np.ndarray) -> np.ndarray:
        if self.key_col is not None:
            return self.df[self.key_col].iloc[pos].astype("str").to_numpy(dtype=object)
        return pos.astype(str).astype(object)

    def record(self, defect: str, pos: np.ndarray) -> None:
        if len(pos):
            self.truth.append(
                pd.DataFrame({"table": self.table, "row_key": self.keys(pos), "defect": defect})
            )

    def edit(self, col: str, pos: np.ndarray, values: object) -> None:
        self.edits.setdefault(col, []).append((pos, values))


def _future_timestamps(pl: _Planting, old: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Timestamps five to six years later (at least 400 days after the data end)."""
    ts = pd.to_datetime(pl.at("timestamp", old))
    shift = pd.to_timedelta(pl.rng.integers(5 * 365 + 30, 6 * 365 + 300, len(pos)), "D")
    future = (ts + shift).where(
        ts + shift > pl.data_end + pd.Timedelta(days=400),
        pl.data_end + pd.Timedelta(days=6 * 365),
    )
    return _to_text_timestamps(future).to_numpy() if pl.is_text_ts else future.to_numpy()


def _implausible_birth_years(pl: _Planting, old: np.ndarray, pos: np.ndarray) -> np.ndarray:
    years = np.array([1850, 1890, 1900, pl.data_end.year + 5, pl.data_end.year + 10])
    return years[pl.rng.integers(0, len(years), size=len(pos))]


_Planter = Callable[[_Planting, np.ndarray, np.ndarray], object]
#: defect -> (column, planted values from the planting, clean positions and dirty positions);
#: each is recorded as planted (missing values and orphans are recorded from the final frame)
_PLANTERS: dict[str, tuple[str, _Planter]] = {
    "invalid_email": (
        "email",
        lambda pl, old, pos: _variants(pl.at("email", old), pl.rng, _EMAIL_MAKERS).to_numpy(),
    ),
    "invalid_phone": (
        "phone",
        lambda pl, old, pos: _variants(pl.at("phone", old), pl.rng, _PHONE_MAKERS).to_numpy(),
    ),
    "invalid_postcode": (
        "postcode",
        lambda pl, old, pos: _variants(pl.at("postcode", old), pl.rng, _POSTCODE_MAKERS).to_numpy(),
    ),
    "implausible_birth_year": ("birth_year", _implausible_birth_years),
    "unparseable_timestamp": (
        "timestamp",
        lambda pl, old, pos: _bad_timestamps(pl.at("timestamp", old), pl.rng),
    ),
    "future_timestamp": ("timestamp", _future_timestamps),
    "non_numeric_amount": (
        "amount",
        lambda pl, old, pos: _bad_amounts(pl.at("amount", old), pl.rng),
    ),
    "non_refund_negative_amount": (
        "amount",
        lambda pl, old, pos: -pl.at("amount", old).astype("float64").to_numpy(),
    ),
    "null_customer_id": ("customer_id", lambda pl, old, pos: None),
    "inconsistent_channel_label": (
        "channel",
        lambda pl, old, pos: _label_variants(pl.at("channel", old), pl.rng, True),
    ),
    "inconsistent_category_label": (
        "category",
        lambda pl, old, pos: _label_variants(pl.at("category", old), pl.rng, False),
    ),
}


def _write_planned(pl: _Planting, text_ts: bool, text_amount: bool) -> None:
    """Text conversions needed for malformed values, then all planned values."""
    df = pl.df
    if text_ts:
        _as_text_column(df, "timestamp")
    number_text = text_amount and pd.api.types.is_numeric_dtype(df["amount"])
    if text_amount and not number_text:
        _as_text_column(df, "amount")
    for col in list(pl.edits):
        parts = pl.edits.pop(col)
        if col == "amount" and number_text:
            _apply_number_text_edits(df, col, parts)
        else:
            _apply_edits(df, col, parts)
        del parts
    pa.default_memory_pool().release_unused()


def _record_final(pl: _Planting, rates: Mapping[str, float], known_ids: pa.Array | None) -> None:
    """Record the duplicates, and every missing value and orphan id of the final frame
    (natural or planted)."""
    df = pl.df
    # duplicates: the copy sits one row after its original
    if len(pl.dup_src):
        copies = pl.new_pos(pl.dup_src) + 1
        if pl.key_col is None:  # also record natural exact duplicates (no id to tell them apart)
            copies = np.flatnonzero(df.duplicated(keep="first").to_numpy())
        pl.record("duplicate_row", copies)
    for defect in rates:
        if defect.startswith("missing_") and defect.removeprefix("missing_") in df.columns:
            pl.record(defect, np.flatnonzero(df[defect.removeprefix("missing_")].isna().to_numpy()))
    if "orphan_customer_id" in rates and known_ids is not None and "customer_id" in df.columns:
        cid = df["customer_id"]
        orphan = cid.notna().to_numpy() & ~_isin(cid, known_ids)
        pl.record("orphan_customer_id", np.flatnonzero(orphan))


def _inject_table(
    table: str,
    tables: dict[str, pd.DataFrame],
    rates: Mapping[str, float],
    rng: np.random.Generator,
    known_ids: pa.Array | None,
    data_end: pd.Timestamp,
    consume: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Plant the defects of ``tables[table]``; with ``consume`` the clean frame is taken out of
    ``tables`` and its memory reused (the clean values are read from the dirty frame before
    any planted value is written)."""
    clean = (tables.pop(table) if consume else tables[table]).reset_index(drop=True)
    n = len(clean)
    chosen = _choose(clean, table, rates, rng)
    key_col = _KEY_COLUMN.get(table)
    if key_col is not None and key_col not in clean.columns:
        key_col = None

    # duplicates: copy inserted right after the original, so positions shift
    dup_src = chosen.pop("duplicate_row", np.empty(0, dtype=np.int64))
    if len(dup_src):
        take = np.repeat(np.arange(n), 1 + np.isin(np.arange(n), dup_src).astype(np.int64))
        df = _take_rows(clean, take, consume)
        del take
    else:
        df = clean if consume else clean.reset_index(drop=True)
    del clean
    pl = _Planting(table, df, dup_src, key_col, rng, data_end)

    # columns that will hold malformed text (converted after the clean values are read)
    text_ts = len(chosen.get("unparseable_timestamp", ())) > 0
    text_amount = len(chosen.get("non_numeric_amount", ())) > 0
    pl.is_text_ts = "timestamp" in df.columns and (
        text_ts or not pd.api.types.is_datetime64_any_dtype(df["timestamp"])
    )

    for defect, old in chosen.items():
        pos = pl.new_pos(old)
        if defect.startswith("missing_"):  # recorded from the final frame
            pl.edit(defect.removeprefix("missing_"), pos, None)
        elif defect == "orphan_customer_id":  # recorded from the final frame
            if known_ids is not None:
                ids = _orphan_ids(
                    len(pos), n, lambda rows: pl.at("customer_id", rows), known_ids, rng
                )
                pl.edit("customer_id", pos, ids)
        elif defect in _PLANTERS:
            col, make = _PLANTERS[defect]
            pl.edit(col, pos, make(pl, old, pos))
            pl.record(defect, pos)
        else:  # pragma: no cover - guarded by DEFAULT_RATES keys
            raise ValueError(f"unknown defect {defect!r} for {table}")

    _write_planned(pl, text_ts, text_amount)
    _record_final(pl, rates, known_ids)
    out = pd.concat(pl.truth, ignore_index=True) if pl.truth else _empty_truth()
    log.info("%s: planted %d defect rows (%d rows in, %d out)", table, len(out), n, len(df))
    return pl.df, out


def _empty_truth() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "table": pd.Series(dtype="str"),
            "row_key": pd.Series(dtype="str"),
            "defect": pd.Series(dtype="str"),
        }
    )


def _data_end(tables: Mapping[str, pd.DataFrame]) -> pd.Timestamp:
    ends = [
        pd.to_datetime(tables[t]["timestamp"]).max()
        for t in ("transactions", "events")
        if t in tables and "timestamp" in tables[t] and len(tables[t])
    ]
    ends = [e for e in ends if pd.notna(e)]
    return max(ends).normalize() if ends else pd.Timestamp("2025-06-30")


def inject_defects(
    tables: dict[str, pd.DataFrame],
    rng: np.random.Generator,
    rates: Mapping[str, Mapping[str, float]] | None = None,
    *,
    consume: bool = False,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Plant data-quality defects in clean synthetic tables.

    Parameters
    ----------
    tables : dict of str to DataFrame
        Clean, typed tables (any of customers, transactions, events, feedback, campaign;
        other entries are passed through untouched). Not modified unless ``consume``.
    rng : numpy.random.Generator
        Source of randomness; the same seed gives the same result.
    rates : mapping, optional
        ``{table: {defect: share of rows}}`` overriding :data:`DEFAULT_RATES` per table.
    consume : bool
        If true, ``tables`` is emptied and the clean frames' memory is reused for the dirty
        ones (the generator at 1,000,000 people cannot afford both); the result is the same.
        Default false: inputs are not modified.

    Returns
    -------
    dirty : dict of str to DataFrame
        The tables with defects (columns holding malformed values become text).
    truth : DataFrame
        ``table``, ``row_key``, ``defect``; see the module docstring for row keys.
    """
    all_rates = {t: dict(r) for t, r in DEFAULT_RATES.items()}
    for t, r in (rates or {}).items():
        all_rates[t] = dict(r)
    known = None
    if "customers" in tables and "customer_id" in tables["customers"]:
        known = pa.array(
            pd.unique(tables["customers"]["customer_id"].dropna().astype("str")), type=pa.string()
        )
    data_end = _data_end(tables)
    names = list(tables)
    dirty = dict(tables)
    truths = []
    for name in _TABLE_ORDER:
        if name not in tables or len(tables[name]) == 0:
            continue
        rates_t = dict(all_rates.get(name, {}))
        if name == "customers":
            rates_t.pop("orphan_customer_id", None)
        if consume:
            del dirty[name]  # the only other reference is in ``tables``, popped by the callee
        dirty[name], t = _inject_table(name, tables, rates_t, rng, known, data_end, consume=consume)
        truths.append(t)
    if consume:
        tables.clear()
    dirty = {k: dirty[k] for k in names}
    truth = pd.concat(truths, ignore_index=True) if truths else _empty_truth()
    truth = truth.astype({"table": "str", "row_key": "str", "defect": "str"})
    return dirty, truth
