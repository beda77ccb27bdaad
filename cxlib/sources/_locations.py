"""Where a source is: folders, URLs (passwords masked or stripped) and ``spark:`` locations."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def is_url(location: Any) -> bool:
    """True when ``location`` is a URL (``scheme://…``) rather than a folder."""
    return "://" in str(location)


def _split_userinfo(text: str) -> tuple[str, str | None, str | None, str]:
    """``(prefix "scheme://", user, password, rest after "@")`` of a URL (password may be
    None); the user info ends at the last ``@`` before the path."""
    scheme, _, after = text.partition("://")
    cut = min([i for i in (after.find("/"), after.find("?"), after.find("#")) if i >= 0] or [-1])
    netloc = after if cut < 0 else after[:cut]
    if "@" not in netloc:
        return scheme + "://", None, None, after
    userinfo, _, host = netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    rest = host + ("" if cut < 0 else after[cut:])
    return scheme + "://", user, (password if colon else None), rest


def _drop_password_option(rest: str, replace: str | None) -> str:
    import re

    if replace is None:
        out = re.sub(r"(?i)([?&])password=[^&#]*&?", r"\1", rest)
        return re.sub(r"[?&]$", "", out)
    return re.sub(r"(?i)([?&]password=)[^&#]*", r"\g<1>" + replace, rest)


def mask_url(location: Any) -> str:
    """``location`` with any password replaced by ``***`` (what logs, manifests and reports
    show). Folders are returned unchanged."""
    text = str(location)
    if not is_url(text):
        return text
    prefix, user, password, rest = _split_userinfo(text)
    rest = _drop_password_option(rest, "***")
    if user is None:
        return prefix + rest
    return prefix + user + (":***" if password is not None else "") + "@" + rest


def strip_password(location: Any) -> tuple[str, str | None]:
    """``(location without its password, the password or None)``.

    The runner passes the first to the notebooks and the second through ``PGPASSWORD``, so that
    a password never reaches an executed notebook, the manifest or a log.
    """
    from urllib.parse import parse_qsl, unquote, urlsplit

    text = str(location)
    if not is_url(text):
        return text, None
    prefix, user, password, rest = _split_userinfo(text)
    if password is not None:
        password = unquote(password)
    else:
        query = urlsplit(text).query
        password = next((v for k, v in parse_qsl(query) if k.lower() == "password"), None)
    rest = _drop_password_option(rest, None)
    return (prefix + (f"{user}@" if user is not None else "") + rest), password


def source_label(location: Any) -> str:
    """How a source is named in logs and the manifest: a folder's absolute path, a URL masked."""
    if is_spark(location):
        return spark_location(location)
    return mask_url(location) if is_url(location) else str(Path(location).resolve())


def notebook_location(location: Any) -> str:
    """The ``data_dir`` passed to the notebooks: a folder's absolute path, a URL without its
    password."""
    if is_spark(location):
        return spark_location(location)
    return strip_password(location)[0] if is_url(location) else str(Path(location).resolve())


def export_password(location: Any) -> Callable[[], None]:
    """Put a database URL's password into ``PGPASSWORD`` for the notebook kernels (which get the
    URL without it, see :func:`notebook_location`); returns a function restoring the previous
    environment. Does nothing for folders and for URLs without a password."""
    password = strip_password(location)[1] if is_url(location) else None
    if password is None:
        return lambda: None
    saved = os.environ.get("PGPASSWORD")
    os.environ["PGPASSWORD"] = password

    def restore() -> None:
        if saved is None:
            os.environ.pop("PGPASSWORD", None)
        else:
            os.environ["PGPASSWORD"] = saved

    return restore


SPARK_PREFIX = "spark:"
"""``--data spark:<path>``: the contract files under ``<path>``, read by Spark (see
:class:`SparkSource`)."""


def is_spark(location: Any) -> bool:
    """True when ``location`` names a Spark source (``spark:<path or URI>``)."""
    return str(location).lower().startswith(SPARK_PREFIX)


def spark_location(location: Any) -> str:
    """A Spark source with a local path made absolute (what logs and notebooks get); a URI
    (``hdfs://``, ``s3a://`` …) is kept as it is, its password masked."""
    rest = str(location)[len(SPARK_PREFIX) :]
    if is_url(rest):
        return SPARK_PREFIX + mask_url(rest)
    return SPARK_PREFIX + str(Path(rest).resolve())
