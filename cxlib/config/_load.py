"""Loading the run configuration: defaults, ``cx.yml`` and command-line overrides, merged in
that order."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from cxlib.config._schema import SCHEMA, Group, check_config
from cxlib.contract import ContractError

#: Every top-level key a config may set, with its default (a block or group: ``{}``; the
#: blocks' own defaults are filled in by :func:`cxlib.config.resolve_options`).
DEFAULTS: dict[str, Any] = {
    key: ({} if isinstance(node, Group) else copy.deepcopy(node.default))
    for key, node in SCHEMA.fields.items()
}


def merge_settings(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, mapping by mapping (a copy; neither is changed)."""
    out = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge_settings(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


#: Names of a config file found next to the data when ``--config`` is not given.
CONFIG_NAMES: tuple[str, ...] = ("cx.yml", "cx.yaml")


def find_config(data: str | os.PathLike | None) -> Path | None:
    """The ``cx.yml`` (or ``cx.yaml``) inside the data folder ``data``, None when there is none
    (or ``data`` is not a local folder)."""
    if data is None or "://" in str(data) or str(data).lower().startswith("spark:"):
        return None
    folder = Path(data)
    if not folder.is_dir():
        return None
    return next((folder / n for n in CONFIG_NAMES if (folder / n).is_file()), None)


def load_config(
    path: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Defaults, then the YAML file at ``path`` (when given), then ``overrides`` (non-None values).

    Raises
    ------
    ContractError
        When the file is missing or is not YAML; when it sets an unknown key or a value of the
        wrong type at any depth (see :func:`cxlib.config.check_config`).
    """
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ContractError(f"{p}: config file not found. Fix: pass --config with a YAML file.")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ContractError(f"{p}: not valid YAML ({exc}). Fix: correct the syntax.") from None
        if not isinstance(loaded, Mapping):
            raise ContractError(f"{p}: must be a YAML mapping of settings (key: value).")
        check_config(loaded, where=str(p))
        cfg = merge_settings(cfg, loaded)
        base = p.parent
        data = str(cfg["data"]) if "data" in loaded and cfg["data"] is not None else ""
        if data.lower().startswith("spark:"):  # a Spark source: resolve its local folder
            rest = data[len("spark:") :]
            if rest and "://" not in rest and not Path(rest).is_absolute():
                cfg["data"] = "spark:" + str((base / rest).resolve())
        for key in ("data", "out"):
            if key == "data" and str(cfg[key]).lower().startswith("spark:"):
                continue
            if (
                cfg[key] is not None
                and key in loaded
                and "://" not in str(cfg[key])  # a database URL is not a path
                and not Path(str(cfg[key])).is_absolute()
            ):
                cfg[key] = str((base / str(cfg[key])).resolve())
    for key, value in (overrides or {}).items():
        if value is not None:
            cfg = merge_settings(cfg, {key: value})
    return cfg


def parse_value(text: str) -> Any:
    """Parse a ``-p name value`` command-line value as typed YAML (``3`` → 3, ``true`` → True)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text
