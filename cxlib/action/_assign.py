"""The assignment behind the plan: at most one offer per customer, the most expected value under
caps and a budget.

The problem: binary ``x[j]`` for each candidate (customer, offer) pair ``j`` with expected
incremental value ``value[j] > 0`` and cost ``cost[j]``; maximise ``Σ value·x`` subject to

- each customer at most one pair (leaving alone is the zero option);
- each count cap (per offer, per channel, contacts in all): at most its number of pairs;
- the budget: ``Σ cost·x ≤ budget``.

:func:`exact_assignment` solves it as a mixed-integer programme (``scipy.optimize.milp``,
HiGHS, sparse constraints; only rows that can bind are written). Without the budget the
constraints are those of a transportation problem, whose linear relaxation is integral; the
budget row makes it a knapsack. HiGHS's presolve is off: on this structure it spent 28 of 48
seconds at 25,000 pairs probing the budget row, against 0.8 s in all without it.

:func:`greedy_assignment` is the fallback above a size limit: each pair is taken, in a given
order, when its customer is free and every cap and the budget have room. Three orders are run
and the best plan kept: by decreasing value; by decreasing value per unit of cost when the
budget may bind (the ratio rule); and by decreasing value net of the shadow prices of the caps
and the budget, priced by the linear relaxation on a sample of customers. The ratio rule alone
ignores the caps (26% below the optimum on a test instance where a cap on contacts and the
budget both bind; 0.06% with the prices). :func:`solve_assignment` runs both solvers where the
exact one runs, keeps the better and reports the gap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

EXACT_LIMIT = 100_000
"""Variables of the exact programme above which only the greedy rule runs (pairs, less those of
interchangeable customers). On a 2-CPU machine the exact
solver took 0.1-1.2 s at 6,000 pairs and 0.4-33 s at 25,000-30,000 pairs (the longer ones when
both the budget and the offers' caps bind)."""
TIME_LIMIT_S = 60.0
"""Time limit of the exact solver; at the limit its best solution is compared with the greedy."""
PRICE_SAMPLE = 20_000
"""Customers whose linear relaxation prices the caps and the budget for the greedy rule."""
MIP_REL_GAP = 1e-4
"""Relative gap at which the exact solver stops (HiGHS's default): its plan is worth at least
this share less than the optimum, which it bounds (:attr:`Assignment.mip_gap`)."""
MONEY_UNITS = 1_000_000
"""Money is compared with the budget in millionths, as integers: a plan's total cost is within
the budget exactly, not up to a rounding error of floating point."""


def money_units(amount: np.ndarray | float) -> np.ndarray:
    """Amounts as integer millionths (:data:`MONEY_UNITS`)."""
    return np.round(np.asarray(amount, dtype="float64") * MONEY_UNITS).astype("int64")


def total_cost(cost: np.ndarray, selected: np.ndarray) -> float:
    """The total cost of the selected pairs, summed exactly in millionths."""
    return int(money_units(cost)[selected].sum()) / MONEY_UNITS


@dataclass(frozen=True)
class CountCap:
    """A cap on the number of selected pairs of each group: ``group[j]`` is pair ``j``'s group
    (−1: none), ``caps[g]`` the most pairs of group ``g`` (``inf``: none)."""

    group: np.ndarray
    caps: np.ndarray
    name: str = "cap"


@dataclass(frozen=True)
class Assignment:
    """A solution: ``selected`` pairs (bool per pair) and how it was found.

    ``solver`` is ``exact`` or ``greedy``; ``gap`` is ``(exact − greedy) / exact`` where both
    ran (None otherwise); ``mip_gap`` the exact solver's own bound on its distance from the
    optimum.
    """

    selected: np.ndarray
    value: float
    solver: str
    greedy_value: float
    exact_value: float | None = None
    gap: float | None = None
    mip_gap: float | None = None
    seconds: float = 0.0


def solve_assignment(
    customer: np.ndarray,
    value: np.ndarray,
    cost: np.ndarray,
    *,
    caps: Sequence[CountCap] = (),
    budget: float | None = None,
    exact_limit: int = EXACT_LIMIT,
    time_limit: float = TIME_LIMIT_S,
) -> Assignment:
    """Choose at most one pair per customer, maximising value under the caps and the budget.

    Parameters
    ----------
    customer : array of int
        Each pair's customer (any integers; equal means the same customer).
    value, cost : array of float
        Each pair's expected incremental value (positive) and cost (not negative).
    caps : sequence of CountCap
        Count caps over groups of pairs (per offer, per channel, in all).
    budget : float, optional
        Most total cost; None: no budget.
    exact_limit : int
        Above this many variables of the exact programme (pairs, less those of interchangeable
        customers: see :func:`exact_assignment`) only the greedy rule runs (0: always greedy).
    time_limit : float
        Seconds the exact solver may take.

    Returns
    -------
    Assignment
    """
    start = time.perf_counter()
    customer = np.asarray(customer)
    value = np.asarray(value, dtype="float64")
    cost = np.asarray(cost, dtype="float64")
    greedy = greedy_assignment(customer, value, cost, caps=caps, budget=budget)
    greedy_value = float(value[greedy].sum())
    agg = _aggregate(customer, value, cost, caps) if len(value) and exact_limit > 0 else None
    if agg is None or len(agg["rep"]) > exact_limit:
        return Assignment(
            greedy, greedy_value, "greedy", greedy_value, seconds=time.perf_counter() - start
        )
    exact, mip_gap = exact_assignment(
        customer, value, cost, caps=caps, budget=budget, time_limit=time_limit, aggregated=agg
    )
    if exact is None:
        log.warning("exact solver found no solution in %.0f s: greedy plan kept", time_limit)
        return Assignment(
            greedy, greedy_value, "greedy", greedy_value, seconds=time.perf_counter() - start
        )
    exact_value = float(value[exact].sum())
    if abs(exact_value - greedy_value) <= 1e-9 * max(abs(exact_value), 1.0):
        greedy_value = exact_value  # the same value summed in another order
    gap = (exact_value - greedy_value) / exact_value if exact_value > 0 else 0.0
    best, solver = (exact, "exact") if exact_value >= greedy_value else (greedy, "greedy")
    return Assignment(
        best,
        max(exact_value, greedy_value),
        solver,
        greedy_value,
        exact_value,
        gap,
        mip_gap,
        time.perf_counter() - start,
    )


# ----------------------------------------------------------------------- greedy


def greedy_assignment(
    customer: np.ndarray,
    value: np.ndarray,
    cost: np.ndarray,
    *,
    caps: Sequence[CountCap] = (),
    budget: float | None = None,
) -> np.ndarray:
    """The greedy rule: pairs in order, each taken while its customer is free and every cap
    and the budget have room; the best plan of three orders (by value, by value per cost when
    the budget may bind, by value net of the caps' and budget's shadow prices when any binds).
    Ties keep the input order.

    Returns
    -------
    array of bool
        The selected pairs.
    """
    n = len(value)
    if n == 0:
        return np.zeros(0, dtype=bool)
    orders = [np.lexsort((np.arange(n), -value))]
    if budget is not None and float(cost.sum()) > budget:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(cost > 0, value / np.where(cost > 0, cost, 1.0), np.inf)
        orders.append(np.lexsort((np.arange(n), -value, -ratio)))
    _, cust = np.unique(customer, return_inverse=True)
    priced = _priced_order(cust, value, cost, caps, budget)
    if priced is not None:
        orders.append(priced)
    best, best_value = np.zeros(n, dtype=bool), -1.0
    for order in orders:
        chosen = _greedy_pass(order, cust, cost, caps, budget)
        total = float(value[chosen].sum())
        if total > best_value:
            best, best_value = chosen, total
    return best


def _priced_order(
    cust: np.ndarray,
    value: np.ndarray,
    cost: np.ndarray,
    caps: Sequence[CountCap],
    budget: float | None,
) -> np.ndarray | None:
    """Pairs by decreasing value net of the shadow prices of the caps and the budget, priced
    by the linear relaxation of the problem on at most :data:`PRICE_SAMPLE` customers (caps and
    budget scaled to their share); None when nothing but the customers binds."""
    from scipy import sparse
    from scipy.optimize import linprog

    n_customers = int(cust.max()) + 1
    keep, scale = np.arange(len(value)), 1.0
    if n_customers > PRICE_SAMPLE:
        sampled = np.zeros(n_customers, dtype=bool)
        sampled[np.random.default_rng(0).choice(n_customers, PRICE_SAMPLE, replace=False)] = True
        keep, scale = np.flatnonzero(sampled[cust]), PRICE_SAMPLE / n_customers
    sub = [CountCap(c.group[keep], c.caps * scale, c.name) for c in caps]
    rows, bounds, blocks = _constraint_rows(
        cust[keep], cost[keep], sub, None if budget is None else budget * scale
    )
    if all(b[0] == "customer" for b in blocks):
        return None
    result = linprog(
        -value[keep],
        A_ub=sparse.vstack(rows, format="csr"),
        b_ub=np.concatenate(bounds),
        bounds=(0, 1),
        method="highs",
    )
    if result.status != 0:
        return None
    prices = np.maximum(-result.ineqlin.marginals, 0.0)
    reduced = value.copy()
    start = 0
    for block, bound in zip(blocks, bounds, strict=True):
        price = prices[start : start + len(bound)]
        start += len(bound)
        if block[0] == "budget":
            reduced -= price[0] * cost
        elif block[0] == "cap":
            cap = caps[block[1]]
            of_group = np.zeros(len(cap.caps))
            of_group[block[2]] = price
            reduced -= np.where(cap.group >= 0, of_group[np.maximum(cap.group, 0)], 0.0)
    return np.lexsort((np.arange(len(value)), -value, -reduced))


def _greedy_pass(
    order: np.ndarray,
    cust: np.ndarray,
    cost: np.ndarray,
    caps: Sequence[CountCap],
    budget: float | None,
) -> np.ndarray:
    """One pass of the greedy rule in ``order``."""
    n = len(order)
    free = [True] * (int(cust.max()) + 1)
    left = [c.caps.astype("float64").tolist() for c in caps]
    groups = [c.group[order].tolist() for c in caps]
    room = np.inf if budget is None else int(money_units(budget))
    costs = money_units(cost)[order].tolist()
    customers = cust[order].tolist()
    taken = np.zeros(n, dtype=bool)
    for k in range(n):
        c = customers[k]
        if not free[c] or costs[k] > room:
            continue
        if any(g[k] >= 0 and lft[g[k]] < 1 for g, lft in zip(groups, left, strict=True)):
            continue
        free[c] = False
        room -= costs[k]
        for g, lft in zip(groups, left, strict=True):
            if g[k] >= 0:
                lft[g[k]] -= 1
        taken[k] = True
    chosen = np.zeros(n, dtype=bool)
    chosen[order[taken]] = True
    return chosen


# ----------------------------------------------------------------------- exact


def exact_assignment(
    customer: np.ndarray,
    value: np.ndarray,
    cost: np.ndarray,
    *,
    caps: Sequence[CountCap] = (),
    budget: float | None = None,
    time_limit: float = TIME_LIMIT_S,
    aggregated: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray | None, float | None]:
    """The optimal selection by ``scipy.optimize.milp`` (None when it finds no solution in
    ``time_limit``), and the solver's relative gap.

    Customers with the same pairs (the same values, costs and groups, as every customer
    eligible for the same offers of assumed lift has) are interchangeable: they form one type,
    and the programme counts the customers of each type given each pair (an integer up to the
    type's size) instead of one binary variable per customer and pair. The solution is the same;
    without it a catalogue of assumed take rates is a highly symmetric knapsack that HiGHS could
    not close in 60 s at 3,000 pairs. Only constraints that can bind are written.
    """
    from scipy import sparse
    from scipy.optimize import Bounds, LinearConstraint, milp

    if len(value) == 0:
        return np.zeros(0, dtype=bool), 0.0
    agg = _aggregate(customer, value, cost, caps) if aggregated is None else aggregated
    rep = agg["rep"]
    var_caps = [CountCap(c.group[rep], c.caps, c.name) for c in caps]
    rows, bounds, _ = _constraint_rows(
        agg["type"], cost[rep], var_caps, budget, agg["upper"], agg["size"]
    )
    if rows:
        result = milp(
            -value[rep],
            integrality=np.ones(len(rep)),
            bounds=Bounds(0, agg["upper"]),
            constraints=LinearConstraint(
                sparse.vstack(rows, format="csr"), -np.inf, np.concatenate(bounds)
            ),
            options={"presolve": False, "time_limit": time_limit, "mip_rel_gap": MIP_REL_GAP},
        )
        if result.x is None:
            return None, None
        if result.status != 0:
            log.warning("exact solver stopped early (%s)", result.message)
        counts, mip_gap = np.round(result.x).astype("int64"), getattr(result, "mip_gap", None)
    else:  # nothing binds: every variable at its most (each type has one pair)
        counts, mip_gap = agg["upper"].astype("int64"), 0.0
    chosen = _disaggregate(agg, counts)
    return _within_budget(chosen, value, cost, budget), mip_gap


def _aggregate(
    customer: np.ndarray, value: np.ndarray, cost: np.ndarray, caps: Sequence[CountCap]
) -> dict[str, np.ndarray]:
    """Customers grouped into types of identical pairs. Per variable (a type and a pair
    signature): ``type``, a representative pair ``rep``, ``upper`` (the type's size); per type
    its ``size``; per pair its variable ``var``, whether it is its customer's ``primary`` pair of
    that signature, and its customer's ``rank`` within the type."""
    n = len(value)
    columns = [value, cost, *[c.group.astype("float64") for c in caps]]
    _, sig = np.unique(np.column_stack(columns), axis=0, return_inverse=True)
    _, cust = np.unique(customer, return_inverse=True)
    order = np.lexsort((sig, cust))
    per_customer = np.bincount(cust)
    starts = np.cumsum(per_customer) - per_customer
    position = np.arange(n) - np.repeat(starts, per_customer)
    matrix = np.full((len(per_customer), int(per_customer.max())), -1, dtype="int64")
    matrix[cust[order], position] = sig[order]
    _, ctype, size = np.unique(matrix, axis=0, return_inverse=True, return_counts=True)
    ctype = ctype.ravel()
    n_sig = int(sig.max()) + 1
    key = ctype[cust].astype("int64") * n_sig + sig
    variables, var = np.unique(key, return_inverse=True)
    by_var = np.lexsort((np.arange(n), cust, var))
    first = np.ones(n, dtype=bool)
    first[1:] = (var[by_var][1:] != var[by_var][:-1]) | (cust[by_var][1:] != cust[by_var][:-1])
    primary = np.zeros(n, dtype=bool)
    primary[by_var[first]] = True
    rep = np.full(len(variables), -1, dtype="int64")
    rep[var[::-1]] = np.arange(n)[::-1]
    by_type = np.lexsort((np.arange(len(ctype)), ctype))
    type_start = np.cumsum(size) - size
    rank = np.empty(len(ctype), dtype="int64")
    rank[by_type] = np.arange(len(ctype)) - type_start[ctype[by_type]]
    var_type = variables // n_sig
    return {
        "type": var_type,
        "rep": rep,
        "upper": size[var_type].astype("float64"),
        "size": size.astype("float64"),
        "var": var,
        "primary": primary,
        "rank": rank[cust],
    }


def _disaggregate(agg: dict[str, np.ndarray], counts: np.ndarray) -> np.ndarray:
    """The pairs of a solution in counts per variable: within each type, the first customers
    (in order) take the first variable's pair, the next ones the next variable's, and so on."""
    var_type = agg["type"]
    order = np.lexsort((np.arange(len(var_type)), var_type))
    cumulative = np.cumsum(counts[order])
    type_total_before = np.zeros(len(order), dtype="int64")
    new_type = np.ones(len(order), dtype=bool)
    new_type[1:] = var_type[order][1:] != var_type[order][:-1]
    starts = np.flatnonzero(new_type)
    before = np.concatenate([[0], cumulative[:-1]])
    type_total_before[order] = np.repeat(before[starts], np.diff(np.append(starts, len(order))))
    offset = np.empty(len(order), dtype="int64")
    offset[order] = before
    offset -= type_total_before
    v = agg["var"]
    low = offset[v]
    return agg["primary"] & (agg["rank"] >= low) & (agg["rank"] < low + counts[v])


def _constraint_rows(
    customer: np.ndarray,
    cost: np.ndarray,
    caps: Sequence[CountCap],
    budget: float | None,
    upper: np.ndarray | None = None,
    limit: np.ndarray | None = None,
) -> tuple[list, list, list]:
    """The rows that can bind, their upper bounds and what each block of rows is:
    ``("customer",)``, ``("cap", k, groups)`` (cap ``k``'s groups in row order) or
    ``("budget",)``. ``upper``: each variable's most (default 1); ``limit``: each customer's
    most variables in all (default 1)."""
    from scipy import sparse

    n = len(cost)
    upper = np.ones(n) if upper is None else upper
    cols = np.arange(n)
    rows, bounds, blocks = [], [], []
    ids, cust, counts = np.unique(customer, return_inverse=True, return_counts=True)
    multi = counts[cust] > 1
    if multi.any():
        kept, row = np.unique(cust[multi], return_inverse=True)
        rows.append(
            sparse.csr_array((np.ones(int(multi.sum())), (row, cols[multi])), (len(kept), n))
        )
        bounds.append(np.ones(len(kept)) if limit is None else limit[ids[kept]])
        blocks.append(("customer",))
    for k, cap in enumerate(caps):
        inside = cap.group >= 0
        sizes = np.bincount(cap.group[inside], weights=upper[inside], minlength=len(cap.caps))
        binding = np.flatnonzero(sizes > cap.caps)
        if len(binding) == 0:
            continue
        position = np.full(len(cap.caps), -1)
        position[binding] = np.arange(len(binding))
        member = inside & (position[np.where(inside, cap.group, 0)] >= 0)
        rows.append(
            sparse.csr_array(
                (np.ones(int(member.sum())), (position[cap.group[member]], cols[member])),
                (len(binding), n),
            )
        )
        bounds.append(cap.caps[binding].astype("float64"))
        blocks.append(("cap", k, binding))
    if budget is not None and float((cost * upper).sum()) > budget:
        rows.append(sparse.csr_array(cost.reshape(1, -1)))
        bounds.append(np.array([float(budget)]))
        blocks.append(("budget",))
    return rows, bounds, blocks


def _within_budget(
    chosen: np.ndarray, value: np.ndarray, cost: np.ndarray, budget: float | None
) -> np.ndarray:
    """``chosen`` within the budget exactly (in millionths): the exact solver's tolerance may
    pass it by a hair; then the pairs of least value per cost are dropped until it holds."""
    if budget is None:
        return chosen
    units, limit = money_units(cost), int(money_units(budget))
    spent = int(units[chosen].sum())
    if spent <= limit:
        return chosen
    chosen = chosen.copy()
    picked = np.flatnonzero(chosen & (units > 0))
    order = picked[np.argsort(value[picked] / units[picked], kind="stable")]
    for j in order:
        if spent <= limit:
            break
        chosen[j] = False
        spent -= int(units[j])
    log.info("solution trimmed to the budget (solver tolerance)")
    return chosen
