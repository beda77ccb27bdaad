"""Synthetic retail loyalty data with known ground truth (``cx synth``).

:func:`generate` writes the five contract tables (``customers``, ``transactions``, ``campaign``,
``events``, ``feedback``) and a ``truth/`` folder that no notebook reads: ``customers.csv`` (per
source record: the true person, latent segment, churn probability and outcome, true uplift per
offer arm), ``journeys.csv`` (planted journey friction), ``defects.csv`` (planted data-quality
defects) and ``drivers.csv`` (true dropout drivers). The generative model and its parameters are
documented in ``docs/synthetic-data.md``.

The steps live in :mod:`cxlib.synth.core` (people, CRM records, purchases, service feedback,
relationship surveys), :mod:`cxlib.synth.campaign`, :mod:`cxlib.synth.journeys` and :mod:`cxlib.synth.defects`. Each
step draws from its own child of ``numpy.random.default_rng(seed)``, so output is identical for a
seed and a change in one step leaves the random streams of the others untouched.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cxlib.synth import core

__all__ = ["SynthResult", "generate", "write_table", "TABLES", "TRUTH_TABLES"]

logger = logging.getLogger(__name__)

TABLES = ("customers", "transactions", "campaign", "events", "feedback")
TRUTH_TABLES = ("customers", "journeys", "defects", "drivers")
CAMPAIGN_DAYS_BEFORE_END = 46  # 2025-05-15 for a data end of 2025-06-30
EVENTS_DAYS_BEFORE_END = 180  # 2025-01-01 for a data end of 2025-06-30


# people columns not needed after the purchases and service feedback are simulated
_PEOPLE_DROP = (
    *(f"p_tod_{t}" for t in core.TIMES_OF_DAY),
    *(f"p_cat_{c}" for c in core.CATEGORIES),
    "p_store",
    "p_web",
    "p_app",
    "weekend_share",
    "first_name",
    "last_name",
    "email",
    "phone",
    "postcode",
    "household_id",
    "home_store",
    "acquired_at",
    "consent_status",
)


@dataclass
class SynthResult:
    """What :func:`generate` wrote."""

    out_dir: Path
    n_people: int
    n_records: int
    rows: dict[str, int] = field(default_factory=dict)  # table (or "truth/<name>") -> rows
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


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
        out[c] = np.array([float(f"{x:.{digits}g}") for x in v], dtype="float64")
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
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            hit = pc.fill_null(pc.match_substring_regex(col, r'[,"\r\n]|^\s|\s$'), False)
            need |= hit.to_numpy(zero_copy_only=False).astype(bool)
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


# --------------------------------------------------------------------------------------------
# orchestration
# --------------------------------------------------------------------------------------------


def _truth_customers(
    customers: pd.DataFrame,
    people: pd.DataFrame,
    churn: pd.DataFrame,
    uplift_truth: pd.DataFrame,
) -> pd.DataFrame:
    """One row per source record: the person behind it and their true churn and uplift."""
    rec = pd.concat(
        [
            people[["master_id", "primary_customer_id"]].rename(
                columns={"primary_customer_id": "customer_id"}
            ),
            people.loc[
                people["secondary_customer_id"].notna(), ["master_id", "secondary_customer_id"]
            ].rename(columns={"secondary_customer_id": "customer_id"}),
        ],
        ignore_index=True,
    )
    person_cols = [
        "master_id",
        "latent_segment",
        "segment_idx",
        "p_drop",
        "lam",
        "complained",
        "satisfaction",
        "app_user",
        "is_duplicated",
    ]
    churn_cols = ["master_id", "p_lapse_90d", "lapsed_90d", "alive_at_end", "p_alive_at_end"]
    out = (
        customers[["customer_id", "source_system"]]
        .merge(rec, on="customer_id", how="left", validate="one_to_one")
        .merge(people[person_cols], on="master_id", how="left", validate="many_to_one")
        .merge(churn[churn_cols], on="master_id", how="left", validate="many_to_one")
    )
    up = uplift_truth.copy()
    up["customer_id"] = up["customer_id"].astype("str")
    out = out.merge(up, on="customer_id", how="left", validate="one_to_one")
    first = [
        "customer_id",
        "master_id",
        "source_system",
        "latent_segment",
        "p_lapse_90d",
        "lapsed_90d",
        "alive_at_end",
        "true_uplift_offer_a",
        "true_uplift_offer_b",
        "p_drop",
        "lam",
    ]
    rest = [c for c in out.columns if c not in first]
    out = out[first + rest]
    for c in ("p_lapse_90d", "p_alive_at_end", "p_drop", "lam", "satisfaction"):
        out[c] = out[c].round(6)
    return out


def generate(
    n_customers: int,
    seed: int,
    out_dir: str | Path,
    *,
    end_date: str | pd.Timestamp = "2025-06-30",
    fmt: str = "csv",
) -> SynthResult:
    """Generate the synthetic dataset with ground truth into ``out_dir``.

    Parameters
    ----------
    n_customers : int
        Number of true people (records are about 3% more: some people are in both CRMs).
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives byte-identical files.
    out_dir : path
        Folder for ``customers``, ``transactions``, ``campaign``, ``events``, ``feedback`` and
        ``truth/`` (created if needed; existing files are overwritten).
    end_date : date-like
        Last day of the data (inclusive). Purchases start two years before (2023-07-01 for
        the default end 2025-06-30); the campaign is
        sent 46 days and the journey events start 180 days before it.
    fmt : {"csv", "parquet"}
        File format of the tables (truth files are always CSV).

    Returns
    -------
    SynthResult
    """
    from cxlib.synth import campaign as campaign_mod
    from cxlib.synth import defects as defects_mod
    from cxlib.synth import journeys as journeys_mod

    t0 = time.perf_counter()
    n = int(n_customers)
    if n < 1:
        raise ValueError("n_customers must be at least 1")
    out = Path(out_dir)
    end = pd.Timestamp(end_date).normalize()
    start = end - pd.DateOffset(years=2) + pd.Timedelta(days=1)
    rng = np.random.default_rng(seed)
    # an eighth child leaves the first seven (and so every earlier table) unchanged
    (r_people, r_records, r_tx, r_feedback, r_campaign, r_journeys, r_defects, r_survey) = (
        rng.spawn(8)
    )

    logger.info("synth: %d people, seed %s, %s .. %s -> %s", n, seed, start.date(), end.date(), out)
    people = core.make_people(n, r_people, start, end)
    customers, people = core.make_records(people, r_records)
    transactions, people, churn = core.make_transactions(people, customers, r_tx, start, end)
    service_feedback = core.make_service_feedback(people, customers, r_feedback, start, end)
    relationship = core.make_relationship_surveys(people, r_survey, start, end)
    service_feedback = pd.concat([service_feedback, relationship], ignore_index=True)
    del relationship
    # the later steps need only the people's summaries: drop the rest to save memory
    people = people.drop(columns=[c for c in _PEOPLE_DROP if c in people.columns])
    pa.default_memory_pool().release_unused()
    campaign, uplift_truth = campaign_mod.generate_campaign(
        people,
        customers,
        transactions,
        r_campaign,
        sent_at=end - pd.Timedelta(days=CAMPAIGN_DAYS_BEFORE_END),
    )
    logger.info("synth: campaign %d rows", len(campaign))
    events, journey_feedback, journeys_truth = journeys_mod.generate_journeys(
        people,
        customers,
        r_journeys,
        start=end - pd.Timedelta(days=EVENTS_DAYS_BEFORE_END),
        end=end,
    )
    logger.info(
        "synth: events %d rows, journey feedback %d rows", len(events), len(journey_feedback)
    )
    feedback = pd.concat([service_feedback, journey_feedback], ignore_index=True)
    feedback = feedback.sort_values("timestamp", kind="stable", ignore_index=True)
    del service_feedback, journey_feedback

    truth_customers = _truth_customers(customers, people, churn, uplift_truth)
    n_records = len(customers)
    del people, churn, uplift_truth  # free memory before the defects copy the tables
    tables = {
        "customers": customers,
        "transactions": transactions,
        "campaign": campaign,
        "events": events,
        "feedback": feedback,
    }
    del customers, transactions, campaign, events, feedback
    pa.default_memory_pool().release_unused()
    # consume: the clean tables are not kept next to the dirty ones (memory at 1M people)
    tables, defects_truth = defects_mod.inject_defects(tables, r_defects, consume=True)
    logger.info("synth: %d planted defect rows", len(defects_truth))

    result = SynthResult(out_dir=out, n_people=n, n_records=n_records)
    ext = "parquet" if fmt == "parquet" else "csv"
    for name in TABLES:
        df = tables.pop(name)
        # amounts holding planted text are Arrow ``string`` (as they always were written)
        text_cols = ("amount",) if name == "transactions" else ()
        path = write_table(df, out / f"{name}.{ext}", fmt, string_columns=text_cols)
        result.rows[name] = len(df)
        result.files[name] = path
        logger.info("synth: wrote %s (%d rows)", path, len(df))
        del df
    truth = {
        "customers": truth_customers,
        "journeys": journeys_truth,
        "defects": defects_truth,
        "drivers": core.drivers_table(),
    }
    for name in TRUTH_TABLES:
        path = write_table(fixed_precision(truth[name]), out / "truth" / f"{name}.csv", "csv")
        result.rows[f"truth/{name}"] = len(truth[name])
        result.files[f"truth/{name}"] = path
    result.seconds = time.perf_counter() - t0
    logger.info("synth: done in %.1f s (%d people, %d records)", result.seconds, n, n_records)
    return result
