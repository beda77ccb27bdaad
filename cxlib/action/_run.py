"""``run_action``: the next best action of every customer for the coming period (notebook 06).

Reads load → facts → cross-sell → touchpoints → eligibility → decision; every part that cannot
run says why and what to add (:attr:`ActionResult.skipped`), and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cxlib.action import _report
from cxlib.action._affinity import AffinityRules, category_affinity
from cxlib.action._catalogue import Catalogue, load_catalogue
from cxlib.action._categories import CategorisedPurchases, categorised_purchases
from cxlib.action._crosssell_eval import CrossSellEvaluation, choose_cross_sell_model
from cxlib.action._decide import CONTACT, LIFT_MODEL, Decision, decide
from cxlib.action._facts import CustomerFacts, customer_facts
from cxlib.action._touchpoints import TouchpointFunnel, campaign_funnel
from cxlib.action._upsell import cross_sell_export, up_sell_candidates
from cxlib.contract import ContractError
from cxlib.engine import Engine, analysis_day, as_table
from cxlib.report import Finding
from cxlib.result import QuestionResult

log = logging.getLogger(__name__)

#: The catalogue a data folder may hold when ``action.actions_file`` is not set.
CATALOGUE_FILE = "actions.yml"

#: Columns of ``next_best_action.csv``.
PLAN_EXPORT_COLUMNS: list[str] = [
    "customer_id",
    "action",
    "offer_id",
    "channel",
    "expected_value",
    "rule_id",
    "reason",
]


def action_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``action`` block of ``cx.yml`` with its defaults filled in."""
    from cxlib.config import resolve_options

    return resolve_options({"action": dict(options or {})})["action"]


def catalogue_path(actions_file: str | None, data_dir: str | Path | None) -> Path | None:
    """Where the offer catalogue is: ``action.actions_file`` (relative to the data folder),
    else ``actions.yml`` in the data folder when there is one, else None.

    Raises
    ------
    ContractError
        When ``actions_file`` is set and the file does not exist.
    """
    folder = Path(data_dir) if data_dir is not None and Path(data_dir).is_dir() else None
    if actions_file:
        path = Path(actions_file).expanduser()
        if not path.is_absolute() and folder is not None:
            path = folder / path
        if not path.is_file():
            raise ContractError(
                f"action.actions_file: {path} does not exist. Fix: write the offer catalogue "
                "there (example: data/sample/actions.yml) or correct the path in cx.yml.",
                file=str(path),
            )
        return path
    if folder is not None and (folder / CATALOGUE_FILE).is_file():
        return folder / CATALOGUE_FILE
    return None


def check_catalogue(config: Mapping[str, Any]) -> Catalogue | None:
    """Read the run's offer catalogue before any notebook runs: a broken ``actions.yml`` stops
    the run (exit 2) naming its line, instead of failing notebook 06 later."""
    block = config.get("action") or {}
    path = catalogue_path(block.get("actions_file"), config.get("data"))
    return None if path is None else load_catalogue(path)


@dataclass
class CrossSell:
    """The cross-sell part of the plan."""

    purchases: CategorisedPurchases
    affinity: AffinityRules | None = None
    evaluation: CrossSellEvaluation | None = None
    recommendations: pd.DataFrame | None = None
    up_sell: pd.DataFrame | None = None
    export: pd.DataFrame | None = None
    method: str | None = None


@dataclass
class ValueRange:
    """The plan's expected extra value at the ends of the campaign's measured effect.

    The contacts whose take-up comes from the uplift model are scaled by the 95% interval of
    the campaign arm's measured effect on conversion relative to its estimate
    (``uplift_readout.csv``: ``ci_low / abs_lift``, ``ci_high / abs_lift``); the contacts with an
    assumed take-up rate are held at it (an assumption has no interval).

    Attributes
    ----------
    low, high : float
        The plan's value at the low and high end.
    measured : float
        The part of the expected value that comes from model-based contacts.
    arms : DataFrame
        Per campaign arm used: ``arm``, ``abs_lift``, ``ci_low``, ``ci_high`` (conversion).
    """

    low: float
    high: float
    measured: float
    arms: pd.DataFrame

    @property
    def includes_nothing(self) -> bool:
        """True when the campaign's measured effect is not clearly above zero."""
        return bool((self.arms["ci_low"] <= 0).any())


