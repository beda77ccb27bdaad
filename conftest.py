"""Repository-wide pytest hooks: the unit tests (``tests/``) and nbval (``notebooks/``)."""

from __future__ import annotations

import logging

logger = logging.getLogger("cxlib.tests")


def pytest_sessionfinish(session, exitstatus) -> None:
    """Delete private temporary folders left by processes that are gone.

    nbval shuts each notebook's kernel down without running its finalizers, so the kernel's
    private folders (customer-level Parquet copies, ``cx-backend-`` ...) would stay in the
    temporary folder until the next cxlib start. Sweep them when the session ends; folders of a
    process that still runs (another analysis) are kept (:func:`cxlib.privacy.sweep_private_tempdirs`).
    """
    from cxlib.privacy import sweep_private_tempdirs

    removed = sweep_private_tempdirs()
    if removed:
        logger.info("deleted %d private temporary folders of finished kernels", len(removed))
