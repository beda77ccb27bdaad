"""The schema of ``cx.yml``: every key at every depth, the kinds of value it takes, its default.

The schema is one tree of :class:`Group` (a mapping with known keys) and :class:`Field` (a value)
nodes. :func:`check_config` validates a whole config against it: an unknown key anywhere is an
error naming the key's full path and the nearest valid key, a wrong type names the expected one.
Each question has a block (``audit``, ``segmentation``, ``churn``, ``uplift``, ``journeys``,
``action``)
holding its notebook's parameters (``param=True``) and the question's other options;
:func:`resolve_options` gives every block with its defaults filled in.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cxlib.contract import TABLE_NAMES, ContractError


@dataclass(frozen=True)
class Field:
    """A value: the kinds it may take (``integer``, ``number``, ``boolean``, ``text``, ``date``,
    ``mapping``, ``list``, ``null``), its default and a one-line meaning.

    ``values``: for a mapping with free keys or a list, the kinds of its values. ``param``: a
    block key that is also its notebook's parameter. ``shown``: the default as documented when
    the value alone does not say it (e.g. ``None`` meaning "latest data date").
    """

    kinds: tuple[str, ...]
    default: Any = None
    doc: str = ""
    values: tuple[str, ...] = ()
    param: bool = False
    shown: str | None = None


@dataclass(frozen=True)
class Group:
    """A mapping whose keys are ``fields``. ``label`` names its keys in the documentation when
    they are names (``<table>``); ``collapse`` documents the group as one row
    ``<path>.<label>.<parameter>``."""

    fields: Mapping[str, Field | Group] = field(default_factory=dict)
    doc: str = ""
    label: str = ""
    collapse: bool = False


Node = Field | Group

INT, NUM, BOOL, TEXT = ("integer",), ("number",), ("boolean",), ("text",)
OPT_TEXT, OPT_MAP = ("text", "null"), ("mapping", "null")


def _p(kinds: tuple[str, ...], default: Any, doc: str, **kw: Any) -> Field:
    """A block key that is also a parameter of the block's notebook."""
    return Field(kinds, default, doc, param=True, **kw)


#: Parameters every notebook of the series has (set by the runner).
COMMON_PARAMS: dict[str, Field] = {
    "data_dir": Field(TEXT, doc="data folder or URL"),
    "output_dir": Field(TEXT, doc="the run folder"),
    "as_of_date": Field(("date", "text", "null"), doc="analysis date"),
    "seed": Field(INT, 42, "random seed"),
    "min_group_size": Field(INT, 10, "smallest group shown"),
    "pseudonym_key": Field(OPT_TEXT, doc="key of the pseudonymous ids"),
    "config": Field(OPT_MAP, doc="merged into the run config the notebook gets"),
}