def value_range(parts: ActionParts, output_dir: str | Path | None) -> ValueRange | None:
    """The plan's value range from the campaign's measured effect (None without model-based
    contacts or without notebook 04's readout)."""
    d, catalogue = parts.decision, parts.catalogue
    if d is None or catalogue is None or output_dir is None:
        return None
    path = Path(output_dir) / "exports" / "uplift_readout.csv"
    plan = d.plan.loc[(d.plan["action"] == CONTACT) & (d.plan["lift_source"] == LIFT_MODEL)]
    if plan.empty or not path.is_file():
        return None
    readout = pd.read_csv(path)
    readout = readout.loc[readout["outcome"] == "converted"].set_index("arm")
    arm_of = parts.facts.frame.set_index("customer_id")["uplift_arm"]
    arms = plan["customer_id"].map(arm_of)
    known = arms.isin(readout.index) & (arms.map(readout["abs_lift"]) > 0)
    if not known.all():
        return None
    value = plan["offer_id"].map({o.id: o.value_if_taken for o in catalogue.offers})
    gross = plan["lift"].to_numpy() * value.to_numpy()
    est = readout["abs_lift"]
    low = (arms.map(readout["ci_low"] / est)).to_numpy()
    high = (arms.map(readout["ci_high"] / est)).to_numpy()
    total = float(d.value_)
    used = readout.loc[sorted(set(arms))].reset_index()
    return ValueRange(
        low=total - float((gross * (1 - low)).sum()),
        high=total + float((gross * (high - 1)).sum()),
        measured=float(plan["expected_value"].sum()),
        arms=used[["arm", "abs_lift", "ci_low", "ci_high"]],
    )


@dataclass
class ActionParts:
    """What :func:`run_action` computed; the presentation lives in ``_report``."""

    as_of_date: pd.Timestamp
    options: dict[str, Any]
    currency: str
    min_group_size: int
    facts: CustomerFacts
    cross_sell: CrossSell
    funnel: TouchpointFunnel | None = None
    catalogue: Catalogue | None = None
    decision: Decision | None = None
    value_range: ValueRange | None = None
    skipped: dict[str, str] = field(default_factory=dict)


def _cross_sell(
    tables: Mapping[str, Any],
    *,
    as_of_date: pd.Timestamp,
    opts: Mapping[str, Any],
    engine: Engine,
    segments: Any,
    seed: int,
    skipped: dict[str, str],
) -> CrossSell:
    purchases = categorised_purchases(tables, category_column=opts["category_column"])
    part = CrossSell(purchases)
    if not purchases.available:
        skipped["cross_sell"] = f"the purchases have no category: {purchases.source}"
        return part
    table = purchases.table.filter(purchases.table.category.notnull())
    part.affinity = category_affinity(
        table, engine=engine, basket=opts["basket"], as_of_date=as_of_date
    )
    try:
        model, part.evaluation = choose_cross_sell_model(
            table,
            as_of_date=as_of_date,
            horizon_days=int(opts["evaluation_days"]),
            k=int(opts["cross_sell_k"]),
            engine=engine,
            seed=seed,
        )
    except ValueError as exc:  # no customer bought a new category in the evaluation window
        skipped["cross_sell"] = (
            f"the models cannot be judged out of time ({exc}); add more history or set a "
            "shorter `action.evaluation_days`"
        )
        return part
    part.method = model.method_
    part.recommendations = model.recommend(k=int(opts["cross_sell_k"]))
    if segments is not None:
        labels = segments.label_records(model.customers_)
        part.up_sell = up_sell_candidates(
            table, labels.dropna(), as_of_date=as_of_date, engine=engine
        )
    part.export = cross_sell_export(part.recommendations, part.up_sell)
    return part


def _with_cross_sell(facts: CustomerFacts, part: CrossSell) -> CustomerFacts:
    """The facts with each customer's first cross-sell category and its score."""
    if part.recommendations is None or part.recommendations.empty:
        for fact in ("cross_sell_category", "cross_sell_score"):
            facts.unavailable[fact] = "purchases with a category (see the cross-sell section)"
        return facts
    top = part.recommendations.loc[part.recommendations["rank"] == 1]
    top = top.set_index("customer_id")
    frame = facts.frame
    frame["cross_sell_category"] = frame["customer_id"].map(top["category"]).astype("str")
    frame["cross_sell_score"] = frame["customer_id"].map(top["score"]).astype("Float64")
    for fact in ("cross_sell_category", "cross_sell_score"):
        facts.sources[fact] = f"cross-sell model ({part.method})"
    return facts


