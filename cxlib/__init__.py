"""cxlib: customer-insight toolkit behind the cx notebook series.

One package per question (:mod:`cxlib.audit`, :mod:`cxlib.segment`, :mod:`cxlib.churn`,
:mod:`cxlib.uplift`, :mod:`cxlib.journey`) over shared modules (:mod:`cxlib.engine`,
:mod:`cxlib.contract`, :mod:`cxlib.sources`, :mod:`cxlib.features`, :mod:`cxlib.privacy`,
:mod:`cxlib.plots`, :mod:`cxlib.report`, :mod:`cxlib.result`, :mod:`cxlib.synth`) and the run
machinery (:mod:`cxlib.config`: ``cx.yml``, its schema and the per-question option blocks;
:mod:`cxlib.runner`; :mod:`cxlib.cli`).
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