AUDIT = Group(
    {
        "consent_retention_months": _p(INT, 24, "consent older than this counts as expired"),
        "match_threshold": _p(
            NUM, 0.99, "Splink match probability from which two records are one person"
        ),
        "postcode_regex": Field(
            OPT_TEXT, None, "postcode format", shown="recognised from the data"
        ),
        "channel_synonyms": Field(
            OPT_MAP,
            None,
            "channel label → canonical channel key",
            values=TEXT,
            shown="`cxlib.features.CHANNEL_SYNONYMS`",
        ),
        "default_region": Field(
            TEXT, "GB", "country of phone numbers written without a country code"
        ),
        "refund_rule": Field(TEXT, "evidence", "which negative amounts are refunds"),
        "cancellation_prefix": Field(
            OPT_TEXT, "C", "`transaction_id` prefix of a cancellation (always a refund)"
        ),
    },
    doc="notebook 01, docs/audit.md",
)
SEGMENTATION = Group(
    {
        "lookback_days": _p(INT, 365, "look-back window for frequency and spend"),
        "k_min": _p(INT, 3, "fewest clusters tried"),
        "k_max": _p(INT, 8, "most clusters tried"),
        "n_bootstrap": _p(INT, 30, "resamples for the reported stability"),
        "migration_days": _p(INT, 90, "distance of the previous date for the migration matrix"),
    },
    doc="notebook 02, docs/segmentation.md",
)
CHURN = Group(
    {
        "horizon_days": _p(
            INT, 90, "a customer leaves when they make no purchase in this many days"
        ),
        "lookback_days": _p(INT, 365, "customers active in this window are scored"),
        "n_snapshots": _p(INT, 4, "labelled snapshots (the latest one tests the models)"),
        "n_bootstrap": _p(INT, 200, "resamples for the confidence intervals"),
        "segment_column": _p(
            OPT_TEXT, None, "customer attribute used as the segment", shown="RFM segment"
        ),
        "value_column": _p(OPT_TEXT, None, "contractual mode: attribute holding the value"),
        "duration_column": _p(OPT_TEXT, None, "contractual mode: attribute holding the tenure"),
        "action_list_size": _p(INT, 25, "customers in the action list"),
        "channel_roles": Field(
            OPT_MAP,
            None,
            "channel → role; purchases in channels with role `app` count as app use",
            values=TEXT,
            shown="app, ios, android, mobile → `app`",
        ),
    },
    doc="notebook 03, docs/churn.md",
)
UPLIFT = Group(
    {
        "control_arm": _p(
            OPT_TEXT,
            None,
            "name of the control group in the column `group`",
            shown="recognised by name (control, holdout, no e-mail …)",
        ),
        "expected_allocation": _p(OPT_MAP, None, "planned share per arm", values=NUM),
        "cost_per_contact": _p(
            ("number", "null"),
            None,
            "cost of contacting one customer",
            shown="assumed 1 (the report says so)",
        ),
        "value_per_conversion": _p(
            ("number", "null"),
            None,
            "value of one extra conversion",
            shown="assumed 40 (the report says so)",
        ),
        "n_bootstrap": _p(INT, 200, "resamples for the confidence intervals"),
        "n_folds": _p(INT, 5, "cross-fitting folds"),
        "covariates": Field(
            ("list", "null"),
            None,
            "campaign columns known before the send, used as covariates (exact names)",
            values=TEXT,
            shown="screened (docs/uplift.md)",
        ),
    },
    doc="notebook 04, docs/uplift.md",
)
JOURNEYS = Group(
    {
        "conversion_touchpoint": _p(TEXT, "purchase", "touchpoint that counts as a conversion"),
        "session_gap_minutes": _p(
            ("number", "null"),
            None,
            "inactivity gap that ends a journey when events carry no `journey_id`",
            shown="from the data",
        ),
        "collapse_repeats": _p(
            BOOL, True, "consecutive events at one touchpoint form one step (no friction)"
        ),
        "markov_order": _p(INT, 1, "order of the Markov attribution model"),
        "target_conversion": _p(
            ("number", "mapping", "null"),
            None,
            "target per journey type (a number or {type: rate})",
            values=NUM,
            shown="smooth-step benchmark",
        ),
        "value_per_conversion": _p(
            ("number", "mapping", "null"),
            None,
            "value of a conversion (a number or {type: value})",
            values=NUM,
            shown="mean conversion value",
        ),
        "channel_types": Field(
            OPT_MAP,
            None,
            "touchpoint or channel → `digital` / `human` (exact names)",
            values=TEXT,
            shown="built-in exact names (docs/journeys.md)",
        ),
        "contact_touchpoints": Field(
            ("list", "null"),
            None,
            "assisted-service contact touchpoints",
            values=TEXT,
            shown="human touchpoints but store/shop/branch visits",
        ),
        "contact_window_minutes": Field(NUM, 60, "window of a repeat contact"),
        "type_map": Field(
            OPT_MAP,
            None,
            "touchpoint → journey type name",
            values=TEXT,
            shown="first step past the entry touchpoints",
        ),
        "entry_touchpoints": Field(
            ("list", "null"),
            None,
            "touchpoints a journey passes on its way in (not its type)",
            values=TEXT,
            shown="home/landing pages (docs/journeys.md)",
        ),
        "fix_effort": Field(
            OPT_MAP, None, "journey type → effort to fix, e.g. low", values=TEXT, shown="not shown"
        ),
    },
    doc="notebook 05, docs/journeys.md",
)