def run_action_parts(
    data: Any,
    *,
    as_of_date: Any = None,
    options: Mapping[str, Any] | None = None,
    output_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    segments: Any = None,
    min_group_size: int = 10,
    seed: int = 42,
    currency: str = "",
) -> ActionParts:
    """Compute every part of the plan (see :func:`cxlib.action.run_action`)."""
    own = data.engine is None
    engine = Engine() if own else data.engine
    try:
        return _parts(
            data,
            engine=engine,
            as_of_date=as_of_date,
            opts=action_options(options),
            output_dir=output_dir,
            data_dir=data_dir,
            segments=segments,
            min_group_size=min_group_size,
            seed=seed,
            currency=currency,
        )
    finally:
        if own:
            engine.close()


def _parts(
    data: Any,
    *,
    engine: Engine,
    as_of_date: Any,
    opts: dict[str, Any],
    output_dir: str | Path | None,
    data_dir: str | Path | None,
    segments: Any,
    min_group_size: int,
    seed: int,
    currency: str,
) -> ActionParts:
    as_of = analysis_day(as_of_date if as_of_date is not None else data.as_of_date)
    tables = {
        name: table if name == "customers" else as_table(table, engine)
        for name, table in data.tables.items()
        if data.has(name)
    }
    skipped: dict[str, str] = {}
    if "transactions" not in tables:
        raise ValueError("run_action needs the transactions table")
    cross = _cross_sell(
        tables,
        as_of_date=as_of,
        opts=opts,
        engine=engine,
        segments=segments,
        seed=seed,
        skipped=skipped,
    )
    funnel = None
    if "events" in tables:
        funnel = campaign_funnel(
            tables["events"],
            as_of_date=as_of,
            roles=opts["touchpoint_roles"],
            min_group_size=min_group_size,
        )
    if funnel is None or funnel.empty:
        skipped["touchpoints"] = (
            "no campaign touchpoints (sends, opens, clicks, opt-outs) in the events; add them "
            "to events.csv, or name yours in `action.touchpoint_roles`"
        )
    facts = customer_facts(
        tables,
        as_of_date=as_of,
        output_dir=output_dir,
        segments=segments,
        period_days=int(opts["period_days"]),
        complaint_days=int(opts["complaint_days"]),
        touchpoint_roles=opts["touchpoint_roles"],
    )
    facts = _with_cross_sell(facts, cross)
    parts = ActionParts(
        as_of_date=as_of,
        options=opts,
        currency=currency,
        min_group_size=min_group_size,
        facts=facts,
        cross_sell=cross,
        funnel=funnel,
        skipped=skipped,
    )
    path = catalogue_path(opts["actions_file"], data_dir)
    if path is None:
        skipped["plan"] = (
            f"there is no offer catalogue; add {CATALOGUE_FILE} to the data folder or set "
            "`action.actions_file` in cx.yml (example: data/sample/actions.yml)"
        )
        return parts
    parts.catalogue = load_catalogue(path)
    parts.decision = decide(
        facts.frame,
        parts.catalogue,
        engine=engine,
        budget=opts["budget"],
        period_days=int(opts["period_days"]),
        opt_out_rates=None if funnel is None else funnel.opt_out_rate,
        max_contacts_per_customer=int(opts["max_contacts_per_period"]),
    )
    parts.value_range = value_range(parts, output_dir)
    return parts


