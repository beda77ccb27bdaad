"""Synthetic retail loyalty data with known ground truth (``cx synth``).

:func:`generate` writes the contract tables (``customers``, ``transactions``, ``campaign``,
``events``, ``feedback`` and the reference table ``products``) and a ``truth/`` folder that no
notebook reads: ``customers.csv`` (per source record: the true person, latent segment, churn
probability and outcome, true uplift per offer arm), ``journeys.csv`` (planted journey
friction), ``defects.csv`` (planted data-quality defects), ``drivers.csv`` (true dropout
drivers), ``affinities.csv`` (the true lift of the planted pairs of product categories bought
together), ``next_category.csv`` (per customer, the probability of first buying each product
category in the last 56 days) and ``email_campaigns.csv`` (the true rates of the e-mail
campaigns' touchpoints). The generative model and its parameters are documented in
``docs/synthetic-data.md``.

The steps live in private modules: ``_params`` (the model's parameters and segments),
``_names`` (name, address and comment lists), ``_clock`` (weekly intensity and operational
time), ``_people`` (true people), ``_records`` (CRM records and duplicates), ``_purchases``
(BG/NBD purchasing and the churn truth), ``_baskets`` (purchase lines, products, planted
affinities and the next-category process), ``_feedback`` (service feedback and relationship
surveys), ``_email`` (e-mail campaign touchpoints), ``_truth`` (truth tables), ``_write``
(CSV/Parquet writing) and ``_generate`` (orchestration); and in :mod:`cxlib.synth.campaign`,
:mod:`cxlib.synth.journeys` and :mod:`cxlib.synth.defects`. Each step draws from its own child
of ``numpy.random.default_rng(seed)``, so output is identical for a seed and a change in one
step leaves the random streams of the others untouched.
"""

from __future__ import annotations

from cxlib.synth._feedback import make_relationship_surveys, make_service_feedback
from cxlib.synth._generate import TABLES, TRUTH_TABLES, SynthResult, generate
from cxlib.synth._params import END, SEGMENT_NAMES, SEGMENTS, START, Segment, segment_table
from cxlib.synth._people import make_people
from cxlib.synth._purchases import make_transactions
from cxlib.synth._records import make_records
from cxlib.synth._truth import drivers_table
from cxlib.synth._write import fixed_precision, write_table

__all__ = [
    "END",
    "SEGMENTS",
    "SEGMENT_NAMES",
    "START",
    "TABLES",
    "TRUTH_TABLES",
    "Segment",
    "SynthResult",
    "drivers_table",
    "fixed_precision",
    "generate",
    "make_people",
    "make_records",
    "make_relationship_surveys",
    "make_service_feedback",
    "make_transactions",
    "segment_table",
    "write_table",
]
