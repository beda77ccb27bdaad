"""Rule settings of the audit and the format checks of single values (e-mail, phone, postcode)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

#: Quality dimensions in the order reports show them.
DIMENSIONS: tuple[str, ...] = (
    "completeness",
    "validity",
    "uniqueness",
    "consistency",
    "timeliness",
    "integrity",
)


#: Columns whose missing values the completeness rules report (others are profiled only).
COMPLETENESS_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": (
        "first_name",
        "last_name",
        "email",
        "phone",
        "postcode",
        "address",
        "birth_year",
        "birth_date",
        "signup_date",
        "marketing_consent",
    ),
    "transactions": ("channel", "category", "quantity"),
    "events": ("channel",),
    "feedback": ("touchpoint",),
    "campaign": (),
}


#: Label columns checked for inconsistent spellings (case, whitespace, synonyms).
LABEL_COLUMNS: dict[str, tuple[str, ...]] = {
    "transactions": ("channel", "category", "source_system"),
    "customers": ("source_system",),
    "events": ("channel", "touchpoint"),
    "feedback": ("touchpoint",),
    "campaign": ("group",),
}


#: Timestamp columns checked for dates after the as-of date.
TIME_COLUMNS: dict[str, tuple[str, ...]] = {
    "transactions": ("timestamp",),
    "events": ("timestamp",),
    "feedback": ("timestamp",),
    "campaign": ("sent_at",),
    "customers": ("signup_date", "consent_date"),
}


#: Plausible customer age range (years at the as-of date) for the birth-year rule.
AGE_RANGE: tuple[int, int] = (14, 110)


#: Known postcode formats (upper case, after trimming); the one that fits most values is used if it
#: fits at least half of them, else the dominant character shapes are learnt from the data.
POSTCODE_PATTERNS: dict[str, str] = {
    "UK": r"[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}",
    "DE/FR/ES/IT": r"[0-9]{5}",
    "US": r"[0-9]{5}(-[0-9]{4})?",
    "NL": r"[0-9]{4} ?[A-Z]{2}",
    "CA": r"[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9]",
    "BE/DK/AT/CH/AU/NO": r"[0-9]{4}",
    "PT": r"[0-9]{4}-[0-9]{3}",
    "PL": r"[0-9]{2}-[0-9]{3}",
    "SE": r"[0-9]{3} ?[0-9]{2}",
    "IE": r"[A-Z][0-9][0-9W] ?[A-Z0-9]{4}",
}


_EMAIL_RE = r"[A-Za-z0-9._%+'\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"


_PHONE_SEPARATORS = r"[\s\-\.\(\)/]"


#: Column-name patterns that mark personal data (matched against lower-case names).
PII_NAME_PATTERNS: dict[str, str] = {
    "name": r"(^|_)(first|last|given|family|sur|full|middle)?_?name$|^name$|forename|surname",
    "email": r"e_?mail",
    "phone": r"phone|mobile|tel(ephone)?$|^tel_|msisdn",
    "postcode": r"post_?code|zip(_?code)?$|postal",
    "address": r"address|street|house_?(number|no)",
    "birth date": r"birth|dob$|^dob|date_of_birth",
    "free text": r"comment|note|remark|free_?text|message",
    "national id": r"ssn|passport|national_?id|nin$|tax_?id",
    "network id": r"(^|_)ip(_address)?$|device_?id|cookie",
}


def valid_email(values: pd.Series) -> pd.Series:
    """True where a value looks like an e-mail address (one @, a domain with a dot, no spaces)."""
    s = values.astype("str").str.strip()
    ok = s.str.fullmatch(_EMAIL_RE) & ~s.str.contains("..", regex=False)
    return ok.astype("boolean").where(values.notna())


def valid_phone(values: pd.Series) -> pd.Series:
    """True where a value is a phone number: 7-15 digits after removing spaces, dashes, dots,
    brackets, slashes and a leading ``+`` or ``00``."""
    digits = values.astype("str").str.strip().str.replace(_PHONE_SEPARATORS, "", regex=True)
    digits = digits.str.replace(r"^(\+|00)", "", regex=True)
    ok = digits.str.fullmatch(r"[0-9]{7,15}")
    return ok.astype("boolean").where(values.notna())


#: Country calling code and national trunk prefix of the regions ``audit.default_region`` may
#: name (ISO 3166 alpha-2). A number written without ``+`` or ``00`` is a national number of the
#: default region: its trunk prefix is dropped and the calling code put in front.
CALLING_CODES: dict[str, tuple[str, str]] = {
    "GB": ("44", "0"),
    "IE": ("353", "0"),
    "US": ("1", "1"),
    "CA": ("1", "1"),
    "AU": ("61", "0"),
    "NZ": ("64", "0"),
    "DE": ("49", "0"),
    "AT": ("43", "0"),
    "CH": ("41", "0"),
    "FR": ("33", "0"),
    "BE": ("32", "0"),
    "NL": ("31", "0"),
    "SE": ("46", "0"),
    "NO": ("47", ""),
    "DK": ("45", ""),
    "ES": ("34", ""),
    "PT": ("351", ""),
    "IT": ("39", ""),
    "PL": ("48", ""),
}

#: Region of numbers written without a country code (``audit.default_region``).
DEFAULT_REGION = "GB"


def phone_e164(values: pd.Series, default_region: str = DEFAULT_REGION) -> pd.Series:
    """Phone numbers as E.164 digits (country calling code and national number, no ``+``).

    Separators are removed; a number starting with ``+`` or ``00`` keeps its own country code;
    any other number is a national number of ``default_region`` (:data:`CALLING_CODES`): its
    trunk prefix (``0`` in the UK, ``1`` in the US) is dropped and the region's calling code put
    in front. So ``+44 7700 900123`` and ``07700 900123`` agree, and ``+1 212 555 0134`` differs
    from ``+1 312 555 0134``. Numbers that are not valid (:func:`valid_phone`) are missing.
    """
    region = str(default_region).upper()
    if region not in CALLING_CODES:
        raise ValueError(
            f"audit.default_region {default_region!r} is not one of {', '.join(CALLING_CODES)}"
        )
    code, trunk = CALLING_CODES[region]
    s = values.astype("str").str.strip().str.replace(_PHONE_SEPARATORS, "", regex=True)
    international = s.str.match(r"^(\+|00)").fillna(False).astype(bool)
    digits = s.str.replace(r"^(\+|00)", "", regex=True)
    national = digits.str.replace(f"^{trunk}", "", regex=True) if trunk else digits
    out = digits.where(international, code + national)
    return out.where(valid_phone(values).fillna(False).astype(bool))


def postcode_pattern(values: pd.Series, pattern: str | None = None) -> tuple[str, str]:
    """The postcode format to check against: ``(name, regex)``.

    ``pattern`` (a regex) wins; otherwise the :data:`POSTCODE_PATTERNS` entry matching most values
    (at least half of them); otherwise the character shapes (letter → A, digit → 9) that each hold
    at least 5% of the values.
    """
    if pattern:
        return "configured", pattern
    s = values.dropna().astype("str").str.strip().str.upper()
    if len(s) == 0:
        return "none", r".*"
    sample = s.iloc[:: max(1, len(s) // 20000)]
    shares = {
        name: float(sample.str.fullmatch(rx).mean()) for name, rx in POSTCODE_PATTERNS.items()
    }
    best = max(shares, key=lambda k: shares[k])  # first listed wins ties
    if shares[best] >= 0.5:
        return best, POSTCODE_PATTERNS[best]
    shape = sample.str.replace(r"[A-Z]", "A", regex=True).str.replace(r"[0-9]", "9", regex=True)
    share = shape.value_counts(normalize=True)
    shapes = [
        re.escape(x).replace("A", "[A-Z]").replace("9", "[0-9]") for x in share.index[share >= 0.05]
    ]
    return "learnt", "|".join(f"(?:{x})" for x in shapes) if shapes else r".*"


def valid_postcode(values: pd.Series, pattern: str | None = None) -> pd.Series:
    """True where a postcode fits the format found by :func:`postcode_pattern`."""
    _, rx = postcode_pattern(values, pattern)
    ok = values.astype("str").str.strip().str.upper().str.fullmatch(rx)
    return ok.astype("boolean").where(values.notna())


def _arrow(values: pd.Series) -> Any:
    """The Arrow array behind a string column (None for other columns)."""
    arr = getattr(values.array, "_pa_array", None)
    if arr is None:
        return None
    import pyarrow as pa

    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def isin(values: pd.Series, allowed: Iterable[Any]) -> np.ndarray:
    """``values.isin(allowed)`` as a bool array, fast for Arrow-backed string columns."""
    arr = _arrow(values)
    if arr is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        value_set = pa.array(
            pd.unique(pd.Series(list(allowed), dtype="str").dropna()), type=arr.type
        )
        out = pc.is_in(arr, value_set=value_set)
        return pc.fill_null(out, False).to_numpy(zero_copy_only=False).astype(bool)
    return values.isin(list(allowed)).to_numpy(dtype=bool, na_value=False)


def original_row_numbers(n_accepted: int, quarantine: pd.DataFrame | None) -> np.ndarray:
    """1-based file row numbers of the accepted rows (the contract keeps file order and drops the
    quarantined rows, whose ``row_number`` it records)."""
    if quarantine is None or len(quarantine) == 0 or "row_number" not in quarantine:
        return np.arange(1, n_accepted + 1)
    total = n_accepted + len(quarantine)
    keep = np.ones(total, dtype=bool)
    keep[quarantine["row_number"].to_numpy(dtype="int64") - 1] = False
    return np.flatnonzero(keep) + 1
