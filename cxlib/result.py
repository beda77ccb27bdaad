"""The shape every question's result shares.

Every question package has one entry point, ``run_<question>(data, *, as_of_date, options, …)``,
returning a ``<Question>Result`` built on :class:`QuestionResult`:

- :meth:`QuestionResult.findings` — the finding sentences, as :class:`cxlib.report.Finding`
  (``headline=True`` for the index card), in the order a report shows them;
- :meth:`QuestionResult.exports` — export file name (as in ``docs/outputs.md``, e.g.
  ``"churn_scores.csv"``) → the DataFrame written there;
- the display tables its notebook shows, as methods or attributes of the result.

A notebook then reads load → run → show → export::

    result = run_churn(data, as_of_date=data.as_of_date, options=config.get("churn", {}))
    for name, frame in result.exports().items():
        write_export(frame, Path(output_dir) / "exports" / name)
    findings.extend_from(result)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from cxlib.report import Finding

__all__ = ["QuestionResult"]


class QuestionResult:
    """Base of the ``<Question>Result`` classes (statsmodels-style results objects)."""

    def findings(self) -> list[Finding]:
        """The finding sentences of this result, headlines marked."""
        raise NotImplementedError

    def exports(self) -> dict[str, pd.DataFrame]:
        """Export file name → the frame written under ``exports/``."""
        raise NotImplementedError

    def summary(self) -> str:
        """The findings as plain text lines (headlines first)."""
        items = sorted(self.findings(), key=lambda f: not f.headline)
        return "\n".join(f"- {f.text}" for f in items)