ACTION = Group(
    {
        "actions_file": Field(
            OPT_TEXT,
            None,
            "offer catalogue and rules (docs/next-best-action.md); a relative path is read "
            "from the data folder",
            shown="`actions.yml` in the data folder, if any",
        ),
        "period_days": _p(INT, 7, "length of the plan's period (one action per customer)"),
        "budget": _p(
            ("number", "null"),
            None,
            "contact budget per period, in money",
            shown="no limit (the offers' caps only)",
        ),
        "max_contacts_per_period": Field(
            INT, 1, "campaign sends a customer may get per period, the plan's included"
        ),
        "cross_sell_k": _p(INT, 3, "categories recommended per customer"),
        "category_column": Field(
            TEXT,
            "category",
            "the category of a purchase: `category`, or a `products` column such as "
            "`department` (joined by `product_id`)",
        ),
        "basket": Field(
            TEXT, "transaction_id", "a basket is one `transaction_id`, or `day` (customer-day)"
        ),
        "evaluation_days": Field(
            INT, 56, "the out-of-time window the cross-sell models are judged on"
        ),
        "complaint_days": Field(INT, 30, "a complaint this recent is still open"),
        "touchpoint_roles": Field(
            OPT_MAP,
            None,
            "touchpoint → role (`sent`, `delivered`, `opened`, `clicked`, `visited`, "
            "`ordered`, `opted_out`), exact names",
            values=TEXT,
            shown="built-in exact names (docs/next-best-action.md)",
        ),
    },
    doc="notebook 06, docs/next-best-action.md",
)

#: Question block → the notebook it configures.
BLOCKS: dict[str, str] = {
    "audit": "01_data_audit",
    "segmentation": "02_segmentation",
    "churn": "03_churn",
    "uplift": "04_campaign_uplift",
    "journeys": "05_journey_prioritisation",
    "action": "06_next_best_action",
}
_BLOCK_GROUPS: dict[str, Group] = {
    "audit": AUDIT,
    "segmentation": SEGMENTATION,
    "churn": CHURN,
    "uplift": UPLIFT,
    "journeys": JOURNEYS,
    "action": ACTION,
}

TABLE = Group(
    {
        "file": Field(OPT_TEXT, None, "file name", shown="`<table>.csv` or `<table>.parquet`"),
        "columns": Field(OPT_MAP, {}, "rename map: your column → contract column", values=TEXT),
        "date_format": Field(OPT_TEXT, None, "format of the dates", shown="ISO 8601"),
        "row_id": Field(BOOL, False, "the file has no customer id: number the rows"),
        "delimiter": Field(
            OPT_TEXT,
            None,
            "column separator of a text file: one character, or comma, semicolon, tab, pipe, "
            "whitespace",
            shown="sniffed from the header",
        ),
    }
)


def _notebook_group(block: str) -> Group:
    params = {k: f for k, f in _BLOCK_GROUPS[block].fields.items() if f.param}
    return Group({**COMMON_PARAMS, **params})


#: The whole ``cx.yml``.
SCHEMA = Group(
    {
        "data": Field(TEXT, "data/sample", "folder, PostgreSQL URL or `spark:<path>`"),
        "out": Field(TEXT, "reports", "reports folder"),
        "as_of_date": Field(
            ("date", "text", "null"), None, "analysis date", shown="latest transaction/event date"
        ),
        "seed": Field(INT, 42, "random seed for every model and resample"),
        "min_group_size": Field(INT, 10, "groups of fewer customers are not shown"),
        "pseudonym_key": Field(
            OPT_TEXT, None, "key of the pseudonymous ids", shown="`$CX_PSEUDONYM_KEY`, else random"
        ),
        "prefix_ids_by_source_system": Field(BOOL, False, "prefix customer ids by source system"),
        "currency": Field(TEXT, "", "prefix for money in reports, e.g. £"),
        "tables": Group({t: TABLE for t in TABLE_NAMES}, "per table", label="<table>"),
        **_BLOCK_GROUPS,
        "notebooks": Group(
            {stem: _notebook_group(block) for block, stem in BLOCKS.items()},
            "per notebook stem: parameter overrides",
            label="<stem>",
            collapse=True,
        ),
        "only": Field(
            ("text", "integer", "list", "null"),
            None,
            "notebooks to run",
            values=("text", "integer"),
            shown="all",
        ),
        "cell_timeout_s": Field(NUM, 1800, "a cell running longer fails its notebook"),
        "spark_master": Field(
            OPT_TEXT,
            None,
            "Spark master of a `spark:` source",
            shown="`$CX_SPARK_MASTER`, else `local[2]`",
        ),
    }
)


