"""The contract's tables and columns (:data:`TABLES`), the error for input that breaks it and the
pandera schema accepted rows satisfy."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class ContractError(Exception):
    """Input that breaks the contract; the message names the file, the column and the fix."""

    def __init__(self, message: str, *, file: str | None = None, column: str | None = None):
        super().__init__(message)
        self.file = file
        self.column = column


@dataclass(frozen=True)
class Column:
    """A contract column: canonical name, kind and whether it is required."""

    name: str
    kind: str
    required: bool = False


@dataclass(frozen=True)
class TableSpec:
    """A contract table: its columns and the column that keys a customer."""

    name: str
    columns: tuple[Column, ...]
    description: str = ""
    customer_keyed: bool = True
    """False for reference data (``products``): no ``customer_id``, nothing personal."""
    unique: str | None = None
    """A column whose value names one row: a repeat is quarantined (first row kept)."""

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}


def _cols(required: Iterable[tuple[str, str]], optional: Iterable[tuple[str, str]]):
    return tuple(Column(n, k, True) for n, k in required) + tuple(
        Column(n, k, False) for n, k in optional
    )


TABLES: dict[str, TableSpec] = {
    "transactions": TableSpec(
        "transactions",
        _cols(
            [("customer_id", "id"), ("timestamp", "datetime"), ("amount", "float")],
            [
                ("transaction_id", "id"),
                ("channel", "str"),
                ("category", "str"),
                ("product_id", "str"),
                ("store_id", "str"),
                ("quantity", "float"),
                ("source_system", "str"),
            ],
        ),
        "One row per purchase (or refund: negative amount and negative quantity).",
    ),
    "customers": TableSpec(
        "customers",
        _cols(
            [("customer_id", "id")],
            [
                ("source_system", "str"),
                ("first_name", "str"),
                ("last_name", "str"),
                ("email", "str"),
                ("phone", "str"),
                ("postcode", "str"),
                ("address", "str"),
                ("birth_year", "int"),
                ("birth_date", "str"),
                ("signup_date", "datetime"),
                ("marketing_consent", "bool"),
                ("consent_date", "datetime"),
                ("churned", "bool"),
                ("churn_date", "datetime"),
            ],
        ),
        "One row per customer record; other columns are customer attributes.",
        unique="customer_id",
    ),
    "campaign": TableSpec(
        "campaign",
        _cols(
            [("customer_id", "id"), ("group", "str"), ("converted", "flag")],
            [
                ("campaign_id", "str"),
                ("sent_at", "datetime"),
                ("visited", "flag"),
                ("revenue", "float"),
            ],
        ),
        "One row per customer in a randomised campaign; other columns are pre-treatment covariates.",
    ),
    "events": TableSpec(
        "events",
        _cols(
            [("customer_id", "id"), ("timestamp", "datetime"), ("touchpoint", "str")],
            [
                ("channel", "str"),
                ("journey_id", "str"),
                ("value", "float"),
                ("campaign_id", "str"),
            ],
        ),
        "One row per touchpoint event (web, app, e-mail, store, call centre ...).",
    ),
    "feedback": TableSpec(
        "feedback",
        _cols(
            [("customer_id", "id"), ("timestamp", "datetime"), ("score", "float")],
            [
                ("touchpoint", "str"),
                ("journey_id", "str"),
                ("complaint", "bool"),
                ("comment", "str"),
            ],
        ),
        "One row per survey answer or complaint.",
    ),
    "products": TableSpec(
        "products",
        _cols(
            [("product_id", "str"), ("category", "str")],
            [("department", "str"), ("brand", "str"), ("price", "float")],
        ),
        "One row per product (reference data, no customer): gives transactions a `category` "
        "through their `product_id`.",
        customer_keyed=False,
        unique="product_id",
    ),
}


def schema(table: str, extra_columns: Iterable[str] = ()) -> Any:
    """The pandera schema that accepted rows of ``table`` satisfy (canonical names and dtypes)."""
    import pandera.pandas as pa

    dtypes = {
        "id": str,
        "str": str,
        "datetime": "datetime64[ns]",
        "float": float,
        "int": "Int64",
        "flag": "int64",
        "bool": "boolean",
    }
    checks = {"flag": [pa.Check.isin([0, 1])], "float": [pa.Check(np.isfinite, ignore_na=True)]}
    cols = {}
    for c in TABLES[table].columns:
        cols[c.name] = pa.Column(
            dtypes[c.kind],
            nullable=not c.required,
            required=c.required,
            checks=checks.get(c.kind, []),
            unique=(c.name == TABLES[table].unique),
        )
    for extra in extra_columns:
        cols[extra] = pa.Column(nullable=True, required=False)
    return pa.DataFrameSchema(cols, strict=False, name=table)
