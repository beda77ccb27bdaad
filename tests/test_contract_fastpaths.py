"""The fast paths of the contract's typing give exactly the values of the pandas functions they
stand in for (bit for bit, the sign of zero included), on edge cases and random text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxlib.contract import _to_number

EDGE = [
    "0",
    "-0",
    "00",
    "-00",
    "0.0",
    "-0.0",
    "-0.000",
    "+0",
    "+1",
    "1",
    "-1",
    "007",
    "1.50",
    "150.51",
    "-12.3",
    "123456789012345",
    "-123456789012345",
    "1234567890123456",
    "12345678901234567890",
    "99999999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "-9223372036854775809",
    "0.1",
    "0.3",
    "12345678.1234567",
    "1.23456789012345678",
    "1e5",
    "1E-3",
    "-0e5",
    ".5",
    "5.",
    "-.5",
    "inf",
    "-inf",
    "Infinity",
    "nan",
    "NaN",
    "",
    " ",
    "x",
    "1,5",
    "1_000",
    "0x1A",
    "1.2.3",
    "--1",
    "- 1",
    "١٢",
    "１２",
    "1e400",
    "-1e400",
    "4.9e-324",
    "2.2250738585072014e-308",
]


def expected(text: pd.Series) -> np.ndarray:
    return pd.to_numeric(text, errors="coerce").astype("float64").to_numpy()


def assert_bitwise(got: pd.Series, text: pd.Series) -> None:
    want = expected(text)
    got_v = got.to_numpy()
    assert got.dtype == "float64" and got.index.equals(text.index)
    assert np.array_equal(np.isnan(got_v), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.array_equal(got_v[ok], want[ok])
    assert np.array_equal(np.signbit(got_v[ok]), np.signbit(want[ok]))


@pytest.mark.parametrize("value", EDGE)
@pytest.mark.parametrize("context", [[], ["1"], ["-7"], ["1.5"], ["x"], [None], ["-0"]])
def test_each_edge_case_in_every_context(value, context):
    """The integer or float choice pd.to_numeric makes for the whole column decides the sign
    of a ``-0``: the value is checked alone and next to integers, decimals, text and gaps."""
    text = pd.Series([value, *context], dtype="str", index=np.arange(10, 11 + len(context)))
    assert_bitwise(_to_number(text), text)


def test_random_columns_match_pd_to_numeric():
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(1, 300))
        parts = []
        for _ in range(n):
            kind = rng.integers(0, 6)
            if kind == 0:
                parts.append(str(int(rng.integers(-(10**12), 10**12))))
            elif kind == 1:
                parts.append(f"{rng.normal(0, 10 ** rng.integers(0, 12)):.{rng.integers(0, 9)}f}")
            elif kind == 2:
                digits = "".join(rng.choice(list("0123456789"), size=int(rng.integers(1, 25))))
                cut = int(rng.integers(0, len(digits) + 1))
                parts.append(digits[:cut] + ("." if 0 < cut < len(digits) else "") + digits[cut:])
            elif kind == 3:
                parts.append(str(rng.choice(EDGE)))
            elif kind == 4:
                parts.append(None)
            else:
                parts.append(repr(float(rng.normal() * 10.0 ** rng.integers(-20, 20))))
        if rng.random() < 0.3:  # most columns are plain numbers only
            parts = [p for p in parts if p is not None and p.lstrip("-").replace(".", "").isdigit()]
            parts = parts or ["1"]
        text = pd.Series(parts, dtype="str")
        assert_bitwise(_to_number(text), text)


def test_text_that_is_not_arrow_backed_goes_through_pandas():
    text = pd.Series(["1", "-0", "x", None, "2.5"], dtype=object)
    assert_bitwise(_to_number(text), text)
