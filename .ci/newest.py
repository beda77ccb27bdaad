"""The "newest" job's check: installing cxlib must not downgrade an analyst's packages.

`make newest` installs pandas, numpy, scipy, scikit-learn, matplotlib and jupyterlab at their
newest versions into a fresh venv, records every installed distribution, installs cxlib with its
ranges (``pip install ".[dev]"``, no lock) and compares::

    python .ci/newest.py record BEFORE.json pandas numpy ...   # after the analyst's packages
    python .ci/newest.py compare BEFORE.json                   # after cxlib

``compare`` prints the analyst packages' versions before and after, lists what cxlib added or
upgraded, and exits 1 naming every package that was downgraded or removed (the six analyst
packages, or any of their dependencies that were already there). Run it with the venv's python:
it reads that interpreter's installed distributions (standard library, and ``packaging`` or pip's
vendored copy of it for comparing versions).
"""

from __future__ import annotations

import json
import re
import sys
from importlib import metadata
from pathlib import Path


def canonical(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    """Every distribution of this interpreter, ``{canonical name: version}``."""
    return {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}


def older(after: str, before: str) -> bool:
    """``after < before`` as PEP 440 versions (``packaging``, else pip's vendored copy)."""
    try:
        from packaging.version import Version
    except ImportError:
        from pip._vendor.packaging.version import Version
    return Version(after) < Version(before)


def record(path: Path, analyst: list[str]) -> int:
    now = installed()
    missing = [p for p in analyst if canonical(p) not in now]
    if missing:
        print(f"newest: not installed: {', '.join(missing)}", file=sys.stderr)
        return 1
    path.write_text(
        json.dumps({"analyst": [canonical(p) for p in analyst], "installed": now}, indent=1)
    )
    print("newest: the analyst's packages before cxlib:")
    for p in analyst:
        print(f"  {p:<14} {now[canonical(p)]}")
    print(f"newest: {len(now)} distributions recorded in {path}")
    return 0


def compare(path: Path) -> int:
    saved = json.loads(path.read_text())
    before: dict[str, str] = saved["installed"]
    analyst: list[str] = saved["analyst"]
    after = installed()
    print("newest: package        before -> after")
    for p in analyst:
        print(f"  {p:<14} {before[p]:>10} -> {after.get(p, 'REMOVED')}")
    bad = []
    for name, v in sorted(before.items()):
        if name not in after:
            bad.append(f"{name} {v} was removed")
        elif older(after[name], v):
            bad.append(f"{name} was downgraded from {v} to {after[name]}")
    added = sorted(n for n in after if n not in before)
    upgraded = sorted(n for n in before if n in after and older(before[n], after[n]))
    print(
        f"newest: cxlib added {len(added)} distributions; upgraded {len(upgraded)}"
        + (f": {', '.join(f'{n} {before[n]} -> {after[n]}' for n in upgraded)}" if upgraded else "")
    )
    if bad:
        kind = {True: "analyst package", False: "already installed"}
        for b in bad:
            name = b.split(" ", 1)[0]
            print(f"newest: FAIL ({kind[name in analyst]}): {b}", file=sys.stderr)
        return 1
    print("newest: no package was downgraded or removed")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[1] == "record":
        return record(Path(argv[2]), argv[3:])
    if len(argv) == 3 and argv[1] == "compare":
        return compare(Path(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
