"""Run configuration (``cx.yml``): one schema for every key at every depth, defaults, the YAML
file and command-line overrides merged in that order, and the per-question option blocks.

Public names: :func:`load_config`, :func:`find_config`, :func:`parse_value`, :data:`DEFAULTS`, :func:`check_config`,
:func:`check_param`, :func:`resolve_options`, :func:`block_parameters`,
:func:`merge_settings`, :data:`BLOCKS`, :data:`SCHEMA`.
"""

from cxlib.config._load import (
    CONFIG_NAMES,
    DEFAULTS,
    find_config,
    load_config,
    merge_settings,
    parse_value,
)
from cxlib.config._schema import (
    BLOCKS,
    SCHEMA,
    Field,
    Group,
    block_of,
    block_parameters,
    check_config,
    check_param,
    documented_keys,
    resolve_options,
)

__all__ = [
    "BLOCKS",
    "CONFIG_NAMES",
    "DEFAULTS",
    "SCHEMA",
    "Field",
    "Group",
    "block_of",
    "block_parameters",
    "check_config",
    "check_param",
    "documented_keys",
    "find_config",
    "load_config",
    "merge_settings",
    "parse_value",
    "resolve_options",
]
