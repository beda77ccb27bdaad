"""CRM records (PII) of the people in two source systems, and duplicates across them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cxlib.synth._names import (
    _FIRST_LOW,
    _LAST_LOW,
    _NICK_LOOKUP,
    EMAIL_DOMAIN_P,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    NICKNAMES,
    POSTCODE_AREAS,
    POSTCODE_INWARD_LETTERS,
)
from cxlib.synth._params import (
    CONSENT_RECORD,
    CONSENT_TRUE,
    END,
    N_STORES,
    SHARE_CRM_A,
    SHARE_DUPLICATED,
    SHARE_IN_HOUSEHOLD,
    SHARE_NAMESAKE,
)

logger = logging.getLogger(__name__)

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


@dataclass
class _Identity:
    """The true identity of every person (PII as Arrow strings, name indices for e-mails)."""

    first_idx: np.ndarray
    last_idx: np.ndarray
    birth_year: np.ndarray
    age: np.ndarray
    first: pa.Array
    last: pa.Array
    postcode: pa.Array
    phone: pa.Array
    email: pa.Array
    region: pa.Array
    home_store: np.ndarray
    household_id: np.ndarray


def _true_identity(people: pd.DataFrame, rng: np.random.Generator) -> _Identity:
    """Names, postcode, phone and e-mail of each person, with households and namesakes.

    Households are pairs of distinct people sharing postcode, mostly surname, sometimes phone
    and e-mail; namesakes are distinct people with the same first name, surname and birth year.
    Identity is drawn as indices and digits; the strings are built once, with Arrow.
    """
    n = len(people)
    birth_year = people["birth_year"].to_numpy().copy()
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
    age[ns[:, 1]] = END.year - birth_year[ns[:, 1]]

    first = _take(FIRST_NAMES, first_idx)
    domain = _take(EMAIL_DOMAINS, rng.choice(len(EMAIL_DOMAINS), size=n, p=EMAIL_DOMAIN_P))
    email = _unique_emails(_email_local_pa(first_idx, last_idx, birth_year, rng), domain, rng)
    share_email = rng.random(len(lead)) < 0.05
    src = np.arange(n)
    src[other[share_email]] = lead[share_email]
    return _Identity(
        first_idx=first_idx,
        last_idx=last_idx,
        birth_year=birth_year,
        age=age,
        first=first,
        last=_take(LAST_NAMES, last_idx),
        postcode=_postcodes_pa(area, pc_digit, pc_l1, pc_l2),
        phone=_cat("07", _digits(phone_num)),
        email=email.take(pa.array(src)),
        region=_take([r for _, r in POSTCODE_AREAS], area),
        home_store=area % N_STORES + 1,
        household_id=household_id,
    )


def _second_records(
    ident: _Identity, dup_idx: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """How duplicated people were typed into the other system: nicknames and typos in names,
    re-typed, new or missing e-mails, phones and postcodes, birth years off by one.

    Returns ``(first, last, email, phone, postcode, birth_year)`` of the second records (e-mail
    "" for none, phone and postcode None for none, birth year NaN for none).
    """
    nd = len(dup_idx)
    f2 = _np_str(ident.first.take(pa.array(dup_idx)))
    l2 = _np_str(ident.last.take(pa.array(dup_idx)))
    e2 = _np_str(ident.email.take(pa.array(dup_idx)))
    p2 = _np_str(ident.phone.take(pa.array(dup_idx))).astype(object)
    pc2 = _np_str(ident.postcode.take(pa.array(dup_idx))).astype(object)
    by2 = ident.birth_year[dup_idx].astype(float)
    if not nd:
        return f2, l2, e2, p2, pc2, by2
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
    l2_idx = ident.last_idx[dup_idx]
    new_local = _np_str(
        _email_local_pa(ident.first_idx[dup_idx], l2_idx, ident.birth_year[dup_idx], rng)
    )
    new_dom = np.asarray(EMAIL_DOMAINS)[rng.choice(len(EMAIL_DOMAINS), size=nd, p=EMAIL_DOMAIN_P)]
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
    return f2, l2, e2, p2, pc2, by2


def _record_pii(
    ident: _Identity,
    second: tuple[np.ndarray, ...],
    rec_a: np.ndarray,
    rec_secondary: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, pa.Array | np.ndarray]:
    """PII of every record (people's first records, then the second ones) in the format of its
    system, with light missingness: ``first_name``, ``last_name``, ``email``, ``phone``,
    ``postcode`` (Arrow) and ``birth_year`` (float, NaN for none)."""
    f2, l2, e2, p2, pc2, by2 = second
    nr = len(rec_a)
    r_first = pa.concat_arrays([ident.first, _pa(f2)])
    r_last = pa.concat_arrays([ident.last, _pa(l2)])
    e2_pa = _where(e2 == "", _NULL, _pa(e2)) if len(e2) else _pa(e2)
    r_email = pa.concat_arrays([ident.email, e2_pa])
    r_phone_digits = pa.concat_arrays([ident.phone, _pa(p2)])
    r_postcode = pa.concat_arrays([ident.postcode, _pa(pc2)])
    r_by = np.concatenate([ident.birth_year.astype(float), by2])

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
    return {
        "first_name": r_first,
        "last_name": r_last,
        "email": r_email,
        "phone": r_phone,
        "postcode": r_pc,
        "birth_year": r_by,
    }


def _signup_and_consent(
    people: pd.DataFrame,
    rec_person: np.ndarray,
    rec_secondary: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, pd.api.extensions.ExtensionArray, np.ndarray]:
    """Signup date, marketing consent and consent date of every record.

    The primary record has the person's signup date; the second system's record came later.
    Consent is the person's status; the second record agrees 75% of the time.
    """
    end = END
    nr = len(rec_person)
    signup = people["signup_date"].to_numpy().astype("datetime64[s]")[rec_person]
    later = (
        rng.random(nr)
        * np.maximum((end.to_datetime64() - signup).astype("timedelta64[D]").astype(float), 1.0)
    ).astype("timedelta64[D]")
    signup = np.where(rec_secondary, signup + later, signup).astype("datetime64[D]")

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
    return signup, consent, consent_date


def _record_numbers(
    rec_a: np.ndarray, signup: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, pa.Array]:
    """Record numbers within each system in signup order (ties in random order) and the ids
    (``CRM-A-000001``, ``CRM-B-000001``, ...)."""
    nr = len(rec_a)
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
    return number, cust_id


def _col(a: pa.Array) -> pd.api.extensions.ExtensionArray:
    return pd.array(a, dtype="str")


def _add_truth_to_people(
    people: pd.DataFrame,
    ident: _Identity,
    dup: np.ndarray,
    dup_idx: np.ndarray,
    cust_id: pa.Array,
) -> None:
    """The true PII, household and record ids of each person, as columns of ``people``."""
    n, nd = len(people), len(dup_idx)
    pid = _col(cust_id.slice(0, n))
    sid = pd.Series(pd.array([None] * n, dtype="str"))
    if nd:
        sid.iloc[dup_idx] = np.asarray(_col(cust_id.slice(n, nd)), dtype=object)
    people["first_name"] = _col(ident.first)
    people["last_name"] = _col(ident.last)
    people["email"] = _col(ident.email)
    people["phone"] = _col(ident.phone)
    people["postcode"] = _col(ident.postcode)
    people["region"] = _col(ident.region)
    people["home_store"] = ident.home_store.astype(np.int16)
    people["household_id"] = ident.household_id
    people["is_duplicated"] = dup
    people["primary_customer_id"] = pid
    people["secondary_customer_id"] = sid.array
    joined = pd.Series(pid).where(~dup, pd.Series(pid) + "|" + sid.fillna(""))
    people["customer_ids"] = joined.str.split("|").to_numpy()


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
    ident = _true_identity(people, rng)
    people["age"] = ident.age
    people["birth_year"] = ident.birth_year

    # --- records: every person once, duplicated people a second time (in the other CRM) ----
    primary_a = rng.random(n) < SHARE_CRM_A
    dup = rng.random(n) < SHARE_DUPLICATED
    dup_idx = np.flatnonzero(dup)
    nd = len(dup_idx)
    rec_person = np.concatenate([np.arange(n), dup_idx])
    rec_secondary = np.concatenate([np.zeros(n, bool), np.ones(nd, bool)])
    rec_a = np.concatenate([primary_a, ~primary_a[dup_idx]])
    nr = len(rec_person)

    second = _second_records(ident, dup_idx, rng)
    pii = _record_pii(ident, second, rec_a, rec_secondary, rng)
    signup, consent, consent_date = _signup_and_consent(people, rec_person, rec_secondary, rng)

    # loyalty tier from the true spend rate (noisy), per record
    score = np.log(people["lam"].to_numpy() * people["avg_basket"].to_numpy())[rec_person]
    score = score + rng.normal(0.0, 0.5, nr)
    q = pd.Series(score).rank(pct=True).to_numpy()
    tier = np.select([q > 0.95, q > 0.8, q > 0.5], [3, 2, 1], 0)
    app = people["app_user"].to_numpy()[rec_person]
    app = np.where(rec_secondary & (rng.random(nr) < 0.1), ~app, app)

    number, cust_id = _record_numbers(rec_a, signup, rng)
    r_by = pii["birth_year"]
    customers = pd.DataFrame(
        {
            "customer_id": _col(cust_id),
            "source_system": _col(_where(rec_a, pa.scalar("CRM-A"), pa.scalar("CRM-B"))),
            **{k: _col(pii[k]) for k in ("first_name", "last_name", "email", "phone", "postcode")},
            "birth_year": pd.array(r_by, dtype="Int64") if nr else pd.array([], dtype="Int64"),
            "signup_date": signup.astype("datetime64[s]"),
            "marketing_consent": consent,
            "consent_date": consent_date,
            "loyalty_tier": _col(_take(("Bronze", "Silver", "Gold", "Platinum"), tier)),
            "app_user": app.astype(bool),
            "region": _col(ident.region.take(pa.array(rec_person))),
        }
    )
    # rows in id order (system A first), as a CRM export would list them
    order = np.lexsort((number, ~rec_a))
    customers = customers.take(order).reset_index(drop=True)

    _add_truth_to_people(people, ident, dup, dup_idx, cust_id)
    logger.info(
        "records: %d for %d people (%d duplicated across systems, %.1f%%)",
        nr,
        n,
        nd,
        100.0 * nd / max(n, 1),
    )
    return customers, people
