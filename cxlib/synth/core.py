"""Core of the synthetic retail loyalty population: people, CRM records, purchases, service feedback.

Everything is vectorised with numpy/pandas (no Python loop over people or transactions) and driven
by one :class:`numpy.random.Generator` per step, so that the same seed gives the same data. The
generative model and every parameter are documented in ``docs/synthetic-data.md``; the numbers in
this module are the single source of those parameters.

Time is handled as float days since ``ANCHOR`` (a Monday). Each person buys as a Poisson process
whose intensity follows a weekly pattern (their weekend share and time-of-day shares), with average
rate ``lam`` purchases per day; after every *repeat* purchase they drop out for good with
probability ``p_drop`` (the BG/NBD story of Fader, Hardie & Lee, 2005). The process is simulated in
"operational time" (the integrated intensity), where it is a unit-rate Poisson process, and mapped
back to calendar time through the inverse of the person's integrated intensity.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

logger = logging.getLogger(__name__)

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
TIMES_OF_DAY = ("morning", "afternoon", "evening", "night")
# price multiplier per category (relative basket size) and typical unit price (for quantity)
CATEGORY_PRICE_MULT = np.array([1.0, 0.55, 1.35, 1.0, 1.0, 1.7, 0.7, 1.15])
CATEGORY_UNIT_PRICE = np.array([3.0, 2.5, 14.0, 12.0, 22.0, 90.0, 8.0, 25.0])


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
# Name, address and contact lists (synthetic; treat generated records as PII all the same)
# --------------------------------------------------------------------------------------------

FIRST_NAMES = (
    "Oliver James William Jack Harry George Thomas Charlie Joshua Daniel Samuel Joseph Henry "
    "Alexander Benjamin Matthew David Michael Robert Richard Christopher Andrew Edward Jonathan "
    "Nicholas Anthony Stephen Peter Paul Mark Simon Timothy Kenneth Gregory Frederick Philip "
    "Lawrence Nathan Zachary Leo Oscar Archie Freddie Arthur Noah Ethan Lucas Mason Logan Isaac "
    "Jacob Dylan Ryan Adam Luke Callum Liam Kieran Connor Jamie Lewis Aaron Ben Toby Max Sebastian "
    "Theo Finley Reuben Elliot Patrick Sean Gary Wayne Keith Colin Ian Graham Martin Neil Trevor "
    "Barry Derek Raymond Dennis Mohammed Ali Hassan Omar Yusuf Arjun Rohan Ravi Sanjay Vikram "
    "Olivia Amelia Isla Ava Emily Sophie Grace Lily Freya Charlotte Jessica Ella Evie Poppy Ruby "
    "Chloe Isabella Mia Daisy Holly Elizabeth Katherine Margaret Rebecca Samantha Jennifer Victoria "
    "Susan Deborah Patricia Christine Alexandra Abigail Catherine Eleanor Hannah Lucy Laura Sarah "
    "Emma Rachel Amy Lauren Megan Bethany Natalie Zoe Kirsty Gemma Hayley Nicola Claire Joanne "
    "Karen Julie Helen Alison Fiona Linda Janet Gillian Pauline Sandra Tracey Maureen Angela "
    "Fatima Aisha Zainab Priya Anjali Sunita Niamh Siobhan Aoife Morag Eilidh Carys Ffion Seren "
    "Rhys Dafydd Gareth Owain Hamish Angus Fraser Ewan Declan Ciaran"
).split()

LAST_NAMES = (
    "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson "
    "Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood "
    "Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James "
    "Scott Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter "
    "Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson "
    "Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt "
    "Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker "
    "Fisher Stevens Jenkins Murray Dixon Harvey Graham Pearson Ahmed Fletcher Walsh Kaur Gibson "
    "Howard Andrews Stewart Elliott Reynolds Saunders Payne Fox Ford Pearce Day Brooks West "
    "Lawrence Cole Atkinson Bradley Spencer Gill Dawson Ball Burton O'Brien Watts Rose Booth Perry "
    "Ryan Grant Wells Armstrong Francis Rees Hayes Hart Hudson Newman Barrett Webster Hunter "
    "Gregory Carr Lowe Page Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland Hawkins "
    "Harding Porter Robertson Newton Oliver Reed Kennedy Williamson Bird Gardner Shah Dean Lane "
    "Cooke Bates Henderson Parry Burgess Bishop Walton Burns Nicholson Shepherd Ross Cross Long "
    "Freeman Warren Nicholls Hamilton Byrne Sutton McDonald Yates Hodgson Robson Curtis Hopkins "
    "O'Connor Harper Coleman Watkins Moss McCarthy Chambers O'Neill Griffin Sharp Hardy Wheeler "
    "Potter Osborne Johnston Gordon Doyle Wallace George Jordan Hutchinson Rowe Burke May Pritchard "
    "Gilbert Willis Higgins Read Miles Stevenson Stephenson Hammond Arnold Buckley Walters Hewitt "
    "Barber Nelson Slater Austin Sullivan Whitehead Mann Frost Lambert Stephens Blake Akhtar Lynch "
    "Goodwin Barton Woodward Thomson Cunningham Quinn Barnett Baxter Bibi Clayton Nash Greenwood"
).split()

NICKNAMES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bob", "Rob", "Bobby"),
    "William": ("Bill", "Will", "Billy"),
    "Elizabeth": ("Liz", "Beth", "Lizzie"),
    "Katherine": ("Kate", "Katie", "Kath"),
    "Catherine": ("Cathy", "Kate", "Cath"),
    "Margaret": ("Maggie", "Peggy", "Meg"),
    "James": ("Jim", "Jamie", "Jimmy"),
    "Michael": ("Mike", "Mick"),
    "Thomas": ("Tom", "Tommy"),
    "Richard": ("Rich", "Rick", "Dick"),
    "Christopher": ("Chris", "Kit"),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Anthony": ("Tony", "Ant"),
    "Jennifer": ("Jen", "Jenny"),
    "Rebecca": ("Becky", "Becca"),
    "Samantha": ("Sam", "Sammy"),
    "Alexander": ("Alex", "Xander"),
    "Benjamin": ("Ben", "Benji"),
    "Jonathan": ("Jon", "Jonny"),
    "Nicholas": ("Nick", "Nicky"),
    "Joseph": ("Joe", "Joey"),
    "Edward": ("Ed", "Ted", "Eddie"),
    "Andrew": ("Andy", "Drew"),
    "Stephen": ("Steve", "Stevie"),
    "Victoria": ("Vicky", "Tori"),
    "Susan": ("Sue", "Susie"),
    "Deborah": ("Debbie", "Deb"),
    "Patricia": ("Pat", "Trish"),
    "Christine": ("Chris", "Chrissie"),
    "Alexandra": ("Alex", "Lexi"),
    "Jessica": ("Jess", "Jessie"),
    "Charlotte": ("Charlie", "Lottie"),
    "Abigail": ("Abby", "Abi"),
    "Peter": ("Pete",),
    "Timothy": ("Tim",),
    "Kenneth": ("Ken", "Kenny"),
    "David": ("Dave", "Davy"),
    "Gregory": ("Greg",),
    "Samuel": ("Sam", "Sammy"),
    "Frederick": ("Fred", "Freddie"),
    "Henry": ("Harry", "Hal"),
    "Lawrence": ("Larry", "Laurie"),
    "Philip": ("Phil",),
    "Nathan": ("Nate",),
    "Zachary": ("Zach", "Zac"),
    "Oliver": ("Ollie",),
    "Eleanor": ("Ellie", "Nell"),
    "Isabella": ("Bella", "Izzy"),
    "Joshua": ("Josh",),
    "Hannah": ("Han",),
    "Natalie": ("Nat",),
    "Nicola": ("Nicky", "Nic"),
    "Gillian": ("Gill",),
    "Pauline": ("Paula",),
    "Sandra": ("Sandy",),
    "Angela": ("Angie",),
    "Raymond": ("Ray",),
    "Dennis": ("Den",),
    "Frederica": ("Freddie",),
    "Mohammed": ("Mo",),
    "Archibald": ("Archie",),
    "Gareth": ("Gaz",),
    "Dafydd": ("Dai",),
    "Joanne": ("Jo",),
    "Rachel": ("Rach",),
    "Sebastian": ("Seb",),
    "Elliot": ("Eli",),
    "Patrick": ("Pat", "Paddy"),
}

EMAIL_DOMAINS = (
    "gmail.com",
    "outlook.com",
    "hotmail.co.uk",
    "yahoo.co.uk",
    "btinternet.com",
    "icloud.com",
    "live.co.uk",
    "sky.com",
)
EMAIL_DOMAIN_P = np.array([0.38, 0.14, 0.14, 0.1, 0.08, 0.08, 0.05, 0.03])

# Outward postcode districts with their region (synthetic inward codes are added).
POSTCODE_AREAS = (
    ("SW1A", "London"),
    ("SE15", "London"),
    ("N7", "London"),
    ("E14", "London"),
    ("W12", "London"),
    ("NW6", "London"),
    ("CR0", "London"),
    ("HA8", "London"),
    ("M1", "North"),
    ("M20", "North"),
    ("LS6", "North"),
    ("LS17", "North"),
    ("S10", "North"),
    ("L8", "North"),
    ("L17", "North"),
    ("NE6", "North"),
    ("YO10", "North"),
    ("BD9", "North"),
    ("HU5", "North"),
    ("WA4", "North"),
    ("B15", "Midlands"),
    ("B29", "Midlands"),
    ("CV4", "Midlands"),
    ("NG7", "Midlands"),
    ("LE2", "Midlands"),
    ("DE22", "Midlands"),
    ("ST4", "Midlands"),
    ("WV3", "Midlands"),
    ("NN3", "Midlands"),
    ("BS8", "South"),
    ("BS16", "South"),
    ("BN1", "South"),
    ("SO17", "South"),
    ("PO4", "South"),
    ("OX4", "South"),
    ("RG1", "South"),
    ("GU1", "South"),
    ("EX4", "South"),
    ("PL4", "South"),
    ("CB1", "South"),
    ("NR2", "South"),
    ("MK9", "South"),
    ("CF10", "Wales"),
    ("CF14", "Wales"),
    ("SA1", "Wales"),
    ("LL57", "Wales"),
    ("NP20", "Wales"),
    ("EH3", "Scotland"),
    ("EH10", "Scotland"),
    ("G12", "Scotland"),
    ("G41", "Scotland"),
    ("AB10", "Scotland"),
    ("DD1", "Scotland"),
    ("IV2", "Scotland"),
    ("KY16", "Scotland"),
    ("BT9", "Northern Ireland"),
    ("BT7", "Northern Ireland"),
    ("TR1", "South"),
    ("CT1", "South"),
    ("ME4", "South"),
)
POSTCODE_INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))

COMPLAINT_COMMENTS = (
    "Order arrived late and nobody called me back",
    "Refund still not processed after two weeks",
    "App kept crashing at checkout, had to phone in",
    "Charged twice for the same order",
    "Rude staff at the till",
    "Item was damaged and the returns process is a nightmare",
    "Waited 40 minutes on hold",
    "Loyalty points missing from my account",
    "Wrong item delivered, second time this month",
    "Promised a call back that never came",
    "Delivery slot cancelled without notice",
    "Website would not accept my voucher",
)
_FIRST_LOW = tuple(x.lower().replace("'", "") for x in FIRST_NAMES)
_LAST_LOW = tuple(x.lower().replace("'", "") for x in LAST_NAMES)
_NICK_LOOKUP = {f"{k}|{i}": v for k, vs in NICKNAMES.items() for i, v in enumerate(vs)}

SURVEY_COMMENTS_GOOD = (
    "Quick and easy, thanks",
    "Helpful staff",
    "Great prices this week",
    "Delivery was on time",
)
SURVEY_COMMENTS_BAD = (
    "Shelves were half empty",
    "Queue was too long",
    "Checkout was slow",
    "Could not find what I needed",
)


# --------------------------------------------------------------------------------------------
# Weekly intensity pattern and the operational-time transform
# --------------------------------------------------------------------------------------------

# Pieces of a day: (start hour, end hour, time-of-day index or -1 for "no purchases"). The
# boundaries agree with cxlib.features.TIME_OF_DAY_BINS (night = 22:00-04:59).
DAY_PIECES = (
    (0.0, 2.0, 3),
    (2.0, 7.0, -1),
    (7.0, 12.0, 0),
    (12.0, 17.0, 1),
    (17.0, 22.0, 2),
    (22.0, 24.0, 3),
)
_P = len(DAY_PIECES)
_PIECE_START_H = np.array([p[0] for p in DAY_PIECES])
_PIECE_LEN_H = np.array([p[1] - p[0] for p in DAY_PIECES])
_PIECE_TOD = np.array([p[2] for p in DAY_PIECES])
# share of a time-of-day's purchases that falls in each piece (by length within the bin)
_PIECE_TOD_FRAC = np.array(
    [
        (p[1] - p[0]) / _PIECE_LEN_H[_PIECE_TOD == p[2]].sum() if p[2] >= 0 else 0.0
        for p in DAY_PIECES
    ]
)
# week = 7 days x _P pieces, Monday first
WEEK_PIECE_START = (np.arange(7)[:, None] + _PIECE_START_H[None, :] / 24.0).ravel()  # days
WEEK_PIECE_LEN = np.tile(_PIECE_LEN_H / 24.0, 7)  # days
WEEK_PIECE_DAY = np.repeat(np.arange(7), _P)
WEEK_PIECE_TOD = np.tile(_PIECE_TOD, 7)


def anchor_for(start: pd.Timestamp) -> pd.Timestamp:
    """The Monday on or before ``start``: day 0 of the simulation clock."""
    start = pd.Timestamp(start).normalize()
    return start - pd.Timedelta(days=int(start.day_of_week))


def week_masses(weekend_share: np.ndarray, tod_shares: np.ndarray) -> np.ndarray:
    """Share of a person's weekly purchases in each of the 7 x ``_P`` week pieces.

    Parameters
    ----------
    weekend_share : array (n,)
        Share of purchases on Saturday and Sunday.
    tod_shares : array (n, 4)
        Shares of morning, afternoon, evening and night.

    Returns
    -------
    array (n, 7 * _P), rows summing to 1.
    """
    w = np.asarray(weekend_share, dtype=float)
    day = np.where(np.arange(7)[None, :] >= 5, w[:, None] / 2.0, (1.0 - w[:, None]) / 5.0)
    tod_ext = np.concatenate([tod_shares, np.zeros((len(w), 1))], axis=1)  # index -1 -> 0
    piece = tod_ext[:, _PIECE_TOD] * _PIECE_TOD_FRAC[None, :]  # (n, _P)
    return (day[:, :, None] * piece[:, None, :]).reshape(len(w), 7 * _P)


def _week_cum(masses: np.ndarray) -> np.ndarray:
    """Cumulative mass at the start of each week piece, shape (n, 7 * _P)."""
    return np.cumsum(masses, axis=1) - masses


def op_time(u: np.ndarray, rows: np.ndarray, lam: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Integrated intensity Lambda(u) = expected purchases from day 0 to calendar time ``u``.

    ``rows`` indexes the person of each element of ``u`` in ``lam`` and ``masses``.
    """
    u = np.asarray(u, dtype=float)
    weeks = np.floor(u / 7.0)
    r = u - 7.0 * weeks
    piece = np.clip(np.searchsorted(WEEK_PIECE_START, r, side="right") - 1, 0, 7 * _P - 1)
    cum = _week_cum(masses)
    m = masses[rows, piece]
    within = np.clip((r - WEEK_PIECE_START[piece]) / WEEK_PIECE_LEN[piece], 0.0, 1.0)
    g = cum[rows, piece] + m * within
    return 7.0 * lam[rows] * (weeks + g)