class ActionResult(QuestionResult):
    """The next best action of every customer for the period (see :func:`run_action`).

    Attributes
    ----------
    parts : ActionParts
        What was computed: facts, cross-sell, touchpoint funnel, catalogue and decision.
    """

    def __init__(self, parts: ActionParts) -> None:
        self.parts = parts

    @property
    def skipped(self) -> dict[str, str]:
        """Part of the plan → why it could not run and what to add."""
        return self.parts.skipped

    @property
    def decision(self) -> Decision | None:
        """The plan and how it was chosen (None when the plan was skipped)."""
        return self.parts.decision

    def skip_fix(self) -> str | None:
        """The setting that lets a skipped plan run, for the index page."""
        if "plan" not in self.parts.skipped:
            return None
        return f"`{CATALOGUE_FILE}` in the data folder, or `action: {{actions_file: …}}` in cx.yml"

    def findings(self) -> list[Finding]:
        """The plan, who is left alone, the strongest category pair (headlines), the cross-sell
        model's out-of-time accuracy, the touchpoint funnel and the parts skipped."""
        return _report.action_findings(self.parts)

    def consenting(self, ids: pd.Series) -> pd.Series:
        """True for the ids whose marketing consent is known and true (unknown is never
        consent)."""
        consent = self.parts.facts.frame.set_index("customer_id")["marketing_consent"]
        return ids.map(consent).fillna(False).astype(bool)

    def exports(self) -> dict[str, pd.DataFrame]:
        """``next_best_action.csv`` and ``cross_sell.csv`` (consenting customers only) and
        ``campaign_touchpoints.csv`` (see docs/outputs.md)."""
        out: dict[str, pd.DataFrame] = {}
        d = self.parts.decision
        if d is not None:
            plan = d.plan.loc[self.consenting(d.plan["customer_id"])]
            out["next_best_action.csv"] = plan[PLAN_EXPORT_COLUMNS].reset_index(drop=True)
        cross = self.parts.cross_sell.export
        if cross is not None:
            kept = cross.loc[self.consenting(cross["customer_id"])]
            out["cross_sell.csv"] = kept.reset_index(drop=True)
        funnel = self.parts.funnel
        if funnel is not None:
            out["campaign_touchpoints.csv"] = funnel.table
        return out

    # -- display tables ------------------------------------------------------------------------
    def offers_table(self) -> pd.DataFrame:
        """Per offer: contacts, cost, expected value and where the take-up rate comes from."""
        return _report.offers_table(self.parts)

    def left_alone_table(self) -> pd.DataFrame:
        """Why customers are left alone."""
        return _report.left_alone_table(self.parts)

    def rules_table(self) -> pd.DataFrame:
        """The rules behind the most value."""
        return _report.rules_table(self.parts)

    def pairs_table(self) -> pd.DataFrame:
        """The category pairs of highest lift."""
        return _report.pairs_table(self.parts)

    def evaluation_table(self) -> pd.DataFrame:
        """The cross-sell models judged out of time."""
        return _report.evaluation_table(self.parts)

    def up_sell_table(self) -> pd.DataFrame:
        """Customers spending well below their segment's peers, per segment and category."""
        return _report.up_sell_table(self.parts)

    def funnel_table(self) -> pd.DataFrame:
        """The campaign touchpoint funnel."""
        return _report.funnel_table(self.parts)

    def facts_table(self) -> pd.DataFrame:
        """Every fact the rules may use and where it comes from."""
        return _report.facts_table(self.parts)

    def catalogue_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The catalogue's offers and rules."""
        return _report.catalogue_tables(self.parts)

    def method_markdown(self) -> str:
        """How the plan was made: facts, categories, defaults applied, the decision's solver and
        its assumptions."""
        return _report.method_markdown(self.parts)


def run_action(
    data: Any,
    *,
    as_of_date: Any = None,
    options: Mapping[str, Any] | None = None,
    output_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    segments: Any = None,
    min_group_size: int = 10,
    seed: int = 42,
    currency: str = "",
) -> ActionResult:
    """The next best action of every customer for the coming period.

    Parameters
    ----------
    data : SourceData
        ``transactions`` (needed), and ``events``, ``feedback``, ``customers``, ``products``
        when present (backend tables or pandas frames).
    as_of_date : date-like, optional
        Analysis date; default ``data.as_of_date``.
    options : mapping, optional
        The ``action`` block of ``cx.yml`` (docs/configuration.md).
    output_dir : path, optional
        The run folder, holding the exports of notebooks 03 and 04 (churn and uplift facts).
    data_dir : path, optional
        The data folder (where ``actions.yml`` is looked for).
    segments : SeriesSegments, optional
        The series' segments (:func:`cxlib.segment.series_segments`).
    min_group_size : int
        Smaller groups are not shown.
    seed : int
        Seed of the cross-sell models and their bootstrap.
    currency : str
        Prefix of money in sentences.

    Returns
    -------
    ActionResult
    """
    parts = run_action_parts(
        data,
        as_of_date=as_of_date,
        options=options,
        output_dir=output_dir,
        data_dir=data_dir,
        segments=segments,
        min_group_size=min_group_size,
        seed=seed,
        currency=currency,
    )
    return ActionResult(parts)
