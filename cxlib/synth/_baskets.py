"""Purchase lines: product categories, multi-line baskets with planted affinities, the
next-category process, and their truth (``truth/affinities.csv``, ``truth/next_category.csv``).

A line's ``category`` in ``transactions.csv`` is one of the eight departments of the segments'
mixes (:data:`~cxlib.synth._params.CATEGORIES`); its ``product_id`` belongs to one of 48
**product categories** (``products.csv`` ``category``, six per department,
:data:`~cxlib.synth._params.PRODUCT_TREE`). A person has a department mix (``p_cat_*``) and
weights of the product categories within each department (a Dirichlet around the categories'
shares within it, concentration ``CONC_WITHIN``).

Lines
-----
A purchase has ``L`` drawn lines (``LINES_P``, 1-4), plus one line per product category adopted
for it. A drawn line's department comes from the person's department mix and its product
category from their **active** product categories in that department, in proportion to their
weights (with replacement: two lines may share a category). Planted **affinity pairs**
``(a, b, phi)`` (``AFFINITY_PAIRS``, disjoint): when the first line is ``a``, the purchase has
2+ drawn lines and ``b`` is active, the second line is ``b`` with probability ``phi``. Every
other line is an independent draw, so other pairs have a lift near 1, moved only by how the
mixes differ between people (a transition ``a -> b`` below makes owners of ``a`` own ``b``).

The true lift of a pair over baskets, ``P(a and b) / (P(a) P(b))``, is computed from the
process: for every purchase, the exact probabilities that ``a``, ``b`` and both are among its
product categories, given the person's active categories, the number of drawn lines and its
adoption lines (:func:`_pair_probabilities`), summed over purchases.

Next-category process
---------------------
Time is counted in purchases (the person's purchase number j = 0, 1, ...). Each department has
one initial active product category, the one its first line will have, drawn in proportion to
the categories' shares within the department (nothing depends on it before that line, so it is
as if drawn then). Every other product category k is adopted at rate

    h_k = ADOPT_BASE * g_k + sum over the categories a bought so far of T[a, k]   (per purchase)

(``g``: the categories' popularity, summing to 1; ``T``: the planted transitions
``ADOPTION``; an initial category counts as bought from its department's first line):
competing exponential clocks in purchase-count time, re-drawn after each adoption and first
line in a department. A category adopted at ``tau`` gets its first line in purchase
``ceil(tau)`` and is drawn from then on. So while nothing else changes, a category that is not
active after purchase j is first bought within the next ``n`` purchases with probability
``1 - exp(-h_k * n)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxlib.synth._params import (
    ADOPT_BASE,
    ADOPT_DEPARTMENT,
    ADOPTION,
    AFFINITY_PAIRS,
    CATEGORIES,
    CONC_WITHIN,
    DEPARTMENT_MIN_SHARE,
    FIRST_BASKET_MIN_SHARE,
    LINES_P,
    NEXT_CATEGORY_MIN_P,
    NEXT_CATEGORY_TOP,
    PRODUCT_CATEGORIES,
    PRODUCT_DEPARTMENT,
    PRODUCT_UNIT_PRICE,
    PRODUCT_WITHIN_SHARE,
    PRODUCTS_PER_CATEGORY,
    SEGMENTS,
)

K = len(PRODUCT_CATEGORIES)
D = len(CATEGORIES)
_DEPT_START = np.flatnonzero(np.r_[True, np.diff(PRODUCT_DEPARTMENT) != 0])
_NEVER = np.iinfo(np.int32).max
_BLOCK = 1_000_000  # purchases per block in the lift sums (bounds temporary memory)
_PERSON_BLOCK = 50_000  # people per block in the next-category truth


def _index(name: str) -> int:
    return PRODUCT_CATEGORIES.index(name)


def product_catalogue() -> tuple[np.ndarray, np.ndarray]:
    """``(price, cum)``: the price of product ``i`` of each product category (categories x
    ``PRODUCTS_PER_CATEGORY``; the typical unit price times 0.55-1.8) and the cumulative
    popularity of a category's products (Zipf, exponent 0.8; the same in every category)."""
    n = PRODUCTS_PER_CATEGORY
    spread = np.exp(np.linspace(-0.6, 0.6, n))
    price = np.round(PRODUCT_UNIT_PRICE[:, None] * spread[None, :], 2)
    w = 1.0 / np.arange(1, n + 1) ** 0.8
    return price, np.cumsum(w) / w.sum()


