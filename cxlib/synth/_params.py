"""Parameters of the generative model: window, segments, propensities, dropout drivers, rates.

The numbers in this module are the single source of the parameters documented in
``docs/synthetic-data.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

START = pd.Timestamp("2023-07-01")
END = pd.Timestamp("2025-06-30")
HORIZON_DAYS = 90

CHANNELS = ("store", "web", "app")
CATEGORIES = (
    "grocery",
    "convenience",
    "home",
    "toys",
    "fashion",
    "electronics",
    "beauty",
    "sports",
)
# The segments' mixes are over the eight CATEGORIES (a line's `category`, the department of its
# product); the products belong to the 48 product categories below (products.csv `category`),
# six per department in this order.
PRODUCT_TREE: tuple[tuple[str, tuple[tuple[str, float, float], ...]], ...] = (
    # department, ((product category, share within the department, typical unit price), ...)
    (
        "grocery",
        (
            ("fruit and veg", 0.24, 2.0),
            ("bakery", 0.18, 1.8),
            ("dairy", 0.20, 1.6),
            ("meat and fish", 0.15, 5.5),
            ("pasta and rice", 0.12, 1.4),
            ("cooking sauces", 0.11, 2.2),
        ),
    ),
    (
        "convenience",
        (
            ("soft drinks", 0.22, 1.5),
            ("snacks", 0.22, 1.3),
            ("confectionery", 0.18, 1.1),
            ("ready meals", 0.16, 4.0),
            ("coffee and tea", 0.14, 3.5),
            ("newspapers", 0.08, 1.8),
        ),
    ),
    (
        "home",
        (
            ("kitchenware", 0.20, 12.0),
            ("cleaning", 0.24, 3.0),
            ("bedding", 0.14, 25.0),
            ("furniture", 0.12, 90.0),
            ("garden", 0.16, 15.0),
            ("lighting", 0.14, 20.0),
        ),
    ),
    (
        "toys",
        (
            ("baby food", 0.13, 1.2),
            ("nappies", 0.14, 9.0),
            ("board games", 0.19, 18.0),
            ("building toys", 0.20, 25.0),
            ("dolls", 0.14, 15.0),
            ("outdoor toys", 0.20, 20.0),
        ),
    ),
    (
        "fashion",
        (
            ("womenswear", 0.26, 25.0),
            ("menswear", 0.20, 25.0),
            ("kidswear", 0.16, 12.0),
            ("shoes", 0.18, 40.0),
            ("accessories", 0.12, 15.0),
            ("underwear", 0.08, 8.0),
        ),
    ),
    (
        "electronics",
        (
            ("phones", 0.17, 300.0),
            ("phone accessories", 0.19, 15.0),
            ("laptops", 0.15, 500.0),
            ("computer accessories", 0.17, 25.0),
            ("games consoles", 0.12, 300.0),
            ("video games", 0.20, 40.0),
        ),
    ),
    (
        "beauty",
        (
            ("skincare", 0.22, 9.0),
            ("makeup", 0.20, 8.0),
            ("haircare", 0.20, 5.0),
            ("fragrance", 0.12, 35.0),
            ("shaving", 0.12, 6.0),
            ("vitamins", 0.14, 7.0),
        ),
    ),
    (
        "sports",
        (
            ("running", 0.20, 45.0),
            ("fitness equipment", 0.16, 35.0),
            ("cycling", 0.14, 40.0),
            ("swimwear", 0.12, 20.0),
            ("outdoor clothing", 0.20, 50.0),
            ("sports nutrition", 0.18, 15.0),
        ),
    ),
)
PRODUCT_CATEGORIES = tuple(c for _, cats in PRODUCT_TREE for c, _, _ in cats)
PRODUCT_DEPARTMENT = np.repeat(np.arange(len(CATEGORIES)), [len(c) for _, c in PRODUCT_TREE])
PRODUCT_WITHIN_SHARE = np.array([w for _, cats in PRODUCT_TREE for _, w, _ in cats])
PRODUCT_UNIT_PRICE = np.array([u for _, cats in PRODUCT_TREE for _, _, u in cats])
PRODUCTS_PER_CATEGORY = 12  # products.csv: this many products per product category
TIMES_OF_DAY = ("morning", "afternoon", "evening", "night")
# price multiplier per category (relative basket size of a purchase whose first line is there)
CATEGORY_PRICE_MULT = np.array([1.0, 0.55, 1.35, 1.0, 1.0, 1.7, 0.7, 1.15])


@dataclass(frozen=True)
class Segment:
    """Parameters of one latent behavioural segment (see ``docs/synthetic-data.md``)."""

    name: str
    share: float
    mean_interpurchase_days: float  # 1 / E[lam]
    lam_shape: float  # Gamma shape of lam within the segment (CV = 1/sqrt(shape))
    basket_median: float  # median of the person's average basket (GBP)
    channel: tuple[float, float, float]  # store, web, app (before removing app for non-users)
    p_app_user: float
    tod: tuple[float, float, float, float]  # morning, afternoon, evening, night
    weekend: float  # mean share of purchases on Saturday/Sunday (2/7 = 0.286 is neutral)
    category: tuple[float, ...]  # over CATEGORIES
    p_drop_typical: float  # p_drop of a typical member without complaint / low satisfaction
    satisfaction_mean: float  # mean latent satisfaction on 1..5
    age_mean: float


SEGMENTS: tuple[Segment, ...] = (
    Segment(
        name="Weekday morning app regulars",
        share=0.25,
        mean_interpurchase_days=8.0,
        lam_shape=5.0,
        basket_median=14.0,
        channel=(0.14, 0.06, 0.80),
        p_app_user=0.93,
        tod=(0.66, 0.14, 0.14, 0.06),
        weekend=0.12,
        category=(0.42, 0.34, 0.04, 0.02, 0.04, 0.02, 0.08, 0.04),
        p_drop_typical=0.005,
        satisfaction_mean=3.9,
        age_mean=34.0,
    ),
    Segment(
        name="Weekend store families",
        share=0.22,
        mean_interpurchase_days=14.0,
        lam_shape=5.0,
        basket_median=85.0,
        channel=(0.82, 0.12, 0.06),
        p_app_user=0.25,
        tod=(0.14, 0.60, 0.22, 0.04),
        weekend=0.66,
        category=(0.38, 0.04, 0.18, 0.22, 0.08, 0.02, 0.02, 0.06),
        p_drop_typical=0.012,
        satisfaction_mean=3.8,
        age_mean=41.0,
    ),
    Segment(
        name="Evening web bargain hunters",
        share=0.20,
        mean_interpurchase_days=18.0,
        lam_shape=5.0,
        basket_median=42.0,
        channel=(0.12, 0.74, 0.14),
        p_app_user=0.35,
        tod=(0.08, 0.14, 0.58, 0.20),
        weekend=0.30,
        category=(0.04, 0.04, 0.04, 0.02, 0.38, 0.22, 0.14, 0.12),
        p_drop_typical=0.020,
        satisfaction_mean=3.5,
        age_mean=29.0,
    ),
    Segment(
        name="Occasional big-ticket buyers",
        share=0.15,
        mean_interpurchase_days=65.0,
        lam_shape=5.0,
        basket_median=240.0,
        channel=(0.50, 0.46, 0.04),
        p_app_user=0.15,
        tod=(0.22, 0.48, 0.26, 0.04),
        weekend=0.45,
        category=(0.03, 0.02, 0.40, 0.04, 0.04, 0.42, 0.02, 0.03),
        p_drop_typical=0.050,
        satisfaction_mean=3.7,
        age_mean=47.0,
    ),
    Segment(
        name="Low-engagement drifters",
        share=0.18,
        mean_interpurchase_days=40.0,
        lam_shape=5.0,
        basket_median=26.0,
        channel=(0.86, 0.11, 0.03),
        p_app_user=0.08,
        tod=(0.30, 0.40, 0.24, 0.06),
        weekend=0.30,
        category=(0.38, 0.36, 0.06, 0.02, 0.08, 0.02, 0.05, 0.03),
        p_drop_typical=0.120,
        satisfaction_mean=3.1,
        age_mean=52.0,
    ),
)
SEGMENT_NAMES = tuple(s.name for s in SEGMENTS)

# Dirichlet / Beta concentrations of the person-level propensities around the segment means
# (larger = people closer to their segment's mean; these set how much segments overlap).
CONC_CHANNEL = 14.0
CONC_TOD = 14.0
CONC_CATEGORY = 16.0
CONC_WEEKEND = 18.0
BASKET_PERSON_SIGMA = 0.35  # sd of log(avg_basket) within a segment
AMOUNT_SIGMA = 0.45  # sd of log(amount / expected amount) per transaction

# Dropout drivers: logit(p_drop) = segment base + effects + N(0, P_DROP_NOISE_SD)
BETA_COMPLAINT = 1.0
BETA_LOW_SATISFACTION = 0.7  # satisfaction < LOW_SATISFACTION
BETA_NO_APP = 0.5
LOW_SATISFACTION = 2.5
P_DROP_NOISE_SD = 0.3

SATISFACTION_CONC = 6.0  # Beta concentration of (satisfaction - 1) / 4
COMPLAINT_INTERCEPT = -2.7  # logit P(complained) = intercept + slope * (3.5 - satisfaction)
COMPLAINT_SLOPE = 1.3

# Acquisition: share of people who were already customers when the window opens (first purchase
# in its first ACQ_EXISTING_DAYS days); the rest join uniformly until ACQ_LAST_DAYS before the end.
ACQ_EXISTING_SHARE = 0.40
ACQ_EXISTING_DAYS = 60
ACQ_LAST_DAYS = 45

# Records
SHARE_CRM_A = 0.70
SHARE_DUPLICATED = 0.03
DUP_SPLIT_PRIMARY = 0.70  # share of a duplicated person's purchases on their primary record
SHARE_IN_HOUSEHOLD = 0.10  # people who share surname + postcode with another person
SHARE_NAMESAKE = 0.01  # people who copy first name, surname and birth year of another person
CONSENT_RECORD = 0.92  # P(a consent record exists)
CONSENT_TRUE = 0.65  # P(consent given) overall (so 0.65 / 0.92 among records)

# Transactions
REFUND_RATE = 0.015
HOME_STORE_SHARE = 0.85
N_STORES = 40

# Purchase lines (cxlib.synth._baskets). A purchase has 1-4 lines drawn from the person's mix
# (LINES_P: P(1), ..., P(4) drawn lines): the department (the line's `category`) from their
# department mix, the product category from their active ones in that department. The first
# purchase also has a line in each department of at least FIRST_BASKET_MIN_SHARE of their mix,
# and a purchase a line per product category adopted for it. The amount of a purchase is split
# over its lines.
LINES_P = (0.56, 0.24, 0.13, 0.07)
FIRST_BASKET_MIN_SHARE = 0.05
DEPARTMENT_MIN_SHARE = 0.03  # departments below this share of a person's mix get no lines
CONC_WITHIN = 4.0  # Dirichlet concentration of a person's product-category weights
LINE_SPLIT_SHAPE = 2.0  # Gamma shape of a line's share of the amount (times unit price^0.3)
# Planted affinities (a, b, phi): when the first line of a purchase with 2+ drawn lines is
# product category a and b is active for the person, the second line is b with probability phi
# (else drawn from the mix). A product category is in at most one pair.
AFFINITY_PAIRS: tuple[tuple[str, str, float], ...] = (
    ("baby food", "nappies", 0.50),
    ("games consoles", "video games", 0.60),
    ("phones", "phone accessories", 0.60),
    ("running", "sports nutrition", 0.60),
    ("garden", "outdoor toys", 0.50),
    ("coffee and tea", "bakery", 0.90),
    ("cleaning", "kitchenware", 0.40),
    ("womenswear", "skincare", 0.20),
    ("menswear", "shaving", 0.20),
)

# Next-category process (cxlib.synth._baskets). Each department has one initial active
# product category (drawn by the categories' shares within it); every other one is adopted at a
# rate per purchase of ADOPT_BASE * its popularity + ADOPT_DEPARTMENT * the person's share of
# its department * its share within it + the ADOPTION rates (a -> k) of the categories a the
# person has bought. An adopted category's first line is in the next purchase; it is drawn from
# then on.
ADOPT_BASE = 0.03
ADOPT_DEPARTMENT = 0.1
ADOPTION: tuple[tuple[str, str, float], ...] = (
    ("baby food", "nappies", 0.15),
    ("nappies", "baby food", 0.09),
    ("games consoles", "video games", 0.15),
    ("laptops", "computer accessories", 0.12),
    ("phones", "phone accessories", 0.12),
    ("running", "sports nutrition", 0.09),
    ("fitness equipment", "sports nutrition", 0.075),
    ("furniture", "lighting", 0.09),
    ("garden", "outdoor toys", 0.075),
    ("kidswear", "building toys", 0.075),
    ("skincare", "fragrance", 0.075),
    ("womenswear", "accessories", 0.06),
    ("cycling", "outdoor clothing", 0.075),
    ("coffee and tea", "confectionery", 0.06),
    ("ready meals", "newspapers", 0.06),
    ("meat and fish", "cooking sauces", 0.06),
    ("cleaning", "kitchenware", 0.045),
    ("haircare", "shaving", 0.045),
)
NEXT_CATEGORY_DAYS = 56  # truth/next_category.csv: first purchases in the last 56 days
NEXT_CATEGORY_MIN_P = 0.01  # rows with at least this probability ...
NEXT_CATEGORY_TOP = 10  # ... and at most this many per customer (the most likely)

# E-mail campaigns (cxlib.synth._email), each sent on one day to a random share of the
# contactable customers (consent, an e-mail address, bought before, not opted out earlier):
# (days before the data end, share targeted, open rate, click rate, opt-out rate), the rates
# as shares of the e-mails sent for a typical recipient; the campaign id is EM-<year>-<month>.
EMAIL_CAMPAIGNS: tuple[tuple[int, float, float, float, float], ...] = (
    (139, 0.60, 0.34, 0.060, 0.004),
    (83, 0.70, 0.28, 0.045, 0.007),
    (20, 0.60, 0.38, 0.075, 0.003),
)
EMAIL_DELIVERY = 0.97  # P(delivered | sent)
EMAIL_REOPEN = 0.35  # openers who open the e-mail again (once or twice more)
# logit P(open | delivered) = logit(open rate / delivery) + engagement, with engagement
# = 0.6 * (satisfaction - 3.5) + 0.4 * app user - 1.0 * [no purchase in the 120 days before]
EMAIL_SAT_EFFECT = 0.6
EMAIL_APP_EFFECT = 0.4
EMAIL_LAPSED_EFFECT = -1.0
EMAIL_LAPSED_DAYS = 120
# P(click | opened) = click rate / open rate; P(opt-out | opened) = opt-out rate / open rate *
# exp(-0.5 * (satisfaction - 3.5)): the dissatisfied unsubscribe more
EMAIL_OPTOUT_SAT_EFFECT = -0.5

# Service feedback
SURVEY_RATE = 0.03  # surveys per observed purchase
SURVEY_SCORE_SD = 1.2

# Relationship survey: every RELATIONSHIP_WAVE_MONTHS months a random RELATIONSHIP_INVITE_SHARE
# of the people who have bought by then is e-mailed an "overall satisfaction" survey (0-10).
# logit P(answer) = intercept + slope * (3.5 - satisfaction) - penalty * (already dropped out):
# dissatisfied customers answer more often (about 35% at satisfaction 2 vs 14% at 4.5 among
# active ones), lapsed ones less (they no longer read the shop's e-mails).
RELATIONSHIP_WAVE_MONTHS = 3
RELATIONSHIP_INVITE_SHARE = 0.5
RELATIONSHIP_RESPONSE_INTERCEPT = -1.35
RELATIONSHIP_RESPONSE_SLOPE = 0.5
RELATIONSHIP_DROPPED_PENALTY = 1.0
RELATIONSHIP_ANSWER_DAYS = 14  # answers come in over this many days after the invitation
RELATIONSHIP_SCORE_SD = 1.0


# --------------------------------------------------------------------------------------------
# Segments
# --------------------------------------------------------------------------------------------


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.log(p / (1.0 - p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def segment_table() -> pd.DataFrame:
    """The segment parameters as a DataFrame (one row per segment, index = segment_idx)."""
    rows = []
    for i, s in enumerate(SEGMENTS):
        row = {
            "segment_idx": i,
            "latent_segment": s.name,
            "share": s.share,
            "mean_interpurchase_days": s.mean_interpurchase_days,
            "lam_shape": s.lam_shape,
            "basket_median": s.basket_median,
            "p_app_user": s.p_app_user,
            "weekend": s.weekend,
            "p_drop_typical": s.p_drop_typical,
            "p_drop_base_logit": segment_base_logit(i),
            "satisfaction_mean": s.satisfaction_mean,
            "age_mean": s.age_mean,
        }
        row.update({f"channel_{c}": v for c, v in zip(CHANNELS, s.channel, strict=True)})
        row.update({f"tod_{t}": v for t, v in zip(TIMES_OF_DAY, s.tod, strict=True)})
        row.update({f"cat_{c}": v for c, v in zip(CATEGORIES, s.category, strict=True)})
        rows.append(row)
    return pd.DataFrame(rows).set_index("segment_idx")


def segment_base_logit(idx: int) -> float:
    """Segment base of logit(p_drop): a typical member (no complaint, satisfied) has
    ``p_drop_typical``; members without the app add ``BETA_NO_APP`` on top."""
    s = SEGMENTS[idx]
    # typical member uses the app with probability p_app_user
    return float(_logit(s.p_drop_typical) - BETA_NO_APP * (1.0 - s.p_app_user))
