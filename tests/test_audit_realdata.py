"""The audit on real public data (CDNOW purchases, transactions only; needs CX_REALDATA)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxlib import audit
from cxlib.contract import load_source


def test_audit_on_cdnow_transactions(realdata: Path) -> None:
    folder = realdata / "cdnow_sample"
    if not (folder / "transactions.csv").exists():
        pytest.skip("cdnow_sample/transactions.csv not available")
    data = load_source(folder)
    res = audit.run_audit(data, pseudonym_key="k")
    assert set(res.rules["table"]) == {"transactions"}
    assert (res.rules["total_rows"] == int(data.counts["read_rows"].iloc[0])).all()
    assert (
        res.master_map["customer_id"].nunique()
        == data.tables["transactions"]["customer_id"].nunique()
    )
    sc = res.scores.set_index("table")
    assert 0 <= sc.loc["overall", "score"] <= 100
    texts = [f["text"] for f in audit.audit_findings(res)]
    assert texts[0].startswith("Overall data-quality score")
