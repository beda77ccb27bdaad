"""Writing tables: fast CSV (quotes only where needed) or Parquet; truth values at fixed precision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def _mixed_to_text(s: pd.Series) -> pa.Array:
    """An object column mixing numbers and text (e.g. planted malformed amounts) as text."""
    num = pd.to_numeric(s, errors="coerce")
    out = pa.array(num.to_numpy(dtype="float64", na_value=np.nan), from_pandas=True)
    out = out.cast(pa.string())
    text = num.isna().to_numpy() & s.notna().to_numpy()
    if text.any():
        out = pc.replace_with_mask(
            out, pa.array(text), pa.array(s[text].astype("str").to_numpy(dtype=object))
        )
    return out


def _arrow_column(s: pd.Series) -> pa.Array:
    """One pandas column as an Arrow array in the form we write (dates, whole seconds)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        v = s.to_numpy(dtype="datetime64[ns]")
        ok = ~np.isnat(v)
        secs = v.astype("datetime64[s]")
        if ok.any() and (v[ok] == secs[ok].astype("datetime64[D]")).all():
            return pa.array(secs.astype("datetime64[D]"), mask=~ok).cast(pa.date32())
        if (v[ok] == secs[ok]).all():
            return pa.array(secs, mask=~ok)
        return pa.array(v, mask=~ok)
    try:
        return pa.array(s, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _mixed_to_text(s)


TRUTH_SIGNIFICANT_DIGITS = 10


def fixed_precision(df: pd.DataFrame, digits: int = TRUTH_SIGNIFICANT_DIGITS) -> pd.DataFrame:
    """``df`` with every float column rounded to ``digits`` significant digits.

    The truth files hold values computed with ``exp``/``log`` whose last bits can differ between
    machines; rounded to 10 significant digits (a decimal of at most 10 digits, whose shortest
    representation is written) the same seed gives the same bytes anywhere.
    """
    out = df.copy()
    for c in out.columns:
        s = out[c]
        if not pd.api.types.is_float_dtype(s):
            continue
        v = s.to_numpy(dtype="float64", na_value=np.nan)
        finite = v[np.isfinite(v)]
        if (np.abs(finite) < 1e4).all() and (np.round(finite, 6) == finite).all():
            continue  # at most 10 significant digits already: written as they are
        # each distinct value (bit pattern: -0.0 stays apart from 0.0) is formatted once
        bits, inverse = np.unique(v.view(np.int64), return_inverse=True)
        u = bits.view(np.float64)
        out[c] = np.array([float(f"{x:.{digits}g}") for x in u], dtype="float64")[inverse]
    return out


def write_table(
    df: pd.DataFrame, path: Path, fmt: str = "csv", *, string_columns: tuple[str, ...] = ()
) -> Path:
    """Write ``df`` as CSV (fast, via pyarrow; values quoted only when they must be) or Parquet.

    Datetimes at midnight are written as dates, others to the second; booleans as
    ``true``/``false``; missing values as empty fields. Text columns named in
    ``string_columns`` are stored as Arrow ``string`` rather than ``large_string`` (this
    matters only for the Parquet schema).
    """
    cols = {}
    for c in df.columns:
        arr = _arrow_column(df[c])
        if c in string_columns and pa.types.is_large_string(arr.type):
            arr = arr.cast(pa.string())
        cols[str(c)] = arr
    table = pa.table(cols)
    del cols
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(table, path)
        return path
    if fmt != "csv":
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    _write_csv(table, path)
    return path


def _needs_quotes(table: pa.Table) -> np.ndarray:
    """Rows with a text value that must be quoted in CSV (delimiter, quote, line break, or
    leading/trailing white space that a reader might strip)."""
    need = np.zeros(table.num_rows, dtype=bool)
    pattern = r'[,"\r\n]|^\s|\s$'
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            hit = pc.fill_null(pc.match_substring_regex(col, pattern), False)
            need |= hit.to_numpy(zero_copy_only=False).astype(bool)
        elif pa.types.is_dictionary(col.type) and (
            pa.types.is_string(col.type.value_type) or pa.types.is_large_string(col.type.value_type)
        ):
            at = 0
            for chunk in col.chunks:  # a categorical column: test its categories once
                hit = pc.fill_null(pc.match_substring_regex(chunk.dictionary, pattern), False)
                hit = hit.to_numpy(zero_copy_only=False).astype(bool)
                idx = pc.fill_null(chunk.indices, 0).to_numpy(zero_copy_only=False)
                ok = chunk.indices.is_valid().to_numpy(zero_copy_only=False)
                need[at : at + len(chunk)] |= ok & hit[idx]
                at += len(chunk)
    return need


MIN_QUOTING_MAX_ROWS = 2_000_000  # above this, every text value is quoted (faster)
MAX_RUNS = 20_000  # at most this many alternations between quoted and unquoted rows


def _write_csv(table: pa.Table, path: Path) -> None:
    """CSV with quotes only on the rows that need them (tables up to 2M rows).

    Arrow quotes every text value of every row once any value needs quotes; that adds about 15%
    to the file. For tables of up to ``MIN_QUOTING_MAX_ROWS`` rows (the bundled sample), runs of
    rows without special values are written unquoted and the rows that need quotes with Arrow's
    "needed" quoting, into the same file. Bigger tables (benchmarks) are written in one pass
    with every text value quoted, which is much faster. Either way the file is valid CSV with
    the same values.
    """
    plain = pacsv.WriteOptions(include_header=False, quoting_style="none")
    quoted = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    if table.num_rows > MIN_QUOTING_MAX_ROWS:
        need = np.ones(1, dtype=bool)
        bounds = None
    else:
        need = _needs_quotes(table)
        edges = np.flatnonzero(np.diff(np.r_[0, need.astype(np.int8), 0]))
        bounds = np.unique(np.r_[0, edges, table.num_rows])
        if len(bounds) > MAX_RUNS:
            bounds = None
    header = (",".join(table.column_names) + "\n").encode()
    with pa.OSFile(str(path), "wb") as sink:
        sink.write(header)
        if not need.any() or bounds is None:
            opts = quoted if need.any() else plain
            with pacsv.CSVWriter(sink, table.schema, write_options=opts) as w:
                w.write_table(table)
            return
        w_plain = pacsv.CSVWriter(sink, table.schema, write_options=plain)
        w_quoted = pacsv.CSVWriter(sink, table.schema, write_options=quoted)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            (w_quoted if need[a] else w_plain).write_table(table.slice(a, b - a))
        w_plain.close()
        w_quoted.close()


def write_catalogue(path: Path) -> Path:
    """Copy the package's example offer catalogue (``cxlib/synth/actions.yml``) to ``path``."""
    from importlib.resources import files

    path.write_bytes(files("cxlib.synth").joinpath("actions.yml").read_bytes())
    return path
