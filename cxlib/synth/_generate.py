"""Orchestration of ``cx synth``: each step on its own random stream, then defects, then files."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

# steps are called through their modules, so that benchmarks/ can wrap them
from cxlib.synth import (
    _baskets,
    _email,
    _feedback,
    _people,
    _purchases,
    _records,
    _truth,
    _worlds,
    _write,
)
from cxlib.synth._params import CATEGORIES, TIMES_OF_DAY

#: The offer catalogue written next to the tables (a copy of the package's example), so that
#: notebook 06 runs on a generated folder as on the sample.
CATALOGUE_FILE = "actions.yml"

logger = logging.getLogger(__name__)

TABLES = ("customers", "transactions", "campaign", "events", "feedback", "products")
TRUTH_TABLES = (
    "customers",
    "journeys",
    "defects",
    "drivers",
    "affinities",
    "next_category",
    "email_campaigns",
)
CAMPAIGN_DAYS_BEFORE_END = 46  # 2025-05-15 for a data end of 2025-06-30
EVENTS_DAYS_BEFORE_END = 180  # 2025-01-01 for a data end of 2025-06-30


# people columns not needed after the purchases and service feedback are simulated
_PEOPLE_DROP = (
    *(f"p_tod_{t}" for t in TIMES_OF_DAY),
    *(f"p_cat_{c}" for c in CATEGORIES),
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


def generate(
    n_customers: int,
    seed: int,
    out_dir: str | Path,
    *,
    end_date: str | pd.Timestamp = "2025-06-30",
    fmt: str = "csv",
    world: str = "default",
) -> SynthResult:
    """Generate the synthetic dataset with ground truth into ``out_dir``.

    Parameters
    ----------
    n_customers : int
        Number of true people (records are about 3% more: some people are in both CRMs).
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives byte-identical files.
    out_dir : path
        Folder for ``customers``, ``transactions``, ``campaign``, ``events``, ``feedback``,
        ``products``, the offer catalogue ``actions.yml`` and ``truth/`` (created if needed;
        existing files are overwritten).
    end_date : date-like
        Last day of the data (inclusive). Purchases start two years before (2023-07-01 for
        the default end 2025-06-30); the campaign is sent 46 days and the journey events
        start 180 days before it; the e-mail campaigns are sent 139, 83 and 20 days before it.
    fmt : {"csv", "parquet"}
        File format of the tables (truth files are always CSV).
    world : {"default", "seasonal", "decline"}
        How people buy (:mod:`cxlib.synth._worlds`): the default BG/NBD world (the committed
        sample), yearly seasonality, or purchase rates that decay gradually instead of dropping
        out at once; the last two name the app channel ``iOS``/``Android``.

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
    if world not in _worlds.WORLDS:
        raise ValueError(f"unknown world {world!r}; choose one of {', '.join(_worlds.WORLDS)}")
    out = Path(out_dir)
    end = pd.Timestamp(end_date).normalize()
    start = end - pd.DateOffset(years=2) + pd.Timedelta(days=1)
    rng = np.random.default_rng(seed)
    # children are numbered: added ones (surveys, e-mails) leave the earlier ones' streams as
    # they were
    children = rng.spawn(9)
    (r_people, r_records, r_tx, r_feedback, r_campaign, r_journeys, r_defects) = children[:7]
    r_survey, r_email = children[7:]

    logger.info("synth: %d people, seed %s, %s .. %s -> %s", n, seed, start.date(), end.date(), out)
    people = _people.make_people(n, r_people, start, end)
    customers, people = _records.make_records(people, r_records)
    lines_truth: dict[str, pd.DataFrame] = {}
    if world == "default":
        transactions, people, churn = _purchases.make_transactions(
            people, customers, r_tx, start, end, lines_truth=lines_truth
        )
    else:
        transactions, people, churn = _worlds.make_world_transactions(
            world, people, customers, r_tx, start, end, lines_truth=lines_truth
        )
    service_feedback = _feedback.make_service_feedback(people, customers, r_feedback, start, end)
    relationship = _feedback.make_relationship_surveys(people, r_survey, start, end)
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
    email_events, email_truth = _email.make_email_events(people, customers, r_email, end)
    events = pd.concat([_email.with_campaign_id(events), email_events], ignore_index=True)
    events = events.take(np.argsort(events["timestamp"].to_numpy(), kind="stable"))
    events = events.reset_index(drop=True)
    del email_events
    logger.info(
        "synth: events %d rows, journey feedback %d rows", len(events), len(journey_feedback)
    )
    feedback = pd.concat([service_feedback, journey_feedback], ignore_index=True)
    feedback = feedback.sort_values("timestamp", kind="stable", ignore_index=True)
    del service_feedback, journey_feedback

    truth_customers = _truth._truth_customers(customers, people, churn, uplift_truth)
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
    tables["products"] = _baskets.products_table()  # reference data: no planted defects
    logger.info("synth: %d planted defect rows", len(defects_truth))

    result = SynthResult(out_dir=out, n_people=n, n_records=n_records)
    ext = "parquet" if fmt == "parquet" else "csv"
    for name in TABLES:
        df = tables.pop(name)
        # amounts holding planted text are Arrow ``string`` (as they always were written)
        text_cols = ("amount",) if name == "transactions" else ()
        path = _write.write_table(df, out / f"{name}.{ext}", fmt, string_columns=text_cols)
        result.rows[name] = len(df)
        result.files[name] = path
        logger.info("synth: wrote %s (%d rows)", path, len(df))
        del df
    truth = {
        "customers": truth_customers,
        "journeys": journeys_truth,
        "defects": defects_truth,
        "drivers": _truth.drivers_table(),
        **lines_truth,
        "email_campaigns": email_truth,
    }
    for name in TRUTH_TABLES:
        path = _write.write_table(
            _write.fixed_precision(truth[name]), out / "truth" / f"{name}.csv", "csv"
        )
        result.rows[f"truth/{name}"] = len(truth[name])
        result.files[f"truth/{name}"] = path
    result.files["actions"] = _write.write_catalogue(out / CATALOGUE_FILE)
    result.seconds = time.perf_counter() - t0
    logger.info("synth: done in %.1f s (%d people, %d records)", result.seconds, n, n_records)
    return result