def product_ids() -> np.ndarray:
    """Product ids ``SKU00001`` ... in product number order (category by category)."""
    n = K * PRODUCTS_PER_CATEGORY
    return np.char.add("SKU", np.char.zfill(np.arange(1, n + 1).astype(str), 5))


def products_table() -> pd.DataFrame:
    """``products.csv``: ``product_id, category`` (product category), ``department`` (the
    transactions' ``category``) and ``price``."""
    price, _ = product_catalogue()
    n = PRODUCTS_PER_CATEGORY
    cat = np.repeat(np.arange(K), n)
    return pd.DataFrame(
        {
            "product_id": pd.array(product_ids(), dtype="str"),
            "category": pd.array(np.asarray(PRODUCT_CATEGORIES)[cat], dtype="str"),
            "department": pd.array(np.asarray(CATEGORIES)[PRODUCT_DEPARTMENT[cat]], dtype="str"),
            "price": price.ravel(),
        }
    )


def pair_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(a, b, phi, source)`` of the planted affinity pairs; ``source[k]`` is the pair whose
    first category is ``k`` (-1 if none)."""
    a = np.array([_index(x) for x, _, _ in AFFINITY_PAIRS], dtype=np.int64)
    b = np.array([_index(y) for _, y, _ in AFFINITY_PAIRS], dtype=np.int64)
    phi = np.array([f for _, _, f in AFFINITY_PAIRS])
    if len(set(a.tolist()) | set(b.tolist())) != 2 * len(a):
        raise ValueError("affinity pairs must not share categories")
    source = np.full(K, -1, dtype=np.int64)
    source[a] = np.arange(len(a))
    return a, b, phi, source


def adoption_rates() -> tuple[np.ndarray, np.ndarray]:
    """``(base, T)``: the base adoption rate of each category (``ADOPT_BASE`` times its
    popularity) and the planted transition rates ``T[a, k]`` (per purchase)."""
    shares = np.array([s.share for s in SEGMENTS])
    dept = np.array([s.category for s in SEGMENTS])
    g = (shares @ dept)[PRODUCT_DEPARTMENT] * PRODUCT_WITHIN_SHARE
    t = np.zeros((K, K))
    for a, k, rate in ADOPTION:
        t[_index(a), _index(k)] += rate
    return ADOPT_BASE * g / g.sum(), t


def line_departments(mix: np.ndarray) -> np.ndarray:
    """The department shares of a person's drawn lines: their mix without the departments
    under ``DEPARTMENT_MIN_SHARE`` (which they never visit), renormalised."""
    top = np.zeros(mix.shape, dtype=bool)
    top[np.arange(len(mix)), np.argmax(mix, axis=1)] = True
    kept = np.where((mix >= DEPARTMENT_MIN_SHARE) | top, mix, 0.0)
    return kept / kept.sum(axis=1, keepdims=True)


def within_mix(c: int, rng: np.random.Generator) -> np.ndarray:
    """Each person's weights of the product categories within their department (a Dirichlet
    around the categories' shares within it, concentration ``CONC_WITHIN``): ``c`` x ``K``, the
    weights of each department summing to 1."""
    g = rng.gamma(np.maximum(PRODUCT_WITHIN_SHARE * CONC_WITHIN, 1e-3), size=(c, K))
    g = np.maximum(g, 1e-9)  # no weight exactly 0 (a Gamma draw can underflow)
    return g / np.add.reduceat(g, _DEPT_START, axis=1)[:, PRODUCT_DEPARTMENT]


def initial_categories(c: int, rng: np.random.Generator) -> np.ndarray:
    """The initial product category of each department (``c`` x ``D``), drawn in proportion to
    the categories' shares within the department."""
    u = rng.random((c, D))
    out = np.empty((c, D), dtype=np.int64)
    bounds = np.r_[_DEPT_START, K]
    for d in range(D):  # a loop over departments, vectorised over people
        lo, hi = bounds[d], bounds[d + 1]
        cum = np.cumsum(PRODUCT_WITHIN_SHARE[lo:hi]) / PRODUCT_WITHIN_SHARE[lo:hi].sum()
        out[:, d] = lo + np.minimum(np.searchsorted(cum, u[:, d], side="right"), hi - lo - 1)
    return out


