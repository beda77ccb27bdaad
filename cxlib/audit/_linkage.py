"""The single customer view: records of the same person linked with Splink."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cxlib.audit._formats import (
    AGE_RANGE,
    DEFAULT_REGION,
    phone_e164,
    valid_email,
    valid_postcode,
)

log = logging.getLogger(__name__)

_GMAIL = ("gmail.com", "googlemail.com")


def _ascii_lower(s: pd.Series) -> pd.Series:
    """Text folded to lower-case ASCII (accents dropped)."""
    return (
        s.astype("str")
        .str.normalize("NFKD")
        .str.encode("ascii", errors="ignore")
        .str.decode("ascii")
        .str.lower()
    )


def _norm_name(s: pd.Series) -> pd.Series:
    out = _ascii_lower(s).str.replace(r"[^a-z]", "", regex=True)
    return out.where(s.notna() & (out != ""))


def _norm_address(s: pd.Series) -> pd.Series:
    """Lower case ASCII letters and digits, every other run of characters one space."""
    out = _ascii_lower(s).str.replace(r"[^a-z0-9]+", " ", regex=True).str.strip()
    return out.where(s.notna() & (out != ""))


def _norm_birth_date(s: pd.Series) -> pd.Series:
    """Birth dates as ``YYYYMMDD`` text: ISO dates (``1987-03-05``, ``19870305``) are read;
    other eight-digit values are kept as written (a mistyped date still matches its person
    nearly); anything else is missing. Day-first or month-first text (``05/03/1987``) is
    ambiguous and left out."""
    text = s.astype("str").str.strip()
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    digits = text.where(text.str.fullmatch(r"[0-9]{8}").fillna(False).astype(bool))
    out = parsed.dt.strftime("%Y%m%d").astype("str").fillna(digits)
    return out.where(s.notna())


def normalise_contacts(
    customers: pd.DataFrame,
    *,
    postcode_regex: str | None = None,
    as_of_date: Any = None,
    default_region: str = DEFAULT_REGION,
) -> pd.DataFrame:
    """Normalised linkage fields (a preparation step, not a matching rule).

    Names: lower case ASCII letters only. E-mail: lower case, Gmail dots and ``+tags`` removed;
    invalid addresses dropped. Phone: E.164 digits of a valid number, national numbers read as
    ``default_region``'s (:func:`~cxlib.audit.phone_e164`). Postcode: upper case without
    spaces when valid. Address: lower case letters and digits. Birth date: ``YYYYMMDD`` text.
    Birth year: kept when plausible.

    Returns
    -------
    DataFrame with ``unique_id`` (the customer id) and the normalised columns present, plus
    ``source_system`` when the input has it.
    """
    out = pd.DataFrame({"unique_id": customers["customer_id"].astype("str").to_numpy()})
    if "source_system" in customers:
        out["source_system"] = customers["source_system"].astype("str").to_numpy()
    for col in ("first_name", "last_name"):
        if col in customers:
            out[col] = _norm_name(customers[col]).to_numpy()
    if "email" in customers:
        e = customers["email"].astype("str").str.strip().str.lower()
        e = e.where(valid_email(customers["email"]).fillna(False).astype(bool))
        local = e.str.extract(r"^([^@]+)@", expand=False).str.replace(r"\+.*$", "", regex=True)
        dom = e.str.extract(r"@([^@]+)$", expand=False)
        gm = dom.isin(_GMAIL)
        local = local.where(~gm, local.str.replace(".", "", regex=False))
        dom = dom.where(~gm, "gmail.com")
        out["email"] = (local + "@" + dom).to_numpy()
    if "phone" in customers:
        out["phone"] = phone_e164(customers["phone"], default_region).to_numpy()
    if "postcode" in customers:
        ok = valid_postcode(customers["postcode"], postcode_regex).fillna(False).astype(bool)
        pc = customers["postcode"].astype("str").str.upper().str.replace(r"\s", "", regex=True)
        out["postcode"] = pc.where(ok).to_numpy()
    if "address" in customers:
        out["address"] = _norm_address(customers["address"]).to_numpy()
    if "birth_date" in customers:
        out["birth_date"] = _norm_birth_date(customers["birth_date"]).to_numpy()
    if "birth_year" in customers:
        year = pd.Timestamp(as_of_date).year if as_of_date is not None else pd.Timestamp.now().year
        by = customers["birth_year"].astype("Float64")
        ok = by.between(year - AGE_RANGE[1], year - AGE_RANGE[0])
        out["birth_year"] = by.where(ok).astype("Int64").to_numpy()
    for col in out.columns:
        if col != "birth_year":
            out[col] = out[col].astype(object).where(pd.notna(out[col]), None)
    return out


#: Prior probabilities that a level is seen when two records ARE the same person (Splink's m):
#: the starting values of EM, and the weights used when the m probabilities cannot be learnt
#: (fewer than ``min_records_em`` records, no blocks to train on, or EM failing). The u
#: probabilities (chance agreement) are always estimated from the data.
DEFAULT_M: dict[str, list[float]] = {
    "first_name": [0.80, 0.08, 0.05, 0.05, 0.02],  # exact, JW>.92, JW>.88, JW>.7, else
    "last_name": [0.85, 0.06, 0.03, 0.03, 0.03],
    "email": [0.80, 0.20],  # exact, else
    "phone": [0.85, 0.15],
    "postcode": [0.88, 0.12],
    "phone_postcode": [0.75, 0.10, 0.13, 0.02],  # both, phone only, postcode only, neither
    "address": [0.80, 0.10, 0.05, 0.05],  # exact, JW>.95, JW>.85, else
    "birth_date": [0.80, 0.12, 0.04, 0.04],  # exact, 1 edit, 2 edits, else
    "birth_year": [0.92, 0.04, 0.01],  # exact, ±1, else
    "source_system": [0.25, 0.75],  # same system, different systems
}


#: Blocks of the first EM session, first available wins: identifiers a household does not
#: share (a birth date; a birth year with the shared e-mail, phone or postcode), so that
#: households are not most of the training pairs. The second session blocks on the names, or
#: on surname and birth year after a birth-year block (namesakes would teach EM that one
#: person's birth years often differ); the birth year then keeps its prior.
_EM_BLOCKS: tuple[tuple[str, ...], ...] = (
    ("birth_date",),
    ("email", "birth_year"),
    ("phone", "birth_year"),
    ("postcode", "birth_year"),
)


_LINK_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "postcode",
    "address",
    "birth_date",
    "birth_year",
)


class SingleCustomerView:
    """Find records of the same person with Splink (Fellegi-Sunter on DuckDB).

    The defaults hold at scale: on 1.03 M customer records (1 M people) a fit took 25-60 s and
    2.2 GiB on a shared 2-core machine, so blocking rules and the u sample (``max_pairs``) are
    the same for every size (``benchmarks/RESULTS.md``).

    Parameters
    ----------
    match_threshold : float
        Pairs with a match probability at or above this are the same person; connected pairs
        form one person (``master_id``).
    random_state : int
        Seed of the random pair sample that estimates chance agreement (u probabilities).
    max_pairs : float
        Size of that sample.
    m_probabilities : mapping, optional
        Overrides of :data:`DEFAULT_M` per field (starting values of EM, or the weights
        when they are not learnt).
    postcode_regex : str, optional
        Postcode format (default: recognised from the data).
    default_region : str
        Region of phone numbers written without a country code (:func:`phone_e164`).
    min_records_em : int
        From this many records the m probabilities are learnt by expectation maximisation
        (Fellegi-Sunter, two sessions: blocked on :data:`_EM_BLOCKS`, then on the names);
        smaller tables keep :data:`DEFAULT_M`. On FEBRL (dataset4a + 4b, dataset3) the learnt
        weights give pair precision 1.00 and recall 0.96 / 0.95 (the priors: recall 0.95 / 0.90).

    Attributes
    ----------
    master_map_ : DataFrame
        ``customer_id, source_system, master_id, match_probability`` for every record
        (``match_probability`` is the best link into its person; empty for a single record).
    pairs_ : DataFrame
        Scored candidate pairs with probability ≥ 0.5: ``customer_id_l, customer_id_r,
        match_probability, match_weight`` (ids only).
    fields_ : list of str
        Fields compared.
    n_records_, n_people_ : int
    skipped_reason_ : str or None
        Why no linkage was run (too few fields), when so.
    weights_ : str
        ``learnt`` (EM), ``priors`` (:data:`DEFAULT_M`) or ``none`` (no linkage run).
    """

    def __init__(
        self,
        match_threshold: float = 0.99,
        random_state: int = 42,
        max_pairs: float = 2e6,
        m_probabilities: Mapping[str, list[float]] | None = None,
        postcode_regex: str | None = None,
        default_region: str = DEFAULT_REGION,
        min_records_em: int = 1000,
    ):
        self.default_region = default_region
        self.min_records_em = min_records_em
        self.match_threshold = match_threshold
        self.random_state = random_state
        self.max_pairs = max_pairs
        self.m_probabilities = m_probabilities
        self.postcode_regex = postcode_regex

    def _settings(self, fields: list[str], has_system: bool) -> Any:
        import splink.comparison_level_library as cll
        import splink.comparison_library as cl
        from splink import SettingsCreator, block_on

        m = {**DEFAULT_M, **dict(self.m_probabilities or {})}
        comps = []
        if "first_name" in fields:
            comps.append(cl.NameComparison("first_name").configure(m_probabilities=m["first_name"]))
        if "last_name" in fields:
            comps.append(
                cl.NameComparison("last_name").configure(
                    term_frequency_adjustments=True, m_probabilities=m["last_name"]
                )
            )
        if "email" in fields:
            # exact address only: a shared user name at another domain mostly repeats the name,
            # which is compared already
            em = m["email"]
            comps.append(
                cl.CustomComparison(
                    output_column_name="email",
                    comparison_levels=[
                        cll.NullLevel("email"),
                        cll.ExactMatchLevel("email").configure(
                            m_probability=em[0], tf_adjustment_column="email"
                        ),
                        cll.ElseLevel().configure(m_probability=em[1]),
                    ],
                )
            )
        if {"phone", "postcode"} <= set(fields):
            # one comparison: households share both, so counting them separately would double
            # the evidence of two correlated fields
            pp = m["phone_postcode"]
            comps.append(
                cl.CustomComparison(
                    output_column_name="phone_postcode",
                    comparison_levels=[
                        cll.And(cll.NullLevel("phone"), cll.NullLevel("postcode")).configure(
                            is_null_level=True, label_for_charts="phone and postcode missing"
                        ),
                        cll.And(
                            cll.ExactMatchLevel("phone"), cll.ExactMatchLevel("postcode")
                        ).configure(
                            m_probability=pp[0],
                            label_for_charts="same phone and postcode",
                            tf_adjustment_column="phone",
                        ),
                        cll.ExactMatchLevel("phone").configure(
                            m_probability=pp[1],
                            label_for_charts="same phone only",
                            tf_adjustment_column="phone",
                        ),
                        cll.ExactMatchLevel("postcode").configure(
                            m_probability=pp[2],
                            label_for_charts="same postcode only",
                            tf_adjustment_column="postcode",
                        ),
                        cll.ElseLevel().configure(m_probability=pp[3]),
                    ],
                )
            )
        else:
            for col in ("phone", "postcode"):
                if col in fields:
                    comps.append(cl.ExactMatch(col).configure(m_probabilities=m[col]))
        if "address" in fields:
            comps.append(
                cl.JaroWinklerAtThresholds("address", [0.95, 0.85]).configure(
                    term_frequency_adjustments=True, m_probabilities=m["address"]
                )
            )
        if "birth_date" in fields:
            comps.append(
                cl.DamerauLevenshteinAtThresholds("birth_date", [1, 2]).configure(
                    m_probabilities=m["birth_date"]
                )
            )
        elif "birth_year" in fields:
            by = m["birth_year"]
            comps.append(
                cl.CustomComparison(
                    output_column_name="birth_year",
                    comparison_levels=[
                        cll.NullLevel("birth_year"),
                        cll.ExactMatchLevel("birth_year").configure(m_probability=by[0]),
                        cll.AbsoluteDifferenceLevel("birth_year", 1).configure(m_probability=by[1]),
                        cll.ElseLevel().configure(m_probability=by[2]),
                    ],
                )
            )
        if has_system:
            ss = m["source_system"]
            comps.append(
                cl.CustomComparison(
                    output_column_name="source_system",
                    comparison_levels=[
                        cll.NullLevel("source_system"),
                        cll.ExactMatchLevel("source_system").configure(
                            m_probability=ss[0], label_for_charts="Same source system"
                        ),
                        cll.ElseLevel().configure(m_probability=ss[1]),
                    ],
                )
            )
        blocks = [
            ("email",),
            ("phone",),
            ("last_name", "postcode"),
            ("first_name", "postcode"),
            ("postcode", "birth_year"),
            ("first_name", "last_name", "birth_year"),
            ("birth_date",),
            ("address",),
            ("first_name", "last_name"),
        ]
        blocks = [b for b in blocks if set(b) <= set(fields)]
        return SettingsCreator(
            link_type="dedupe_only",
            unique_id_column_name="unique_id",
            comparisons=comps,
            blocking_rules_to_generate_predictions=[block_on(*b) for b in blocks],
            retain_intermediate_calculation_columns=False,
            retain_matching_columns=False,
        ), blocks

    def fit(self, customers: pd.DataFrame, as_of_date: Any = None) -> SingleCustomerView:
        """Link the customer records.

        Parameters
        ----------
        customers : DataFrame
            Customer records (``customer_id`` plus any of first_name, last_name, email, phone,
            postcode, address, birth_date, birth_year, source_system).
        as_of_date : date-like, optional
            Reference date for plausible birth years.
        """
        ids = customers["customer_id"].astype("str")
        system = (
            customers["source_system"].astype("str").where(customers["source_system"].notna())
            if "source_system" in customers
            else pd.Series(pd.NA, index=customers.index, dtype="str")
        )
        norm = normalise_contacts(
            customers,
            postcode_regex=self.postcode_regex,
            as_of_date=as_of_date,
            default_region=self.default_region,
        )
        fields = [f for f in _LINK_FIELDS if f in norm.columns and norm[f].notna().any()]
        self.fields_ = fields
        self.skipped_reason_ = None
        self.weights_ = "none"
        best = pd.Series(np.nan, index=ids.to_numpy(), dtype="float64")
        cluster = pd.Series(ids.to_numpy(), index=ids.to_numpy(), dtype=object)
        self.pairs_ = pd.DataFrame(
            columns=["customer_id_l", "customer_id_r", "match_probability", "match_weight"]
        )
        strong = {"email", "phone"} & set(fields)
        if len(customers) < 2 or len(fields) < 3 or not (strong or "postcode" in fields):
            self.skipped_reason_ = (
                "the customers table has too few contact fields to compare records "
                f"(found: {', '.join(fields) or 'none'})"
            )
        else:
            has_system = "source_system" in norm and norm["source_system"].nunique() > 1
            cluster, best = self._link(norm, fields, has_system, ids)
        # master ids numbered in order of each person's smallest customer id (deterministic)
        frame = pd.DataFrame(
            {
                "id": ids.to_numpy(dtype=object),
                "cluster": cluster.loc[ids.to_numpy()].to_numpy(dtype=object),
            }
        )
        first = frame.groupby("cluster", sort=False)["id"].transform("min")
        codes, _ = pd.factorize(first, sort=True)
        self.master_map_ = pd.DataFrame(
            {
                "customer_id": ids.to_numpy(),
                "source_system": system.to_numpy(),
                "master_id": pd.Series(codes + 1).map("M{:07d}".format).to_numpy(),
                "match_probability": best.loc[ids.to_numpy()].round(6).to_numpy(),
            }
        )
        self.n_records_ = len(self.master_map_)
        self.n_people_ = int(self.master_map_["master_id"].nunique())
        log.info("single customer view: %d records, %d people", self.n_records_, self.n_people_)
        return self

    def _link(
        self, norm: pd.DataFrame, fields: list[str], has_system: bool, ids: pd.Series
    ) -> tuple[pd.Series, pd.Series]:
        from splink import DuckDBAPI, Linker, block_on

        settings, blocks = self._settings(fields, has_system)
        cols = ["unique_id", *fields] + (["source_system"] if has_system else [])
        frame = norm[cols].copy()
        db = DuckDBAPI()
        splink_log = logging.getLogger("splink")
        old_level = splink_log.level
        splink_log.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sdf = db.register(frame, table_name="cx_records")
                linker = Linker(sdf, settings, log_level=None)
                det = [
                    b
                    for b in (
                        ("email",),
                        ("phone", "last_name"),
                        ("first_name", "last_name", "birth_year", "postcode"),
                    )
                    if set(b) <= set(fields)
                ] or blocks[:1]
                n_pairs = max(len(frame) * (len(frame) - 1) / 2, 1.0)
                try:
                    linker.training.estimate_probability_two_random_records_match(
                        [block_on(*b) for b in det], recall=0.8
                    )
                    prior = linker._settings_obj._probability_two_random_records_match
                except ValueError:  # tiny tables: more exact matches than recall 0.8 allows
                    prior = 0.5
                # no exact match at all gives a prior of 0, which Splink cannot score (log 0):
                # assume at most one matching pair among all pairs instead
                prior = float(np.clip(prior, 1.0 / (2.0 * n_pairs), 0.5))
                linker._settings_obj._probability_two_random_records_match = prior
                linker.training.estimate_u_using_random_sampling(
                    max_pairs=self.max_pairs, seed=int(self.random_state)
                )
                before = linker.misc.save_model_to_json()
                self.weights_ = self._learn_m(linker, fields, len(frame))
                if self.weights_ != "learnt":  # back to the priors (EM may have moved some)
                    linker = Linker(sdf, before, log_level=None)
                pred = linker.inference.predict(threshold_match_probability=0.5)
                pairs = pred.as_pandas_dataframe()
                clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
                    pred, threshold_match_probability=self.match_threshold
                ).as_pandas_dataframe()
                self.model_ = linker.misc.save_model_to_json()
        finally:
            splink_log.setLevel(old_level)
        pairs = pairs.rename(
            columns={"unique_id_l": "customer_id_l", "unique_id_r": "customer_id_r"}
        )
        pairs = pairs[["customer_id_l", "customer_id_r", "match_probability", "match_weight"]]
        pairs = pairs.sort_values(["customer_id_l", "customer_id_r"]).reset_index(drop=True)
        self.pairs_ = pairs
        cluster = clusters.set_index("unique_id")["cluster_id"].astype(str)
        cluster = cluster.reindex(ids.to_numpy()).fillna(
            pd.Series(ids.to_numpy(), index=ids.to_numpy())
        )
        links = pairs[pairs["match_probability"] >= self.match_threshold]
        both = pd.concat(
            [
                links[["customer_id_l", "match_probability"]].set_axis(["id", "p"], axis=1),
                links[["customer_id_r", "match_probability"]].set_axis(["id", "p"], axis=1),
            ]
        )
        best = both.groupby("id")["p"].max().reindex(ids.to_numpy())
        return cluster, best

    def _learn_m(self, linker: Any, fields: list[str], n_records: int) -> str:
        """Estimate the m probabilities by expectation maximisation on two blocked samples
        (each trains the comparisons it does not block on); keep :data:`DEFAULT_M` when the
        table has fewer than ``min_records_em`` records or EM fails. Returns which was used."""
        from splink import block_on

        if n_records < self.min_records_em:
            return "priors"
        first = next(
            (b for b in _EM_BLOCKS if set(b) <= set(fields)),
            None,
        )
        names = ("first_name", "last_name")
        if first is None or not set(names) <= set(fields):
            return "priors"
        second = ("last_name", "birth_year") if "birth_year" in first else names
        try:
            for rule in (first, second):
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on(*rule), max_pairs=self.max_pairs
                )
        except Exception as exc:  # EM on degenerate blocks (no variation) cannot be fitted
            log.warning("match weights: EM failed (%s); documented priors used", exc)
            return "priors"
        return "learnt"

    def summary(self) -> pd.DataFrame:
        """Records, people and duplicate records, overall and per source system."""
        mm = self.master_map_
        size = mm.groupby("master_id")["customer_id"].transform("size")
        rows = [
            {
                "source_system": "all",
                "records": len(mm),
                "people": mm["master_id"].nunique(),
                "records_of_people_with_several": int((size > 1).sum()),
            }
        ]
        if mm["source_system"].notna().any():
            for sys_name, g in mm.groupby("source_system", sort=True):
                rows.append(
                    {
                        "source_system": sys_name,
                        "records": len(g),
                        "people": g["master_id"].nunique(),
                        "records_of_people_with_several": int((size.loc[g.index] > 1).sum()),
                    }
                )
        out = pd.DataFrame(rows)
        out["duplicate_records"] = out["records"] - out["people"]
        return out