def block_of(notebook: str) -> str | None:
    """The block configuring a notebook stem (None for a notebook outside the series)."""
    return next((b for b, stem in BLOCKS.items() if stem == notebook), None)


def block_parameters(block: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of a block's ``values`` that are parameters of the block's notebook."""
    fields = _BLOCK_GROUPS[block].fields
    return {k: copy.deepcopy(v) for k, v in values.items() if k in fields and fields[k].param}


def resolve_options(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every block with its defaults filled in: defaults, then the config's block, then the
    parameter overrides of the block's notebook (``notebooks.<stem>``, where ``-p`` goes)."""
    overrides = config.get("notebooks") or {}
    out: dict[str, dict[str, Any]] = {}
    for block, stem in BLOCKS.items():
        group = _BLOCK_GROUPS[block]
        opts = {k: copy.deepcopy(f.default) for k, f in group.fields.items()}
        opts.update(copy.deepcopy(dict(config.get(block) or {})))
        extra = overrides.get(stem) or {}
        opts.update({k: copy.deepcopy(v) for k, v in extra.items() if k in group.fields})
        out[block] = opts
    return out


# ----------------------------------------------------------------- validation


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _accepts(kinds: tuple[str, ...], value: Any) -> bool:
    kind = _kind(value)
    return kind in kinds or (kind == "integer" and "number" in kinds)


def _type_error(prefix: str, path: tuple[str, ...], kinds: tuple[str, ...], value: Any) -> str:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return f"{prefix}{'.'.join(path)}: expected {' or '.join(kinds)}, got {_kind(value)} ({shown})."


def _paths(
    node: Group, path: tuple[str, ...] = (), labelled: bool = False
) -> Iterator[tuple[tuple[str, ...], bool]]:
    """Every key's full path, and whether it passes through a group of names."""
    children = list(node.fields.values())
    same = node.label and all(c is children[0] for c in children)
    for key, child in node.fields.items():
        if same and key != next(iter(node.fields)):
            continue
        here = (*path, node.label if same else key)
        inner = labelled or bool(node.label)
        yield here, inner
        if isinstance(child, Group):
            yield from _paths(child, here, inner)


_ALL_PATHS = list(_paths(SCHEMA))


def _suggest(key: str, group: Group, path: tuple[str, ...]) -> str:
    """``did you mean '<nearest>'?``: the same key where it belongs, else a close key here,
    else a close key anywhere; or the valid keys here."""
    elsewhere = [(p, lab) for p, lab in _ALL_PATHS if p[-1] == key and p[:-1] != path]
    if not elsewhere:
        close = difflib.get_close_matches(key, [str(k) for k in group.fields], n=1, cutoff=0.6)
        if close:
            return f"did you mean '{close[0]}'?"
        names = sorted({p[-1] for p, _ in _ALL_PATHS})
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.8)
        elsewhere = [(p, lab) for p, lab in _ALL_PATHS if close and p[-1] == close[0]]
    if not elsewhere:
        return f"valid keys here: {', '.join(str(k) for k in group.fields)}."

    def score(item: tuple[tuple[str, ...], bool]) -> tuple[int, bool, int]:
        p, lab = item
        common = next((i for i, (a, b) in enumerate(zip(p, path, strict=False)) if a != b), None)
        return (min(len(p) - 1, len(path)) if common is None else common, not lab, -len(p))

    best = max(score(c) for c in elsewhere)
    found = [p for p, lab in elsewhere if score((p, lab)) == best][:3]
    if found[0][-1] == key and len(found[0]) == 1:
        return f"it belongs at the top level of the file: write `{key}: …` there."
    if found[0][-1] == key:  # the key exists, at another level: say where it belongs
        places = " or ".join(f"'{'.'.join(p[:-1])}'" for p in found)
        nested = "".join(f"{part}: {{" for part in found[0][:-1])
        example = f"{nested}{key}: …{'}' * (len(found[0]) - 1)}"
        return f"it belongs under {places}: write `{example}`."
    return "did you mean " + " or ".join(f"'{'.'.join(f)}'" for f in found) + "?"