def first_visits(person: np.ndarray, j: np.ndarray, dept: np.ndarray, c: int) -> np.ndarray:
    """The purchase number of each person's first drawn line in each department (``c`` x
    ``D``; ``_NEVER`` if none) from drawn lines ordered by person, then purchase."""
    out = np.full((c, D), _NEVER, dtype=np.int64)
    for d in range(D):
        sel = np.flatnonzero(dept == d)
        p = person[sel]
        first = np.r_[True, p[1:] != p[:-1]] if len(p) else np.zeros(0, dtype=bool)
        out[p[first], d] = j[sel][first]
    return out


def base_rates(department: np.ndarray) -> np.ndarray:
    """Each person's base adoption rate of each product category (``c`` x ``K``):
    ``ADOPT_BASE * g_k + ADOPT_DEPARTMENT * q_d * s_k`` (``q_d``: the person's share of the
    category's department, ``s_k``: its share within it)."""
    base, _ = adoption_rates()
    own = ADOPT_DEPARTMENT * department[:, PRODUCT_DEPARTMENT] * PRODUCT_WITHIN_SHARE
    return base[None, :] + own


def adopt(
    initial: np.ndarray,
    visit: np.ndarray,
    n_obs: np.ndarray,
    department: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adoptions up to each person's last observed purchase.

    Competing exponential clocks in purchase-count time, vectorised over people: each round
    either reaches the person's next first line in a department (whose initial category then
    adds its transitions) or adopts a category. Returns ``(person, category, tau)`` ordered by
    person, then ``tau``.
    """
    _, t = adoption_rates()
    c = len(n_obs)
    active = np.zeros((c, K), dtype=bool)
    active[np.arange(c)[:, None], initial] = True
    h = np.where(active, 0.0, base_rates(department))
    order = np.argsort(visit, axis=1, kind="stable")
    v_time = np.take_along_axis(visit, order, axis=1).astype(float)
    v_time[v_time >= _NEVER] = np.inf
    v_cat = np.take_along_axis(initial, order, axis=1)
    # the first lines at purchase 0 at once: their initial categories' transitions from 0
    at_start = visit == 0
    rows, dept = np.nonzero(at_start)
    np.add.at(h, rows, t[initial[rows, dept]])
    h[active] = 0.0
    ptr = at_start.sum(axis=1)
    tau = np.zeros(c)
    horizon = n_obs - 1.0
    live = np.flatnonzero(horizon > 0)
    found = []
    while len(live):
        cum = np.cumsum(h[live], axis=1)
        nxt = np.where(ptr[live] < D, v_time[live, np.minimum(ptr[live], D - 1)], np.inf)
        with np.errstate(divide="ignore"):
            cand = tau[live] + rng.standard_exponential(len(live)) / cum[:, -1]
        visits = nxt <= np.minimum(cand, horizon[live])
        v = live[visits]
        tau[v] = nxt[visits]
        h[v] = np.where(active[v], 0.0, h[v] + t[v_cat[v, ptr[v]]])
        ptr[v] += 1
        adopts = ~visits & (cand <= horizon[live])
        a, cum = live[adopts], cum[adopts]
        tau[a] = cand[adopts]
        k = (cum > (rng.random(len(a)) * cum[:, -1])[:, None]).argmax(axis=1)
        found.append((a, k, tau[a].copy()))
        active[a, k] = True
        h[a] = np.where(active[a], 0.0, h[a] + t[k])
        live = live[visits | adopts]
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    person, cat, when = (np.concatenate(x) for x in zip(*found, strict=True))
    order = np.argsort(person, kind="stable")  # rounds are in time order per person
    return person[order], cat[order], when[order]


@dataclass
class Baskets:
    """The lines of one chunk's purchases and what their truth needs.

    ``tx``/``cat``/``line``: per line, the purchase (row of the chunk's purchases), product
    category and line number (0 = first), ordered by purchase then line. Per purchase:
    ``n_mix`` (lines drawn from the mix) and ``n_lines``. Per person: ``dept`` (department
    mix), ``w`` (weights within departments) and ``act`` (purchase number from which each
    product category is active; ``_NEVER`` if not by the last purchase). ``trial_tx`` /
    ``trial_cat``: the adoption lines.
    """

    tx: np.ndarray
    cat: np.ndarray
    line: np.ndarray
    n_mix: np.ndarray
    n_lines: np.ndarray
    dept: np.ndarray
    w: np.ndarray
    act: np.ndarray
    trial_tx: np.ndarray
    trial_cat: np.ndarray
    key: np.ndarray  # the (person, department) groups' activation keys (_group_lists)
    cum: np.ndarray
    big: int
    first_cum: np.ndarray  # c x D: the weight of the department's initial category
    more: np.ndarray  # c x D: the department has more than one active category by the end

    def line_probabilities(
        self, rows: np.ndarray, j: np.ndarray, cats: list[int]
    ) -> dict[int, np.ndarray]:
        """P(a drawn line of person ``rows`` in their purchase ``j`` is product category
        ``k``), for each ``k`` of ``cats``: the department's share times ``k``'s weight over
        the weight of the department's active categories."""
        share = {}
        out = {}
        for k in cats:
            d = int(PRODUCT_DEPARTMENT[k])
            if d not in share:  # every (person, department) has an active category from 0
                mass = np.ascontiguousarray(self.first_cum[:, d])[rows]
                more = np.flatnonzero(np.ascontiguousarray(self.more[:, d])[rows])
                g = (rows[more] * D + d) * self.big + j[more]
                mass[more] = self.cum[np.searchsorted(self.key, g, side="right") - 1]
                share[d] = np.ascontiguousarray(self.dept[:, d])[rows] / mass
            w = np.ascontiguousarray(self.w[:, k])[rows]
            on = np.ascontiguousarray(self.act[:, k])[rows] <= j
            out[k] = w * on * share[d]
        return out


def _group_lists(w: np.ndarray, act: np.ndarray, big: int):
    """Active categories grouped by (person, department), in activation order: keys ``group *
    big + purchase number`` and ``group + cumulative weight`` (both sorted), category and the
    cumulative weight within the group (``group = person * D + department``)."""
    rows, cols = np.nonzero(act < _NEVER)
    group = rows * D + PRODUCT_DEPARTMENT[cols]
    key = group * big + act[rows, cols]
    order = np.argsort(key, kind="stable")
    rows, cols, key, group = rows[order], cols[order], key[order], group[order]
    cs = np.cumsum(w[rows, cols])
    first = np.searchsorted(group, group, side="left")
    cum = cs - np.where(first > 0, cs[np.maximum(first - 1, 0)], 0.0)
    return key, group + cum, cols, cum


def draw_index(
    cum: np.ndarray, rows: np.ndarray, u: np.ndarray, dtype: type = np.int64
) -> np.ndarray:
    """Categorical draw per element: ``cum`` holds per-row cumulative probabilities (n, k),
    ``rows`` each element's row, ``u`` its uniform draw; returns the indices as ``dtype``."""
    idx = np.zeros(len(u), dtype=dtype)
    for j in range(cum.shape[1] - 1):
        idx += u >= np.ascontiguousarray(cum[:, j])[rows]
    return idx


def make_baskets(
    department: np.ndarray,
    person: np.ndarray,
    n_obs: np.ndarray,
    rng: np.random.Generator,
) -> Baskets:
    """Product categories and lines of the observed purchases ``person`` (ordered by person,
    then time; ``n_obs`` per person) of one chunk of people with department (transaction
    category) mixes ``department``."""
    c, n = len(department), len(person)
    department = line_departments(department)
    w = within_mix(c, rng)
    initial = initial_categories(c, rng)
    starts = np.cumsum(n_obs) - n_obs
    j = np.arange(n) - starts[person]
    # the first purchase has a line in each main department (its initial category)
    r_person, r_dept = np.nonzero((department >= FIRST_BASKET_MIN_SHARE) & (n_obs > 0)[:, None])
    r_tx = starts[r_person]
    n_reveal = np.bincount(r_tx, minlength=n)
    n_drawn = 1 + (rng.random(n)[:, None] >= np.cumsum(LINES_P)[None, :-1]).sum(axis=1)
    n_mix = np.maximum(n_drawn - n_reveal, 0)
    mix_tx = np.repeat(np.arange(n), n_mix)
    mix_line = np.arange(len(mix_tx)) - np.repeat(np.cumsum(n_mix) - n_mix, n_mix)
    mix_dept = draw_index(np.cumsum(department, axis=1), person[mix_tx], rng.random(len(mix_tx)))
    visit = first_visits(person[mix_tx], j[mix_tx], mix_dept, c)
    visit[r_person, r_dept] = 0
    ad_person, ad_cat, ad_tau = adopt(initial, visit, n_obs, department, rng)
    j_trial = np.ceil(ad_tau).astype(np.int64)
    act = np.full((c, K), _NEVER, dtype=np.int32)
    act[np.arange(c)[:, None], initial] = 0
    act[ad_person, ad_cat] = j_trial
    big = int(n_obs.max(initial=0)) + 2
    key, cdf_key, cols, cum = _group_lists(w, act, big)
    # each drawn line: a product category among the active ones of its department
    g = person[mix_tx] * D + mix_dept
    last = np.searchsorted(key, g * big + j[mix_tx], side="right") - 1
    v = g + rng.random(len(mix_tx)) * cum[last]
    mix_cat = cols[np.minimum(np.searchsorted(cdf_key, v, side="right"), last)]
    # the partner of a planted pair's first category takes the second line
    _, pb, phi, source = pair_arrays()
    second = np.flatnonzero(mix_line == 1)
    pair = source[mix_cat[second - 1]]
    partner = pb[np.maximum(pair, 0)]
    tx2 = mix_tx[second]
    trig = (
        (pair >= 0)
        & (act[person[tx2], partner] <= j[tx2])
        & (rng.random(len(second)) < phi[np.maximum(pair, 0)])
    )
    mix_cat[second[trig]] = partner[trig]
    # first lines of the main departments and of adopted categories, after the drawn ones
    t_person = np.r_[r_person, ad_person]
    order = np.argsort(t_person, kind="stable")
    trial_tx = (starts[t_person] + np.r_[np.zeros(len(r_person), np.int64), j_trial])[order]
    trial_cat = np.r_[initial[r_person, r_dept], ad_cat][order]
    n_trial = np.bincount(trial_tx, minlength=n)
    n_lines = n_mix + n_trial
    first_line = np.cumsum(n_lines) - n_lines
    cat = np.empty(int(n_lines.sum()), dtype=np.int8)
    line = np.empty(len(cat), dtype=np.int8)
    cat[first_line[mix_tx] + mix_line] = mix_cat
    line[first_line[mix_tx] + mix_line] = mix_line
    rank = np.arange(len(trial_tx)) - np.searchsorted(trial_tx, trial_tx, side="left")
    pos = first_line[trial_tx] + n_mix[trial_tx] + rank
    cat[pos] = trial_cat
    line[pos] = n_mix[trial_tx] + rank
    return Baskets(
        tx=np.repeat(np.arange(n), n_lines),
        cat=cat,
        line=line,
        n_mix=n_mix,
        n_lines=n_lines,
        dept=department,
        w=w,
        act=act,
        trial_tx=trial_tx,
        trial_cat=trial_cat,
        key=key,
        cum=cum,
        big=big,
        first_cum=np.take_along_axis(w, initial, axis=1),
        more=np.add.reduceat(act < _NEVER, _DEPT_START, axis=1) > 1,
    )


def _pair_probabilities(
    ra: np.ndarray, rb: np.ndarray, rs: np.ndarray, fa: np.ndarray, lines: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P(a in basket), P(b in basket), P(both) from ``lines`` drawn lines (1-4).

    ``ra``/``rb``: per-line probabilities of ``a``/``b``; ``rs``: probability that the first
    line is another pair's first category *and* its partner takes the second line (then one
    free draw fewer); ``fa``: probability that ``a`` as first line brings ``b`` (0 unless 2+
    lines and ``b`` active). Conditioning on the first line::

        first = a:      a; b if partner (fa) else b among L-1 free draws
        first = b:      b; a among L-1 draws
        first = s:      (another pair's source with its partner) a, b among L-2 draws
        first = other:  a, b among L-1 draws
    """
    qa, qb, qab = 1.0 - ra, 1.0 - rb, np.maximum(1.0 - ra - rb, 0.0)
    n1, n2 = lines - 1, max(lines - 2, 0)
    ro = 1.0 - ra - rb - rs
    qa1, qb1, qa2, qb2 = qa**n1, qb**n1, qa**n2, qb**n2
    both1 = 1.0 - qa1 - qb1 + qab**n1
    both2 = 1.0 - qa2 - qb2 + qab**n2
    b_after_a = fa + (1.0 - fa) * (1.0 - qb1)
    p_a = ra + rb * (1.0 - qa1) + rs * (1.0 - qa2) + ro * (1.0 - qa1)
    p_b = ra * b_after_a + rb + rs * (1.0 - qb2) + ro * (1.0 - qb1)
    p_ab = ra * b_after_a + rb * (1.0 - qa1) + rs * both2 + ro * both1
    return p_a, p_b, p_ab


def lift_sums(b: Baskets, person: np.ndarray, n_obs: np.ndarray) -> np.ndarray:
    """Expected baskets holding ``a``, ``b`` and both, per planted pair (rows), summed over the
    chunk's purchases: shape ``(len(AFFINITY_PAIRS), 3)``."""
    pa_, pb_, phi, _ = pair_arrays()
    q = len(pa_)
    n = len(person)
    starts = np.cumsum(n_obs) - n_obs
    j = np.arange(n) - starts[person]
    trial = {}
    for k in np.unique(np.r_[pa_, pb_]):
        hit = np.zeros(n, dtype=bool)
        hit[b.trial_tx[b.trial_cat == k]] = True
        trial[int(k)] = hit
    out = np.zeros((q, 3))
    for lo in range(0, n, _BLOCK):
        sl = slice(lo, min(n, lo + _BLOCK))
        pr, jj, nm = person[sl], j[sl], b.n_mix[sl]
        r = b.line_probabilities(pr, jj, [int(k) for k in np.r_[pa_, pb_]])
        ra = [r[int(k)] for k in pa_]
        rb = [r[int(k)] for k in pb_]
        fa = [phi[i] * (b.act[pr, int(pb_[i])] <= jj) * (nm >= 2) for i in range(q)]
        r_all = sum(ra[i] * fa[i] for i in range(q))
        drawn = [nm == lines for lines in range(len(LINES_P) + 1)]
        for i in range(q):
            ta, tb = trial[int(pa_[i])][sl], trial[int(pb_[i])][sl]
            live = (ra[i] > 0) | (rb[i] > 0) | ta | tb  # elsewhere neither can be in the basket
            for lines, same in enumerate(drawn):
                at = np.flatnonzero(live & same)
                if lines == 0:  # no drawn line: only the first lines of new categories
                    p_a, p_b = ta[at].astype(float), tb[at].astype(float)
                    p_ab = p_a * p_b
                else:  # whole exponents per number of drawn lines
                    rs = r_all[at] - ra[i][at] * fa[i][at]
                    got = _pair_probabilities(ra[i][at], rb[i][at], rs, fa[i][at], lines)
                    p_a, p_b, p_ab = got
                    a_in, b_in = ta[at], tb[at]
                    p_ab = np.where(
                        a_in & b_in, 1.0, np.where(a_in, p_b, np.where(b_in, p_a, p_ab))
                    )
                    p_a = np.where(a_in, 1.0, p_a)
                    p_b = np.where(b_in, 1.0, p_b)
                out[i] += (p_a.sum(), p_b.sum(), p_ab.sum())
    return out


def next_category_truth(
    b: Baskets,
    person: np.ndarray,
    ts: np.ndarray,
    n_obs: np.ndarray,
    cut_s: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per person with a purchase from ``cut_s`` on: the probability of first buying each
    product category not bought before ``cut_s``, in the purchases they made from then on.

    With ``B`` the categories bought before the cut-off, ``n`` the person's purchases from it on
    (``e = n``, or ``n - 1`` counted from a first purchase after it), ``l`` the lines drawn in
    them, ``q_d`` the person's share of department ``d`` and ``h_k = ADOPT_BASE * g_k + sum over
    B of T[a, k]``:

    * in a department with a line before the cut-off, a category not active is first bought
      with probability ``1 - exp(-h_k * e)``; an active one (rare: its department's first line
      was an adoption) with ``1 - (1 - r_k)^l``, ``r_k`` its probability per drawn line;
    * in a department without one, the category of its first line is still open: ``k`` with
      probability ``s_k`` (its share within the department) if the department gets a line,
      ``V_d = 1 - (1 - q_d)^l``, so ``p = 1 - (1 - s_k V_d) (1 - (1 - s_k)(1 - exp(-h_k e)))``;
    * the partner ``b`` of an active ``a`` also comes with ``a``: ``(1 - P(2+ lines) r_a
      phi)^n`` multiplies its probability of not being bought.

    Adoptions inside the window, which would raise later rates, are left out (first order).
    Returns ``(person, product category, p)`` of the categories with ``p >=
    NEXT_CATEGORY_MIN_P``, at most ``NEXT_CATEGORY_TOP`` per person, ordered by person, then
    decreasing ``p``.
    """
    c = len(n_obs)
    before = ts < cut_s
    n_before = np.bincount(person[before], minlength=c)
    n_w = n_obs - n_before
    j_star = np.maximum(n_before - 1, 0)
    exposure = np.where(n_before > 0, n_w, n_w - 1).astype(float)
    line_before = before[b.tx]
    bought = np.zeros((c, K), dtype=bool)
    bought[person[b.tx[line_before]], b.cat[line_before]] = True
    lines_w = np.bincount(person[~before], weights=b.n_mix[~before], minlength=c)
    _, t = adoption_rates()
    pa_, pb_, phi, _ = pair_arrays()
    p2 = 1.0 - LINES_P[0]
    share = PRODUCT_WITHIN_SHARE
    people = np.flatnonzero(n_w > 0)
    out_p, out_k, out_v = [], [], []
    for lo in range(0, len(people), _PERSON_BLOCK):
        i = people[lo : lo + _PERSON_BLOCK]
        own_b = bought[i]
        visited = (np.add.reduceat(own_b, _DEPT_START, axis=1) > 0)[:, PRODUCT_DEPARTMENT]
        active = b.act[i] <= j_star[i, None]
        own = b.w[i] * active
        mass = np.add.reduceat(own, _DEPT_START, axis=1)[:, PRODUCT_DEPARTMENT]
        q = b.dept[i][:, PRODUCT_DEPARTMENT]
        r = np.where(active & visited, q * own / np.maximum(mass, 1e-300), 0.0)
        lw = lines_w[i, None]
        stay = (1.0 - r) ** lw
        for a, k, f in zip(pa_, pb_, phi, strict=True):
            stay[:, k] *= (1.0 - p2 * r[:, a] * f) ** n_w[i]
        rate = base_rates(b.dept[i])
        for a, k in zip(*np.nonzero(t), strict=True):  # the planted transitions (no BLAS)
            rate[:, k] += t[a, k] * own_b[:, a]
        adopt_p = -np.expm1(-rate * exposure[i, None])
        first_p = share[None, :] * (1.0 - (1.0 - q) ** lw)
        p = np.where(active, 1.0 - stay, adopt_p)
        p = np.where(visited, p, 1.0 - (1.0 - first_p) * (1.0 - (1.0 - share) * adopt_p))
        p[own_b] = 0.0
        top = np.argsort(-p, axis=1, kind="stable")[:, :NEXT_CATEGORY_TOP]
        val = np.take_along_axis(p, top, axis=1)
        keep = val >= NEXT_CATEGORY_MIN_P
        out_p.append(np.repeat(i, keep.sum(axis=1)))
        out_k.append(top[keep])
        out_v.append(val[keep])
    if not out_p:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(out_p), np.concatenate(out_k), np.concatenate(out_v)