def _day_cum(tod_shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per person: share of a day's purchases in each day piece and its cumulative start."""
    tod_ext = np.concatenate([tod_shares, np.zeros((len(tod_shares), 1))], axis=1)
    piece = tod_ext[:, _PIECE_TOD] * _PIECE_TOD_FRAC[None, :]
    return piece, np.cumsum(piece, axis=1) - piece


def calendar_time(
    s: np.ndarray,
    rows: np.ndarray,
    lam: np.ndarray,
    weekend_share: np.ndarray,
    tod_shares: np.ndarray,
) -> np.ndarray:
    """Inverse of :func:`op_time`: calendar day ``u`` (float days since the anchor) of
    operational times ``s`` (``rows`` = person of each element).

    Closed form: the week fraction gives the weekday (Monday-Friday each hold ``(1 - w) / 5`` of
    the week's purchases, Saturday and Sunday ``w / 2``), the rest of it the piece of the day.
    """
    wk = np.asarray(s, dtype=float) / (7.0 * lam[rows])
    weeks = np.floor(wk)
    frac = wk - weeks
    w = weekend_share[rows]
    a = (1.0 - w) / 5.0
    b = w / 2.0
    weekday = frac < 5.0 * a
    day = np.where(weekday, np.floor(frac / a), 5.0 + np.floor((frac - 5.0 * a) / b))
    day = np.clip(day, 0.0, 6.0)
    day_start = np.where(day < 5, day * a, 5.0 * a + (day - 5.0) * b)
    f = np.clip((frac - day_start) / np.where(day < 5, a, b), 0.0, 1.0 - 1e-12)
    piece_mass, piece_cum = _day_cum(tod_shares)
    piece = np.zeros(len(f), dtype=np.int64)
    for k in range(1, _P):
        piece += f >= piece_cum[rows, k]
    m = piece_mass[rows, piece]
    within = np.where(m > 0, (f - piece_cum[rows, piece]) / np.where(m > 0, m, 1.0), 0.0)
    within = np.clip(within, 0.0, 1.0 - 1e-9)
    return 7.0 * weeks + day + (_PIECE_START_H[piece] + within * _PIECE_LEN_H[piece]) / 24.0


# --------------------------------------------------------------------------------------------
# People
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


def _dirichlet_rows(rng: np.random.Generator, means: np.ndarray, conc: float) -> np.ndarray:
    """One Dirichlet draw per row with mean ``means[row]`` and concentration ``conc``."""
    g = rng.gamma(np.maximum(means * conc, 1e-3))
    return g / g.sum(axis=1, keepdims=True)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """``prefix`` + zero-padded numbers, as a numpy str array."""
    return np.char.add(prefix, np.char.zfill(np.asarray(numbers).astype(str), width))


def make_people(
    n: int,
    rng: np.random.Generator,
    start: pd.Timestamp = START,
    end: pd.Timestamp = END,
) -> pd.DataFrame:
    """Simulate ``n`` true people with latent segment, propensities and churn drivers.

    Parameters
    ----------
    n : int
        Number of people.
    rng : numpy Generator
        Source of randomness.
    start, end : Timestamp
        First day of the data window and its last day (inclusive).

    Returns
    -------
    DataFrame, one row per person, with ``master_id``, ``segment_idx``, ``latent_segment``,
    propensities (``p_store``, ``p_web``, ``p_app``, ``p_tod_*``, ``weekend_share``,
    ``p_cat_*``), ``app_user``, ``preferred_channel``, ``satisfaction``, ``complained``,
    ``complaint_date`` (filled by :func:`make_transactions`), ``lam``, ``p_drop``,
    ``avg_basket``, ``marketing_consent``, ``consent_status``, ``age``, ``birth_year``,
    ``signup_date``, ``acquired_at`` and ``first_purchase`` (provisional until the purchases are
    simulated; the first purchase is the first event of the person's purchase process).
    """
    start = pd.Timestamp(start).normalize()
    end = pd.Timestamp(end).normalize()
    seg_tab = segment_table()
    shares = seg_tab["share"].to_numpy()
    seg = rng.choice(len(SEGMENTS), size=n, p=shares / shares.sum())

    ch_means = seg_tab[[f"channel_{c}" for c in CHANNELS]].to_numpy()[seg]
    tod_means = seg_tab[[f"tod_{t}" for t in TIMES_OF_DAY]].to_numpy()[seg]
    cat_means = seg_tab[[f"cat_{c}" for c in CATEGORIES]].to_numpy()[seg]
    channel = _dirichlet_rows(rng, ch_means, CONC_CHANNEL)
    tod = _dirichlet_rows(rng, tod_means, CONC_TOD)
    cat = _dirichlet_rows(rng, cat_means, CONC_CATEGORY)
    wk_mean = seg_tab["weekend"].to_numpy()[seg]
    weekend = rng.beta(wk_mean * CONC_WEEKEND, (1.0 - wk_mean) * CONC_WEEKEND)

    app_user = rng.random(n) < seg_tab["p_app_user"].to_numpy()[seg]
    # non-users move their app share to web (online) and store in proportion
    app_share = channel[:, 2].copy()
    channel[:, 2] = np.where(app_user, channel[:, 2], 0.0)
    channel[:, 1] += np.where(app_user, 0.0, 0.6 * app_share)
    channel[:, 0] += np.where(app_user, 0.0, 0.4 * app_share)
    # app users always use the app a little
    channel[:, 2] = np.where(app_user, np.maximum(channel[:, 2], 0.05), 0.0)
    channel /= channel.sum(axis=1, keepdims=True)
    preferred = np.asarray(CHANNELS)[np.argmax(channel, axis=1)]

    shape = seg_tab["lam_shape"].to_numpy()[seg]
    lam_mean = 1.0 / seg_tab["mean_interpurchase_days"].to_numpy()[seg]
    lam = rng.gamma(shape, lam_mean / shape)

    basket = seg_tab["basket_median"].to_numpy()[seg] * np.exp(
        rng.normal(0.0, BASKET_PERSON_SIGMA, n)
    )

    m_sat = (seg_tab["satisfaction_mean"].to_numpy()[seg] - 1.0) / 4.0
    satisfaction = 1.0 + 4.0 * rng.beta(m_sat * SATISFACTION_CONC, (1 - m_sat) * SATISFACTION_CONC)
    p_complain = _sigmoid(COMPLAINT_INTERCEPT + COMPLAINT_SLOPE * (3.5 - satisfaction))
    complained = rng.random(n) < p_complain
    low_sat = satisfaction < LOW_SATISFACTION

    base = np.array([segment_base_logit(i) for i in range(len(SEGMENTS))])[seg]
    logit_p = (
        base
        + BETA_COMPLAINT * complained
        + BETA_LOW_SATISFACTION * low_sat
        + BETA_NO_APP * (~app_user)
        + rng.normal(0.0, P_DROP_NOISE_SD, n)
    )
    p_drop = _sigmoid(logit_p)

    age = np.clip(np.round(rng.normal(seg_tab["age_mean"].to_numpy()[seg], 11.0)), 18, 90)
    age = age.astype(int)
    birth_year = end.year - age - (rng.random(n) < 0.5)

    # acquisition: existing base early in the window, the rest joining steadily
    span_new = (end - start).days + 1 - ACQ_LAST_DAYS
    existing = rng.random(n) < ACQ_EXISTING_SHARE
    acq_day = np.where(
        existing,
        rng.random(n) * ACQ_EXISTING_DAYS,
        rng.random(n) * span_new,
    )
    acquired_at = start + pd.to_timedelta(np.floor(acq_day), unit="D")
    # signup: existing members signed up years ago; new ones shortly before their first purchase
    old_signup = rng.random(n) < np.where(existing, 0.85, 0.25)
    signup_back = np.where(old_signup, rng.uniform(30, 9 * 365, n), rng.uniform(0, 21, n))
    signup_date = (acquired_at - pd.to_timedelta(np.floor(signup_back), unit="D")).normalize()

    # first purchase: a draw from the person's weekly pattern within 7 days of acquisition
    anchor = anchor_for(start)
    masses = week_masses(weekend, tod)
    rows = np.arange(n)
    acq_u = (acquired_at - anchor).to_numpy().astype("timedelta64[s]").astype(float) / 86400.0
    s0 = op_time(acq_u, rows, lam, masses) + rng.random(n) * 7.0 * lam
    u0 = calendar_time(s0, rows, lam, weekend, tod)
    first_purchase = anchor.to_datetime64().astype("datetime64[s]") + np.floor(u0 * 86400.0).astype(
        "timedelta64[s]"
    )
    del masses

    u = rng.random(n)
    consent_status = np.where(
        u < CONSENT_TRUE, "yes", np.where(u < CONSENT_RECORD, "no", "unknown")
    )

    people = pd.DataFrame(
        {
            "master_id": _ids("P", np.arange(1, n + 1), max(7, len(str(n)))),
            "segment_idx": seg.astype(np.int8),
            "latent_segment": np.asarray(SEGMENT_NAMES)[seg],
            "app_user": app_user,
            "preferred_channel": preferred,
            "p_store": channel[:, 0],
            "p_web": channel[:, 1],
            "p_app": channel[:, 2],
            **{f"p_tod_{t}": tod[:, j] for j, t in enumerate(TIMES_OF_DAY)},
            "weekend_share": weekend,
            **{f"p_cat_{c}": cat[:, j] for j, c in enumerate(CATEGORIES)},
            "satisfaction": satisfaction,
            "complained": complained,
            "complaint_date": pd.Series(pd.NaT, index=range(n), dtype="datetime64[s]"),
            "lam": lam,
            "p_drop": p_drop,
            "avg_basket": basket,
            "marketing_consent": consent_status == "yes",
            "consent_status": consent_status,
            "age": age,
            "birth_year": birth_year.astype(int),
            "signup_date": signup_date.astype("datetime64[s]"),
            "acquired_at": acquired_at.astype("datetime64[s]"),
            "first_purchase": first_purchase,
        }
    )
    for c in ("latent_segment", "preferred_channel", "consent_status", "master_id"):
        people[c] = people[c].astype("str")
    logger.info(
        "people: %d (segments %s; app users %.1f%%; complained %.1f%%)",
        n,
        np.bincount(seg, minlength=len(SEGMENTS)).tolist(),
        100 * app_user.mean() if n else 0.0,
        100 * complained.mean() if n else 0.0,
    )
    return people


# --------------------------------------------------------------------------------------------
# CRM records (PII) and duplicates across the two systems
# --------------------------------------------------------------------------------------------

_S = np.strings


def _zipf_index(rng: np.random.Generator, k: int, size: int, a: float = 0.9) -> np.ndarray:
    """Indices into a list of ``k`` names, weights falling with position (common names first)."""
    w = 1.0 / (np.arange(k) + 8.0) ** a
    return rng.choice(k, size=size, p=w / w.sum())


def _typo(s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One-character edit (substitution, deletion, transposition or insertion), never in the
    first character."""
    s = np.asarray(s, dtype=str)
    n = len(s)
    if n == 0:
        return s
    length = _S.str_len(s)
    op = rng.integers(0, 4, n)
    op = np.where(length < 4, 0, op)  # short strings: substitution only
    k = 1 + np.floor(rng.random(n) * np.maximum(length - 1, 1)).astype(int)  # 1 .. len-1
    k = np.minimum(k, np.maximum(length - 1, 1))
    letters = np.asarray(list("abcdefghijklmnopqrstuvwxyz"))[rng.integers(0, 26, n)]
    head = _S.slice(s, 0, k)
    cur = _S.slice(s, k, k + 1)
    # make substitutions and insertions visible (never the same letter as the current one)
    letters = np.where(letters == _S.lower(cur), np.where(letters == "e", "a", "e"), letters)
    sub = _S.add(_S.add(head, letters), _S.slice(s, k + 1, None))
    dele = _S.add(head, _S.slice(s, k + 1, None))
    k2 = np.minimum(k, np.maximum(length - 2, 1))
    trans = _S.add(
        _S.add(_S.add(_S.slice(s, 0, k2), _S.slice(s, k2 + 1, k2 + 2)), _S.slice(s, k2, k2 + 1)),
        _S.slice(s, k2 + 2, None),
    )
    ins = _S.add(_S.add(head, letters), _S.slice(s, k, None))
    out = np.select([op == 0, op == 1, op == 2], [sub, dele, trans], ins)
    # a transposition of two equal letters changes nothing: fall back to a deletion
    return np.where(out == s, dele, out)


def _unique_draws(
    rng: np.random.Generator, n: int, low: int, high: int, rounds: int = 20
) -> np.ndarray:
    """``n`` distinct integers from [low, high) (redrawing collisions)."""
    x = rng.integers(low, high, n)
    for _ in range(rounds):
        dup = pd.Series(x).duplicated().to_numpy()
        if not dup.any():
            break
        x[dup] = rng.integers(low, high, int(dup.sum()))
    return x


def _email_variant(email: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """How the same address tends to be re-typed: case changes and Gmail dots."""
    n = len(email)
    local = _S.partition(email, "@")[0]
    domain = _S.partition(email, "@")[2]
    gmail = domain == "gmail.com"
    has_dot = _S.find(local, ".") >= 0
    k = 1 + np.floor(rng.random(n) * np.maximum(_S.str_len(local) - 1, 1)).astype(int)
    dotted = _S.add(_S.add(_S.slice(local, 0, k), "."), _S.slice(local, k, None))
    gm_local = np.where(has_dot, _S.replace(local, ".", ""), dotted)
    u = rng.random(n)
    local2 = np.where(gmail & (u < 0.45), gm_local, local)
    v = rng.random(n)
    out = _S.add(_S.add(local2, "@"), domain)
    title = _S.add(_S.add(_S.title(local2), "@"), domain)
    return np.where(v < 0.25, title, np.where(v < 0.35, _S.upper(out), out))


def _empty_to_na(values: np.ndarray) -> pd.Series:
    s = pd.Series(values, dtype="str")
    return s.mask(s == "")


def _pa(values) -> pa.Array:
    """Arrow string array from a sequence / numpy array of str."""
    return pa.array(np.asarray(values, dtype=object), type=pa.string())


def _cat(*parts) -> pa.Array:
    """Element-wise concatenation of Arrow string arrays (and str scalars)."""
    return pc.binary_join_element_wise(*parts, "")


def _take(options, idx: np.ndarray) -> pa.Array:
    return _pa(list(options)).take(pa.array(np.asarray(idx, dtype=np.int64)))


def _digits(values: np.ndarray, width: int | None = None) -> pa.Array:
    out = pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())
    return out if width is None else pc.utf8_lpad(out, width=width, padding="0")


def _where(mask: np.ndarray, a, b) -> pa.Array:
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), a, b)


def _np_str(arr: pa.Array) -> np.ndarray:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=str)


_NULL = pa.scalar(None, pa.string())


def _email_local_pa(
    first_idx: np.ndarray, last_idx: np.ndarray, by: np.ndarray, rng: np.random.Generator
) -> pa.Array:
    """E-mail local parts from name indices (common patterns, some with digits)."""
    n = len(first_idx)
    f = _take(_FIRST_LOW, first_idx)
    la = _take(_LAST_LOW, last_idx)
    yy = _digits(np.asarray(by) % 100, 2)
    nn = _digits(rng.integers(1, 100, n))
    pat = rng.choice(8, size=n, p=[0.24, 0.12, 0.12, 0.14, 0.17, 0.06, 0.07, 0.08])
    options = [
        _cat(f, ".", la),
        _cat(f, la),
        _cat(pc.utf8_slice_codeunits(f, 0, 1), la),
        _cat(f, ".", la, yy),
        _cat(f, la, nn),
        _cat(la, ".", f),
        _cat(f, "_", la),
        _cat(f, _digits(by)),
    ]
    return pc.choose(pa.array(pat.astype(np.int8)), *options)


def _unique_emails(local: pa.Array, domain: pa.Array, rng: np.random.Generator) -> pa.Array:
    """``local@domain`` with digits appended to local parts until every address is unique."""
    local_np = None
    for _ in range(30):
        email = _cat(local, "@", domain)
        dup = pd.Series(pd.array(email, dtype="str")).duplicated().to_numpy()
        if not dup.any():
            return email
        if local_np is None:
            local_np = _np_str(local).astype(object)
        local_np[dup] = local_np[dup] + rng.integers(1, 1000, int(dup.sum())).astype(str)
        local = _pa(local_np)
    return _cat(local, "@", domain)


def _postcodes_pa(area: np.ndarray, digit: np.ndarray, l1: np.ndarray, l2: np.ndarray):
    outward = _take([a for a, _ in POSTCODE_AREAS], area)
    letters = list(POSTCODE_INWARD_LETTERS)
    return _cat(outward, " ", _digits(digit), _take(letters, l1), _take(letters, l2))


def _format_phone_pa(digits: pa.Array, is_a: np.ndarray, rng) -> pa.Array:
    """Phone numbers in the formats each CRM tends to hold (digits = "07700900123")."""
    n = len(digits)
    sl = pc.utf8_slice_codeunits
    intl = _cat("+44 ", sl(digits, 1, 5), " ", sl(digits, 5, 64))
    spaced = _cat(sl(digits, 0, 5), " ", sl(digits, 5, 64))
    compact_intl = _cat("+44", sl(digits, 1, 64))
    u = rng.random(n)
    code = np.where(is_a, np.where(u < 0.85, 0, 1), np.where(u < 0.75, 2, np.where(u < 0.9, 1, 3)))
    return pc.choose(pa.array(code.astype(np.int8)), intl, spaced, digits, compact_intl)


def _format_postcode_pa(pcode: pa.Array, is_a: np.ndarray, rng) -> pa.Array:
    u = rng.random(len(pcode))
    nospace = pc.replace_substring(pcode, " ", "")
    code = np.where(is_a, np.where(u < 0.95, 0, 1), np.where(u < 0.45, 2, np.where(u < 0.7, 1, 0)))
    return pc.choose(pa.array(code.astype(np.int8)), pcode, nospace, pc.utf8_lower(nospace))


def _title_local(email: pa.Array) -> pa.Array:
    """``John.Smith@gmail.com`` from ``john.smith@gmail.com``."""
    parts = pc.split_pattern(email, "@", max_splits=1)
    return _cat(pc.utf8_title(pc.list_element(parts, 0)), "@", pc.list_element(parts, 1))


def make_records(
    people: pd.DataFrame, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CRM records of the people in two source systems, about 3% of people in both.

    Parameters
    ----------
    people : DataFrame
        From :func:`make_people`.
    rng : numpy Generator
        Source of randomness.

    Returns
    -------
    customers : DataFrame
        One row per source record: ``customer_id``, ``source_system``, ``first_name``,
        ``last_name``, ``email``, ``phone``, ``postcode``, ``birth_year``, ``signup_date``,
        ``marketing_consent``, ``consent_date``, ``loyalty_tier``, ``app_user``, ``region``.
    people : DataFrame
        Input plus the true PII (``first_name`` … ``postcode``), ``region``, ``home_store``,
        ``household_id``, ``is_duplicated``, ``primary_customer_id``, ``secondary_customer_id``
        and ``customer_ids`` (list of the person's record ids).
    """
    people = people.copy()
    n = len(people)
    end = END
    birth_year = people["birth_year"].to_numpy().copy()

    # --- true identity (as indices and digits; strings are built once, with Arrow) ----------
    first_idx = _zipf_index(rng, len(FIRST_NAMES), n)
    last_idx = _zipf_index(rng, len(LAST_NAMES), n, a=1.0)
    area_w = np.where(np.asarray([r for _, r in POSTCODE_AREAS]) == "London", 1.6, 1.0)
    area = rng.choice(len(POSTCODE_AREAS), size=n, p=area_w / area_w.sum())
    pc_digit = rng.integers(0, 10, n)
    pc_l1 = rng.integers(0, len(POSTCODE_INWARD_LETTERS), n)
    pc_l2 = rng.integers(0, len(POSTCODE_INWARD_LETTERS), n)
    phone_num = _unique_draws(rng, n, 100_000_000, 1_000_000_000)

    # households: pairs of distinct people sharing postcode, mostly surname, sometimes phone
    n_hh = int(round(SHARE_IN_HOUSEHOLD * n / 2))
    members = rng.permutation(n)[: 2 * n_hh].reshape(-1, 2) if n_hh else np.zeros((0, 2), int)
    lead, other = members[:, 0], members[:, 1]
    household_id = np.full(n, -1)
    household_id[lead] = np.arange(len(lead))
    household_id[other] = np.arange(len(lead))
    for arr in (area, pc_digit, pc_l1, pc_l2):
        arr[other] = arr[lead]
    same_name = rng.random(len(lead)) < 0.85
    last_idx[other[same_name]] = last_idx[lead[same_name]]
    share_phone = rng.random(len(lead)) < 0.15
    phone_num[other[share_phone]] = phone_num[lead[share_phone]]

    # namesakes: distinct people with the same first name, surname and birth year
    n_ns = int(round(SHARE_NAMESAKE * n))
    ns = rng.permutation(n)[: 2 * n_ns].reshape(-1, 2) if n_ns else np.zeros((0, 2), int)
    first_idx[ns[:, 1]] = first_idx[ns[:, 0]]
    last_idx[ns[:, 1]] = last_idx[ns[:, 0]]
    birth_year[ns[:, 1]] = birth_year[ns[:, 0]]
    age = people["age"].to_numpy().copy()
    age[ns[:, 1]] = end.year - birth_year[ns[:, 1]]
    people["age"] = age
    people["birth_year"] = birth_year

    first = _take(FIRST_NAMES, first_idx)
    last = _take(LAST_NAMES, last_idx)
    postcode = _postcodes_pa(area, pc_digit, pc_l1, pc_l2)
    phone = _cat("07", _digits(phone_num))
    domain = _take(EMAIL_DOMAINS, rng.choice(len(EMAIL_DOMAINS), size=n, p=EMAIL_DOMAIN_P))
    email = _unique_emails(_email_local_pa(first_idx, last_idx, birth_year, rng), domain, rng)
    share_email = rng.random(len(lead)) < 0.05
    src = np.arange(n)
    src[other[share_email]] = lead[share_email]
    email = email.take(pa.array(src))
    region = _take([r for _, r in POSTCODE_AREAS], area)
    home_store = area % N_STORES + 1

    # --- records: every person once, duplicated people a second time (in the other CRM) ----
    primary_a = rng.random(n) < SHARE_CRM_A
    dup = rng.random(n) < SHARE_DUPLICATED
    dup_idx = np.flatnonzero(dup)
    nd = len(dup_idx)
    rec_person = np.concatenate([np.arange(n), dup_idx])
    rec_secondary = np.concatenate([np.zeros(n, bool), np.ones(nd, bool)])
    rec_a = np.concatenate([primary_a, ~primary_a[dup_idx]])
    nr = len(rec_person)

    # second records: how the same person was typed into the other system
    f2 = _np_str(first.take(pa.array(dup_idx)))
    l2 = _np_str(last.take(pa.array(dup_idx)))
    e2 = _np_str(email.take(pa.array(dup_idx)))
    p2 = _np_str(phone.take(pa.array(dup_idx))).astype(object)
    pc2 = _np_str(postcode.take(pa.array(dup_idx))).astype(object)
    by2 = birth_year[dup_idx].astype(float)
    if nd:
        n_opts = pd.Series(f2).map({k: len(v) for k, v in NICKNAMES.items()}).fillna(0)
        n_opts = n_opts.to_numpy().astype(int)
        use_nick = (n_opts > 0) & (rng.random(nd) < 0.45)
        pick = np.floor(rng.random(nd) * n_opts).astype(int).astype(str)
        nick = pd.Series(_S.add(_S.add(f2, "|"), pick)).map(_NICK_LOOKUP).fillna("")
        nick = nick.to_numpy().astype(str)
        typo_first = ~use_nick & (rng.random(nd) < 0.25)
        f2 = np.where(use_nick, nick, np.where(typo_first, _typo(f2, rng), f2))
        l2 = np.where(rng.random(nd) < 0.15, _typo(l2, rng), l2)

        u = rng.random(nd)
        l2_idx = last_idx[dup_idx]
        new_local = _np_str(_email_local_pa(first_idx[dup_idx], l2_idx, birth_year[dup_idx], rng))
        new_dom = np.asarray(EMAIL_DOMAINS)[
            rng.choice(len(EMAIL_DOMAINS), size=nd, p=EMAIL_DOMAIN_P)
        ]
        new_email = _S.add(
            _S.add(_S.add(new_local, rng.integers(1, 1000, nd).astype(str)), "@"), new_dom
        )
        e2 = np.where(u < 0.10, "", np.where(u < 0.18, new_email, _email_variant(e2, rng)))
        u = rng.random(nd)
        new_phone = _S.add("07", rng.integers(100_000_000, 1_000_000_000, nd).astype(str))
        p2 = np.where(u < 0.08, None, np.where(u < 0.13, new_phone, p2))
        u = rng.random(nd)
        moved = _np_str(
            _postcodes_pa(
                rng.choice(len(POSTCODE_AREAS), size=nd),
                rng.integers(0, 10, nd),
                rng.integers(0, len(POSTCODE_INWARD_LETTERS), nd),
                rng.integers(0, len(POSTCODE_INWARD_LETTERS), nd),
            )
        )
        pc2 = np.where(u < 0.04, None, np.where(u < 0.09, moved, pc2))
        u = rng.random(nd)
        by2 = np.where(u < 0.05, np.nan, np.where(u < 0.10, by2 + rng.choice([-1, 1], nd), by2))

    r_first = pa.concat_arrays([first, _pa(f2)])
    r_last = pa.concat_arrays([last, _pa(l2)])
    e2_pa = _where(e2 == "", _NULL, _pa(e2)) if nd else _pa(e2)
    r_email = pa.concat_arrays([email, e2_pa])
    r_phone_digits = pa.concat_arrays([phone, _pa(p2)])
    r_postcode = pa.concat_arrays([postcode, _pa(pc2)])
    r_by = np.concatenate([birth_year.astype(float), by2])

    # light missingness everywhere: not everyone gives a phone number or a birth year
    r_phone_digits = _where(rng.random(nr) < 0.04, _NULL, r_phone_digits)
    r_by = np.where(rng.random(nr) < 0.02, np.nan, r_by)

    # each system's conventions
    r_phone = _format_phone_pa(r_phone_digits, rec_a, rng)
    r_pc = _format_postcode_pa(r_postcode, rec_a, rng)
    upper_last = ~rec_a & (rng.random(nr) < 0.2)
    r_last = _where(upper_last, pc.utf8_upper(r_last), r_last)
    cap_email = ~rec_secondary & (rng.random(nr) < 0.06)
    r_email = _where(cap_email, _title_local(r_email), r_email)

    # signup dates: primary record = person's signup; the second system's record came later
    signup = people["signup_date"].to_numpy().astype("datetime64[s]")[rec_person]
    later = (
        rng.random(nr)
        * np.maximum((end.to_datetime64() - signup).astype("timedelta64[D]").astype(float), 1.0)
    ).astype("timedelta64[D]")
    signup = np.where(rec_secondary, signup + later, signup).astype("datetime64[D]")

    # consent: the person's status, the second record agrees 75% of the time
    status = people["consent_status"].to_numpy()[rec_person]
    redraw = rec_secondary & (rng.random(nr) < 0.25)
    u = rng.random(nr)
    status = np.where(
        redraw,
        np.where(u < CONSENT_TRUE, "yes", np.where(u < CONSENT_RECORD, "no", "unknown")),
        status,
    )
    consent = pd.array(status == "yes", dtype="boolean")
    consent[status == "unknown"] = pd.NA
    to_end = np.maximum((end.to_datetime64().astype("datetime64[D]") - signup).astype(float), 0)
    renewed = rng.random(nr) < 0.45
    consent_date = signup + np.where(renewed, np.floor(rng.random(nr) * (to_end + 1)), 0).astype(
        "timedelta64[D]"
    )
    consent_date = consent_date.astype("datetime64[s]")
    consent_date[status == "unknown"] = np.datetime64("NaT")

    # loyalty tier from the true spend rate (noisy), per record
    score = np.log(people["lam"].to_numpy() * people["avg_basket"].to_numpy())[rec_person]
    score = score + rng.normal(0.0, 0.5, nr)
    q = pd.Series(score).rank(pct=True).to_numpy()
    tier = np.select([q > 0.95, q > 0.8, q > 0.5], [3, 2, 1], 0)
    app = people["app_user"].to_numpy()[rec_person]
    app = np.where(rec_secondary & (rng.random(nr) < 0.1), ~app, app)

    # ids: numbered within each system in signup order (ties in random order)
    number = np.zeros(nr, dtype=np.int64)
    tiebreak = rng.random(nr)
    widths = {}
    for is_a in (True, False):
        idx = np.flatnonzero(rec_a == is_a)
        order = idx[np.lexsort((tiebreak[idx], signup[idx]))]
        number[order] = np.arange(1, len(idx) + 1)
        widths[is_a] = max(6, len(str(len(idx))))
    cust_id = _where(
        rec_a,
        _cat("CRM-A-", _digits(number, widths[True])),
        _cat("CRM-B-", _digits(number, widths[False])),
    )
    system = _where(rec_a, pa.scalar("CRM-A"), pa.scalar("CRM-B"))

    def col(a: pa.Array) -> pd.api.extensions.ExtensionArray:
        return pd.array(a, dtype="str")

    customers = pd.DataFrame(
        {
            "customer_id": col(cust_id),
            "source_system": col(system),
            "first_name": col(r_first),
            "last_name": col(r_last),
            "email": col(r_email),
            "phone": col(r_phone),
            "postcode": col(r_pc),
            "birth_year": pd.array(r_by, dtype="Int64") if nr else pd.array([], dtype="Int64"),
            "signup_date": signup.astype("datetime64[s]"),
            "marketing_consent": consent,
            "consent_date": consent_date,
            "loyalty_tier": col(_take(("Bronze", "Silver", "Gold", "Platinum"), tier)),
            "app_user": app.astype(bool),
            "region": col(region.take(pa.array(rec_person))),
        }
    )
    # rows in id order (system A first), as a CRM export would list them
    order = np.lexsort((number, ~rec_a))
    customers = customers.take(order).reset_index(drop=True)

    pid = col(cust_id.slice(0, n))
    sid = pd.Series(pd.array([None] * n, dtype="str"))
    if nd:
        sid.iloc[dup_idx] = np.asarray(col(cust_id.slice(n, nd)), dtype=object)
    people["first_name"] = col(first)
    people["last_name"] = col(last)
    people["email"] = col(email)
    people["phone"] = col(phone)
    people["postcode"] = col(postcode)
    people["region"] = col(region)
    people["home_store"] = home_store.astype(np.int16)
    people["household_id"] = household_id
    people["is_duplicated"] = dup
    people["primary_customer_id"] = pid
    people["secondary_customer_id"] = sid.array
    joined = pd.Series(pid).where(~dup, pd.Series(pid) + "|" + sid.fillna(""))
    people["customer_ids"] = joined.str.split("|").to_numpy()
    logger.info(
        "records: %d for %d people (%d duplicated across systems, %.1f%%)",
        nr,
        n,
        nd,
        100.0 * nd / max(n, 1),
    )
    return customers, people


# --------------------------------------------------------------------------------------------
# Transactions (BG/NBD purchasing with a weekly pattern) and the churn truth
# --------------------------------------------------------------------------------------------

TX_CHUNK = 200_000  # people simulated per chunk (bounds memory; part of the random stream)
REFUND_CATEGORY_WEIGHT = np.array([0.5, 0.3, 1.2, 1.2, 2.2, 1.8, 1.0, 1.2])
_DAY_S = 86_400


def _seconds(ts: pd.Timestamp | np.ndarray, anchor: pd.Timestamp) -> np.ndarray:
    """Whole seconds since ``anchor``."""
    t = np.asarray(ts, dtype="datetime64[s]")
    return (t - anchor.to_datetime64().astype("datetime64[s]")).astype(np.int64)


def _segment_starts(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def _repeat_purchases(
    s0: np.ndarray, s_h: np.ndarray, n_repeat: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Operational times of repeat purchases up to ``s_h``: a unit-rate Poisson process from
    ``s0`` stopped after ``n_repeat`` events (the purchase after which the person drops out).

    Generated in rounds (vectorised over people) with a generous cap on the number of events per
    person and round, so that nothing beyond the horizon is generated in bulk. Returns
    ``(person, time)`` ordered by person, then time (placed by counting, not by sorting).
    """
    c = len(s0)
    rounds = []
    cur = s0.copy()
    remaining = n_repeat.astype(np.int64).copy()
    act = np.arange(c)
    while len(act):
        d = np.maximum(s_h[act] - cur[act], 0.0)
        cap = np.ceil(d + 4.0 * np.sqrt(d) + 5.0).astype(np.int64)
        k = np.minimum(remaining[act], cap)
        pid = np.repeat(act, k)
        cs = np.cumsum(rng.standard_exponential(int(k.sum())))
        ends = np.cumsum(k)
        starts = ends - k
        base = np.where(starts > 0, cs[np.maximum(starts - 1, 0)], 0.0)
        t = cur[pid] + (cs - np.repeat(base, k))
        keep = t <= s_h[pid]
        rounds.append((pid[keep], t[keep]))
        last = t[ends - 1]
        cont = (k < remaining[act]) & (last <= s_h[act])
        remaining[act] -= k
        cur[act] = last
        act = act[cont]
    if len(rounds) == 1:
        return rounds[0]
    counts = [np.bincount(pid, minlength=c) for pid, _ in rounds]
    start = _segment_starts(np.sum(counts, axis=0))
    person = np.empty(int(start[-1] + np.sum(counts, axis=0)[-1]) if c else 0, dtype=np.int64)
    times = np.empty(len(person))
    before = np.zeros(c, dtype=np.int64)
    for (pid, t), cnt in zip(rounds, counts, strict=True):
        rank = np.arange(len(pid)) - _segment_starts(cnt)[pid]
        pos = start[pid] + before[pid] + rank
        person[pos] = pid
        times[pos] = t
        before += cnt
    return person, times


def _draw_index(cum: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Categorical draw per element: ``cum`` holds per-row cumulative probabilities (n, k)."""
    idx = np.zeros(len(u), dtype=np.int8)
    for j in range(cum.shape[1] - 1):
        idx += u >= np.ascontiguousarray(cum[:, j])[rows]
    return idx


def _simulate_chunk(
    p: dict[str, np.ndarray],
    rng: np.random.Generator,
    anchor: pd.Timestamp,
    end_s: int,
    h_s: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Purchases of one chunk of people: rows (observed, plus refunds) and per-person truth."""
    c = len(p["lam"])
    rows = np.arange(c)
    lam = p["lam"]
    masses = week_masses(p["weekend_share"], p["tod"])
    u0 = p["first_s"] / _DAY_S
    s0 = op_time(u0, rows, lam, masses)
    s_end = op_time(np.full(c, end_s / _DAY_S), rows, lam, masses)
    s_h = op_time(np.full(c, h_s / _DAY_S), rows, lam, masses)
    n_repeat = rng.geometric(p["p_drop"])  # repeat purchases until (and including) dropout

    rp, rs = _repeat_purchases(s0, s_h, n_repeat, rng)
    u_rep = calendar_time(rs, rp, lam, p["weekend_share"], p["tod"])
    # merge first purchases and repeats into (person, time) order by counting positions
    n_rep = np.bincount(rp, minlength=c)
    start = _segment_starts(n_rep + 1)
    pos = start[rp] + 1 + (np.arange(len(rp)) - _segment_starts(n_rep)[rp])
    total = len(rp) + c
    person = np.empty(total, dtype=np.int64)
    s = np.empty(total)
    ts = np.empty(total, dtype=np.int64)
    person[start], s[start], ts[start] = rows, s0, p["first_s"]
    person[pos], s[pos], ts[pos] = rp, rs, np.floor(u_rep * _DAY_S).astype(np.int64)
    del u_rep, rp, rs, pos

    obs = ts < end_s
    hz = ~obs & (ts < h_s)
    n_obs = np.bincount(person[obs], minlength=c)
    n_hz = np.bincount(person[hz], minlength=c)
    starts = _segment_starts(np.bincount(person, minlength=c))
    s_last = s[starts + n_obs - 1]
    x = n_obs - 1
    pd_ = p["p_drop"]
    surv = (1.0 - pd_) * np.exp(-(s_end - s_last))
    p_alive = np.where(x == 0, 1.0, surv / (surv + pd_))
    p_lapse = 1.0 - p_alive * (1.0 - np.exp(-(s_h - s_end)))
    truth = {
        "n_repeat_obs": x,
        "t_x_days": (ts[starts + n_obs - 1] - p["first_s"]) / _DAY_S,
        "T_days": (end_s - p["first_s"]) / _DAY_S,
        "expected_purchases_90d_if_alive": s_h - s_end,
        "p_alive_at_end": p_alive,
        "p_lapse_90d": p_lapse,
        "lapsed_90d": n_hz == 0,
        "purchases_next_90d": n_hz,
        "alive_at_end": n_repeat > x,
        "last_s": ts[starts + n_obs - 1],
        "n_obs": n_obs,
    }

    # observed purchases only from here on
    person, ts = person[obs], ts[obs]
    n = len(person)
    week_s = np.mod(ts, 7 * _DAY_S)
    piece = np.searchsorted(WEEK_PIECE_START * _DAY_S, week_s, side="right") - 1
    tod = WEEK_PIECE_TOD[piece]

    ch = _draw_index(np.cumsum(p["channel"], axis=1), person, rng.random(n))
    app = p["app_user"][person]
    ch = np.where((tod == 3) & (ch == 0), np.where(app, 2, 1), ch)  # no store visits at night
    cat = _draw_index(np.cumsum(p["category"], axis=1), person, rng.random(n)).astype(np.int8)
    norm = (p["category"] * CATEGORY_PRICE_MULT[None, :]).sum(axis=1)
    expected = p["avg_basket"][person] * CATEGORY_PRICE_MULT[cat] / norm[person]
    amount = expected * np.exp(rng.normal(-0.5 * AMOUNT_SIGMA**2, AMOUNT_SIGMA, n))
    amount = np.maximum(np.round(amount, 2), 0.5)
    qty = 1 + rng.poisson(np.maximum(amount / CATEGORY_UNIT_PRICE[cat] - 1.0, 0.0))
    qty = np.minimum(qty, 99)
    home = rng.random(n) < HOME_STORE_SHARE
    store = np.where(home, p["home_store"][person], rng.integers(1, N_STORES + 1, n))
    store = np.where(ch == 0, store, 0)
    secondary = p["has_secondary"][person] & (rng.random(n) >= DUP_SPLIT_PRIMARY)
    rec = np.where(secondary, p["secondary_pos"][person], p["primary_pos"][person])
    spend = np.bincount(person, weights=amount, minlength=c)

    # complaint date: shortly after one of the person's purchases (often the last)
    comp = np.flatnonzero(p["complained"])
    pick = np.where(
        rng.random(len(comp)) < 0.5,
        n_obs[comp] - 1,
        np.floor(rng.random(len(comp)) * n_obs[comp]).astype(np.int64),
    )
    obs_starts = _segment_starts(n_obs)
    base_day = ts[obs_starts[comp] + pick] // _DAY_S
    cday = np.minimum(base_day + rng.integers(0, 8, len(comp)), end_s // _DAY_S - 1)
    complaint_s = np.full(c, np.iinfo(np.int64).min)
    complaint_s[comp] = cday * _DAY_S + rng.integers(8 * 3600, 20 * 3600, len(comp))
    truth["complaint_s"] = complaint_s
    truth["total_spend"] = spend

    # refunds: a later full return of a purchase (more often fashion and electronics)
    w = REFUND_CATEGORY_WEIGHT[cat]
    is_ref = rng.random(n) < REFUND_RATE * w / (w.mean() if n else 1.0)
    r_idx = np.flatnonzero(is_ref)
    r_ts = (
        ts[r_idx] + rng.integers(1, 31, len(r_idx)) * _DAY_S + rng.integers(-7200, 7200, len(r_idx))
    )
    ok = r_ts < end_s
    r_idx, r_ts = r_idx[ok], r_ts[ok]
    out = {
        "ts": np.concatenate([ts, r_ts]),
        "rec": np.concatenate([rec, rec[r_idx]]).astype(np.int32),
        "amount": np.concatenate([amount, -amount[r_idx]]),
        "channel": np.concatenate([ch, ch[r_idx]]).astype(np.int8),
        "category": np.concatenate([cat, cat[r_idx]]),
        "store": np.concatenate([store, store[r_idx]]).astype(np.int16),
        "quantity": np.concatenate([qty, -qty[r_idx]]).astype(np.int16),
    }
    return out, truth


def _arrow_ids(prefix: str, numbers: np.ndarray, width: int):
    """Arrow large_string array of ``prefix`` + zero-padded ``numbers``."""
    digits = pc.utf8_lpad(pa.array(numbers).cast(pa.large_string()), width=width, padding="0")
    sep = pa.scalar("", pa.large_string())
    return pc.binary_join_element_wise(pa.scalar(prefix, pa.large_string()), digits, sep)


def _str_from_codes(codes: np.ndarray, labels, null_code: int | None = None) -> pd.array:
    """pandas ``str`` array from integer codes into ``labels`` (via Arrow, no Python objects)."""
    codes = np.asarray(codes)
    mask = None if null_code is None else codes == null_code
    idx = pa.array(codes, mask=mask)
    dictionary = pa.array(np.asarray(labels, dtype=str), type=pa.large_string())
    arr = pa.DictionaryArray.from_arrays(idx, dictionary).cast(pa.large_string())
    return pd.array(arr, dtype="str")


def _transactions_frame(
    rows: dict[str, np.ndarray], customers: pd.DataFrame, anchor: pd.Timestamp
) -> pd.DataFrame:
    """The transactions table from the simulated rows, in time order (ties by record).

    Built column by column to keep peak memory low: ``rows`` is emptied on the way. Text
    columns are pandas ``str`` (Arrow); the two low-cardinality columns no defect touches
    (``store_id``, ``source_system``) are categorical, which the CSV writer handles.
    """
    # the sort key fits in int64: ts < 2**36 s, rec < 2**26
    order = np.argsort((rows["ts"] << 26) | rows["rec"].astype(np.int64), kind="stable")
    for k in list(rows):
        rows[k] = rows[k][order]
    del order
    nt = len(rows["ts"])
    anchor_s = anchor.to_datetime64().astype("datetime64[s]")
    rec = rows.pop("rec")
    is_b = (customers["source_system"].astype("str").to_numpy() != "CRM-A").astype(np.int8)
    cols: dict[str, object] = {}
    cols["transaction_id"] = pd.array(
        _arrow_ids("T", np.arange(1, nt + 1), max(8, len(str(nt)))), dtype="str"
    )
    cols["customer_id"] = _str_from_codes(rec, customers["customer_id"].astype("str").to_numpy())
    cols["timestamp"] = anchor_s + rows.pop("ts").astype("timedelta64[s]")
    cols["amount"] = rows.pop("amount")
    cols["channel"] = _str_from_codes(rows.pop("channel"), CHANNELS)
    cols["category"] = _str_from_codes(rows.pop("category"), CATEGORIES)
    store = rows.pop("store").astype(np.int16)
    cols["store_id"] = pd.Categorical.from_codes(
        store - 1, [f"S{i:03d}" for i in range(1, N_STORES + 1)]
    )
    cols["quantity"] = rows.pop("quantity")  # int16: |quantity| <= 99
    cols["source_system"] = pd.Categorical.from_codes(is_b[rec], ["CRM-A", "CRM-B"])
    del rec, store
    return pd.DataFrame(cols, copy=False)


def make_transactions(
    people: pd.DataFrame,
    customers: pd.DataFrame,
    rng: np.random.Generator,
    start: pd.Timestamp = START,
    end: pd.Timestamp = END,
    *,
    horizon_days: int = HORIZON_DAYS,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Simulate every person's purchases through ``end + horizon_days``; keep rows up to ``end``.

    Parameters
    ----------
    people : DataFrame
        From :func:`make_records`.
    customers : DataFrame
        CRM records from :func:`make_records` (ids for the rows).
    rng : numpy Generator
        Source of randomness.
    start, end : Timestamp
        Window start and the data end (inclusive; nothing after the end of this day is written).
    horizon_days : int
        Days after the end simulated for the churn truth (never written to the tables).

    Returns
    -------
    transactions : DataFrame
        ``transaction_id, customer_id, timestamp, amount, channel, category, store_id, quantity,
        source_system``; refunds are later rows with negative amount and quantity.
    people : DataFrame
        Input plus ``n_purchases``, ``last_purchase``, ``total_spend``, ``alive_at_end`` and the
        final ``complaint_date``.
    churn_truth : DataFrame
        Per person: ``master_id``, ``n_repeat_obs``, ``t_x_days``, ``T_days``,
        ``p_alive_at_end``, ``p_lapse_90d``, ``lapsed_90d``, ``purchases_next_90d``,
        ``alive_at_end``.
    """
    people = people.reset_index(drop=True).copy()
    n = len(people)
    anchor = anchor_for(start)
    end = pd.Timestamp(end).normalize()
    end_s = int(_seconds(end + pd.Timedelta(days=1), anchor))
    h_s = end_s + horizon_days * _DAY_S
    rec_index = pd.Index(customers["customer_id"].astype("str"))
    primary_pos = rec_index.get_indexer(people["primary_customer_id"].astype("str"))
    sec_ids = people["secondary_customer_id"]
    has_sec = sec_ids.notna().to_numpy()
    secondary_pos = np.full(n, -1)
    secondary_pos[has_sec] = rec_index.get_indexer(sec_ids[has_sec].astype("str"))
    if (primary_pos < 0).any() or (secondary_pos[has_sec] < 0).any():
        raise ValueError("people refer to customer ids that are not in customers")

    cols = {
        "lam": people["lam"].to_numpy(float),
        "p_drop": people["p_drop"].to_numpy(float),
        "weekend_share": people["weekend_share"].to_numpy(float),
        "tod": people[[f"p_tod_{t}" for t in TIMES_OF_DAY]].to_numpy(float),
        "channel": people[["p_store", "p_web", "p_app"]].to_numpy(float),
        "category": people[[f"p_cat_{c}" for c in CATEGORIES]].to_numpy(float),
        "avg_basket": people["avg_basket"].to_numpy(float),
        "app_user": people["app_user"].to_numpy(bool),
        "home_store": people["home_store"].to_numpy(),
        "complained": people["complained"].to_numpy(bool),
        "first_s": _seconds(people["first_purchase"].to_numpy(), anchor),
        "primary_pos": primary_pos,
        "secondary_pos": secondary_pos,
        "has_secondary": has_sec,
    }
    n_chunks = max(1, -(-n // TX_CHUNK))
    rngs = rng.spawn(n_chunks)
    parts, truths = [], []
    for i in range(n_chunks):  # chunks of TX_CHUNK people (memory), vectorised within
        sl = slice(i * TX_CHUNK, min(n, (i + 1) * TX_CHUNK))
        part, tr = _simulate_chunk({k: v[sl] for k, v in cols.items()}, rngs[i], anchor, end_s, h_s)
        parts.append(part)
        truths.append(tr)
        logger.info("transactions: simulated people %d-%d of %d", sl.start, sl.stop, n)
    keys = list(parts[0])
    rows = {}
    for k in keys:  # one column at a time, freeing the chunks' arrays as we go
        rows[k] = np.concatenate([part.pop(k) for part in parts])
    del parts
    truth = {k: np.concatenate([t[k] for t in truths]) for k in truths[0]}
    transactions = _transactions_frame(rows, customers, anchor)
    pa.default_memory_pool().release_unused()
    nt = len(transactions)
    anchor_s = anchor.to_datetime64().astype("datetime64[s]")

    people["n_purchases"] = truth["n_obs"]
    people["last_purchase"] = anchor_s + truth["last_s"].astype("timedelta64[s]")
    people["total_spend"] = np.round(truth["total_spend"], 2)
    people["alive_at_end"] = truth["alive_at_end"]
    cs = truth["complaint_s"]
    people["complaint_date"] = pd.Series(
        np.where(
            cs == np.iinfo(np.int64).min,
            np.datetime64("NaT"),
            anchor_s + cs.clip(0).astype("timedelta64[s]"),
        )
    ).astype("datetime64[s]")
    churn = pd.DataFrame(
        {
            "master_id": people["master_id"],
            **{
                k: truth[k]
                for k in (
                    "n_repeat_obs",
                    "t_x_days",
                    "T_days",
                    "expected_purchases_90d_if_alive",
                    "p_alive_at_end",
                    "p_lapse_90d",
                    "lapsed_90d",
                    "purchases_next_90d",
                    "alive_at_end",
                )
            },
        }
    )
    n_ref = int((transactions["amount"] < 0).sum())
    logger.info(
        "transactions: %d rows (%d refunds), %.1f purchases per person; lapsed in next %d days "
        "%.1f%% (mean p_lapse %.1f%%)",
        nt,
        n_ref,
        truth["n_obs"].mean() if n else 0.0,
        horizon_days,
        100 * churn["lapsed_90d"].mean() if n else 0.0,
        100 * churn["p_lapse_90d"].mean() if n else 0.0,
    )
    return transactions, people, churn


# --------------------------------------------------------------------------------------------
# Service feedback: satisfaction surveys and complaints
# --------------------------------------------------------------------------------------------


def _answer_records_and_comments(
    people: pd.DataFrame, who: np.ndarray, score: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Record and comment of each survey answer: ``who`` are positions in ``people``.

    The answer is on the person's primary record or, for a duplicated person, on the secondary
    one with probability ``1 - DUP_SPLIT_PRIMARY``; 15% of answers carry a short comment, good
    for scores of 7 or more. Returns ``(customer_id, comment)`` (comment "" for none).
    """
    m = len(who)
    prim = people["primary_customer_id"].astype("str").to_numpy()
    sec = people["secondary_customer_id"]
    has_sec = sec.notna().to_numpy()
    sec = sec.fillna("").astype("str").to_numpy()
    use_sec = has_sec[who] & (rng.random(m) >= DUP_SPLIT_PRIMARY)
    cid = np.where(use_sec, sec[who], prim[who])
    has_comment = rng.random(m) < 0.15
    good = np.asarray(SURVEY_COMMENTS_GOOD)[rng.integers(0, len(SURVEY_COMMENTS_GOOD), m)]
    bad = np.asarray(SURVEY_COMMENTS_BAD)[rng.integers(0, len(SURVEY_COMMENTS_BAD), m)]
    return cid, np.where(has_comment, np.where(score >= 7, good, bad), "")


def make_service_feedback(
    people: pd.DataFrame,
    customers: pd.DataFrame,
    rng: np.random.Generator,
    start: pd.Timestamp = START,
    end: pd.Timestamp = END,
) -> pd.DataFrame:
    """Satisfaction surveys and call-centre complaints, linked to a source record.

    Surveys: each observed purchase leads to a survey with probability ``SURVEY_RATE``; the
    survey falls on a uniform day between the first purchase and three days after the last
    observed one (capped at the data end), 08:00-22:00, scores 0-10 around ``2 * satisfaction`` (sd ``SURVEY_SCORE_SD``),
    touchpoint drawn from the person's channel propensities. Complaints: one row per complained
    person at ``complaint_date``, touchpoint ``call_centre``, score 0-3, a short comment.

    Returns
    -------
    DataFrame with ``customer_id, timestamp, score, touchpoint, journey_id, complaint, comment``.
    """
    people = people.reset_index(drop=True)
    n = len(people)
    anchor = anchor_for(start)
    end_s = int(_seconds(pd.Timestamp(end).normalize() + pd.Timedelta(days=1), anchor))
    first_s = _seconds(people["first_purchase"].to_numpy(), anchor)
    last_s = _seconds(people["last_purchase"].to_numpy(), anchor)
    n_pur = people["n_purchases"].to_numpy()
    sat = people["satisfaction"].to_numpy(float)
    prim = people["primary_customer_id"].astype("str").to_numpy()

    k = rng.binomial(n_pur, SURVEY_RATE)
    who = np.repeat(np.arange(n), k)
    m = len(who)
    first_day = first_s[who] // _DAY_S
    last_day = np.minimum(last_s[who] // _DAY_S + 3, end_s // _DAY_S - 1)
    day = first_day + np.floor(rng.random(m) * (last_day - first_day + 1)).astype(np.int64)
    ts = day * _DAY_S + rng.integers(8 * 3600, 22 * 3600, m)  # answered 08:00-22:00
    score = np.clip(np.round(2.0 * sat[who] + rng.normal(0.0, SURVEY_SCORE_SD, m)), 0, 10)
    ch_cum = np.cumsum(people[["p_store", "p_web", "p_app"]].to_numpy(float), axis=1)
    tp = _draw_index(ch_cum, who, rng.random(m))
    cid, comment = _answer_records_and_comments(people, who, score, rng)

    comp = np.flatnonzero(people["complained"].to_numpy(bool))
    nc = len(comp)
    c_ts = _seconds(people["complaint_date"].to_numpy()[comp], anchor)
    c_score = rng.integers(0, 4, nc).astype(float)
    c_text = np.asarray(COMPLAINT_COMMENTS)[rng.integers(0, len(COMPLAINT_COMMENTS), nc)]
    # some callers leave their number in the free text (PII in comments is realistic)
    leave_phone = rng.random(nc) < 0.05
    phone = people["phone"].astype("str").to_numpy()[comp] if "phone" in people else ""
    c_text = np.where(
        leave_phone, _S.add(_S.add(c_text, ". Please call me back on "), phone), c_text
    )

    anchor_s = anchor.to_datetime64().astype("datetime64[s]")
    fb = pd.DataFrame(
        {
            "customer_id": pd.array(np.concatenate([cid, prim[comp]]), dtype="str"),
            "timestamp": anchor_s + np.concatenate([ts, c_ts]).astype("timedelta64[s]"),
            "score": np.concatenate([score, c_score]),
            "touchpoint": pd.array(
                np.concatenate([np.asarray(CHANNELS)[tp], np.full(nc, "call_centre")]),
                dtype="str",
            ),
            "journey_id": pd.array([None] * (m + nc), dtype="str"),
            "complaint": np.concatenate([np.zeros(m, bool), np.ones(nc, bool)]),
            "comment": _empty_to_na(np.concatenate([comment, c_text])).array,
        }
    )
    fb = fb.sort_values(["timestamp", "customer_id"], kind="stable", ignore_index=True)
    logger.info("service feedback: %d surveys, %d complaints", m, nc)
    return fb


def make_relationship_surveys(
    people: pd.DataFrame,
    rng: np.random.Generator,
    start: pd.Timestamp = START,
    end: pd.Timestamp = END,
) -> pd.DataFrame:
    """Periodic relationship ("overall satisfaction") surveys, e-mailed to a random share.

    Every ``RELATIONSHIP_WAVE_MONTHS`` months after ``start`` (before ``end``) a random
    ``RELATIONSHIP_INVITE_SHARE`` of the people whose first purchase came before the wave is
    invited. Who answers depends on satisfaction and on whether the person has already dropped
    out (``alive_at_end`` false and the last purchase before the wave):
    ``logit P(answer) = RELATIONSHIP_RESPONSE_INTERCEPT + RELATIONSHIP_RESPONSE_SLOPE *
    (3.5 - satisfaction) - RELATIONSHIP_DROPPED_PENALTY * dropped``, so the dissatisfied answer
    more often, as in real customer surveys. An answer comes on a uniform day within
    ``RELATIONSHIP_ANSWER_DAYS`` of the invitation (before the data end), 08:00-22:00, touchpoint
    ``email``, score 0-10 around ``2 * satisfaction`` (sd ``RELATIONSHIP_SCORE_SD``), on the
    person's primary record or, for duplicated people, sometimes the secondary one; 15% leave a
    comment.

    Returns
    -------
    DataFrame with ``customer_id, timestamp, score, touchpoint, journey_id, complaint, comment``
    (``complaint`` false, ``journey_id`` empty).
    """
    people = people.reset_index(drop=True)
    n = len(people)
    anchor = anchor_for(start)
    end_day = int(_seconds(pd.Timestamp(end).normalize(), anchor)) // _DAY_S
    first_s = _seconds(people["first_purchase"].to_numpy(), anchor)
    last_s = _seconds(people["last_purchase"].to_numpy(), anchor)
    alive_end = people["alive_at_end"].to_numpy(bool)
    sat = people["satisfaction"].to_numpy(float)

    waves = []
    k = 1
    while True:
        day = pd.Timestamp(start).normalize() + pd.DateOffset(months=RELATIONSHIP_WAVE_MONTHS * k)
        if day >= pd.Timestamp(end).normalize():
            break
        waves.append(int(_seconds(day, anchor)) // _DAY_S)
        k += 1
    whos, days = [], []
    for wave_day in waves:
        wave_s = wave_day * _DAY_S
        member = first_s < wave_s
        invited = member & (rng.random(n) < RELATIONSHIP_INVITE_SHARE)
        dropped = ~alive_end & (last_s < wave_s)
        logit = (
            RELATIONSHIP_RESPONSE_INTERCEPT
            + RELATIONSHIP_RESPONSE_SLOPE * (3.5 - sat)
            - RELATIONSHIP_DROPPED_PENALTY * dropped
        )
        answered = invited & (rng.random(n) < _sigmoid(logit))
        who = np.flatnonzero(answered)
        last_day = min(wave_day + RELATIONSHIP_ANSWER_DAYS - 1, end_day)
        day = rng.integers(wave_day, last_day + 1, len(who))
        whos.append(who)
        days.append(day)
    who = np.concatenate(whos) if whos else np.zeros(0, np.int64)
    day = np.concatenate(days) if days else np.zeros(0, np.int64)
    m = len(who)
    ts = day * _DAY_S + rng.integers(8 * 3600, 22 * 3600, m)
    score = np.clip(np.round(2.0 * sat[who] + rng.normal(0.0, RELATIONSHIP_SCORE_SD, m)), 0, 10)
    cid, comment = _answer_records_and_comments(people, who, score, rng)
    anchor_s = anchor.to_datetime64().astype("datetime64[s]")
    fb = pd.DataFrame(
        {
            "customer_id": pd.array(cid, dtype="str"),
            "timestamp": anchor_s + ts.astype("timedelta64[s]"),
            "score": score.astype(float),
            "touchpoint": pd.array(np.full(m, "email"), dtype="str"),
            "journey_id": pd.array([None] * m, dtype="str"),
            "complaint": np.zeros(m, bool),
            "comment": _empty_to_na(comment).array,
        }
    )
    fb = fb.sort_values(["timestamp", "customer_id"], kind="stable", ignore_index=True)
    logger.info("relationship surveys: %d waves, %d answers", len(waves), m)
    return fb


# --------------------------------------------------------------------------------------------
# Truth tables
# --------------------------------------------------------------------------------------------


def drivers_table() -> pd.DataFrame:
    """True effects on the log-odds of dropping out after a repeat purchase (``p_drop``)."""
    rows = [
        (
            "complaint",
            BETA_COMPLAINT,
            "person made a call-centre complaint (feedback complaint=True); added to logit(p_drop)",
        ),
        (
            "low_satisfaction",
            BETA_LOW_SATISFACTION,
            f"latent satisfaction below {LOW_SATISFACTION} on 1-5 (survey scores around 5/10 or "
            "less); added to logit(p_drop)",
        ),
        (
            "no_app",
            BETA_NO_APP,
            "person does not use the app (no app purchases); added to logit(p_drop)",
        ),
    ]
    for i, seg in enumerate(SEGMENTS):
        base = segment_base_logit(i)
        rows.append(
            (
                f"segment_base: {seg.name}",
                round(base, 6),
                f"logit(p_drop) of an app-using member without complaint or low satisfaction in "
                f"this segment (p_drop = {float(_sigmoid(base)):.4f}); person noise N(0, "
                f"{P_DROP_NOISE_SD}) is added",
            )
        )
    return pd.DataFrame(rows, columns=["driver", "true_log_odds_effect", "description"]).astype(
        {"driver": "str", "description": "str"}
    )