def _check_group(value: Mapping, group: Group, path: tuple[str, ...], prefix: str) -> None:
    for key, item in value.items():
        here = (*path, str(key))
        node = group.fields.get(key) if isinstance(key, str) else None
        if node is None:
            raise ContractError(
                f"{prefix}{'.'.join(here)}: unknown key; {_suggest(str(key), group, path)}",
                file=prefix.rstrip(": ") or None,
            )
        _check_node(item, node, here, prefix)


def _check_node(value: Any, node: Node, path: tuple[str, ...], prefix: str) -> None:
    if isinstance(node, Group):
        if value is None:  # an empty block (`journeys:` with nothing under it)
            return
        if not isinstance(value, Mapping):
            raise ContractError(_type_error(prefix, path, ("mapping",), value))
        _check_group(value, node, path, prefix)
        return
    if not _accepts(node.kinds, value):
        raise ContractError(_type_error(prefix, path, node.kinds, value))
    if not node.values:
        return
    if isinstance(value, Mapping):
        items = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        items = []
    for key, item in items:
        if not _accepts(node.values, item):
            raise ContractError(_type_error(prefix, (*path, key), node.values, item))


def check_config(config: Mapping[str, Any], where: str | None = None) -> None:
    """Validate a config (or the mapping read from ``cx.yml``) against :data:`SCHEMA`.

    Parameters
    ----------
    config : mapping
        Settings, at any depth.
    where : str, optional
        The file the settings come from; messages start with it.

    Raises
    ------
    ContractError
        At the first unknown key (``<file>: tables.campaign.column: unknown key; did you mean
        'columns'?``) or value of the wrong type (``<file>: seed: expected integer, got text
        ('x').``).
    """
    _check_group(config, SCHEMA, (), f"{where}: " if where else "")


def _param_fields(name: str) -> list[Field]:
    notebooks = SCHEMA.fields["notebooks"]
    assert isinstance(notebooks, Group)
    found = [g.fields[name] for g in notebooks.fields.values() if name in g.fields]  # type: ignore[union-attr]
    return [f for f in found if isinstance(f, Field)]


def check_param(name: str, value: Any) -> None:
    """Validate a ``-p NAME VALUE`` notebook parameter: a parameter of some notebook of the
    series, with a value of its type.

    Raises
    ------
    ContractError
        For an unknown parameter (with the nearest one) or a value of the wrong type.
    """
    fields = _param_fields(name)
    if not fields:
        names = sorted({k for g in SCHEMA.fields["notebooks"].fields.values() for k in g.fields})  # type: ignore[union-attr]
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"parameters: {', '.join(names)}."
        raise ContractError(f"-p {name}: unknown notebook parameter; {hint}")
    if not any(_accepts(f.kinds, value) for f in fields):
        kinds = tuple(dict.fromkeys(k for f in fields for k in f.kinds))
        raise ContractError(_type_error("-p ", (name,), kinds, value))


# ----------------------------------------------------------------- documentation


def format_default(node: Node) -> str:
    """A key's default as docs/configuration.md shows it (the cell without its back-ticks)."""
    if isinstance(node, Group):
        return "{}"
    if node.shown is not None:
        return node.shown
    value = node.default
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else '""'
    return json.dumps(value)


def documented_keys() -> dict[str, str]:
    """Every key docs/configuration.md must list, as its full path (names of tables and
    notebooks as ``<table>``, ``<stem>``), with its default as documented."""
    out: dict[str, str] = {}

    def walk(group: Group, path: tuple[str, ...]) -> None:
        for key, node in group.fields.items():
            here = (*path, key)
            if isinstance(node, Group) and node.collapse:
                out[".".join((*here, node.label, "<parameter>"))] = "{}"
            elif isinstance(node, Group) and node.label:
                first = next(iter(node.fields.values()))
                assert isinstance(first, Group)
                walk(first, (*here, node.label))
            elif isinstance(node, Group):
                walk(node, here)
            else:
                out[".".join(here)] = format_default(node)

    walk(SCHEMA, ())
    return out
