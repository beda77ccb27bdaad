"""Limits on the code base, each with an allow-list that may only shrink.

The checks:

* ``module_lines``: no module in ``cxlib/`` over ``MAX_MODULE_LINES`` lines.
* ``too_many_statements`` / ``too_complex``: no function over 80 statements (ruff ``PLR0915``)
  and none over the McCabe complexity limit (ruff ``C901``); both limits are configured in
  ``pyproject.toml`` (``[tool.ruff.lint.pylint] max-statements`` and ``[tool.ruff.lint.mccabe]
  max-complexity``) but the rules are not in the default ``select``: this test runs them.
* ``ibis_imports``: Ibis is imported only in the data and engine layer (``cxlib/engine.py``,
  ``cxlib/sources``, ``cxlib/contract``).
* ``notebook_patterns``: notebooks import only public faces (no module path or imported name
  with a segment starting with ``_``) and their code cells hold no ``def``, ``class``, date
  arithmetic or f-string finding sentences.

THE ALLOW-LISTS live in one place, ``tests/limits_allowlist.json`` (one key per check; see its
``_doc``). Every check fails on a violation that is not in the list, and on a listed item that
is no longer a violation (remove it from the list: the lists only shrink). A listed module may
not grow beyond its recorded line count.

To refresh the lists after a restructuring (files moved or renamed), print the current
violations in the allow-list's format and review the difference before committing it::

    .venv/bin/python tests/test_limits.py --print-current > tests/limits_allowlist.json
    git diff tests/limits_allowlist.json
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "cxlib"
NOTEBOOKS = REPO / "notebooks"
ALLOWLIST = Path(__file__).resolve().with_name("limits_allowlist.json")

MAX_MODULE_LINES = 800
#: ruff rule -> allow-list key (the limits themselves are in pyproject.toml)
RUFF_RULES = {"PLR0915": "too_many_statements", "C901": "too_complex"}
#: modules and packages (paths relative to the repository) that may import Ibis
IBIS_LAYER = (
    "cxlib/engine.py",
    "cxlib/sources",
    "cxlib/sources.py",
    "cxlib/contract",
    "cxlib/contract.py",
)
#: what notebook code cells must not contain: name -> regular expression
NOTEBOOK_PATTERNS = {
    "def": r"(?m)^\s*(async\s+)?def\s+\w+\s*\(",
    "class": r"(?m)^\s*class\s+\w+\s*[(:]",
    "Timedelta": r"\bTimedelta\b",
    "DateOffset": r"\bDateOffset\b",
    ".normalize(": r"\.normalize\(",
    "pd.Timestamp(": r"\bpd\.Timestamp\(",
    "f-string finding": r"""\.add\(\s*f["']""",
}
PRIVATE_IMPORT = "private import"

DOC = (
    "Allow-lists of tests/test_limits.py; they may only shrink. Refresh with "
    "`.venv/bin/python tests/test_limits.py --print-current > tests/limits_allowlist.json` "
    "and review the diff. module_lines: module -> its line count (may not grow); "
    "too_many_statements / too_complex: module -> functions over the ruff PLR0915 / C901 limits "
    "of pyproject.toml; ibis_imports: modules outside the data and engine layer that import "
    "Ibis; notebook_patterns: notebook -> forbidden patterns its code cells still hold."
)


# --------------------------------------------------------------------------------------------
# the current violations
# --------------------------------------------------------------------------------------------


def _rel(path: Path) -> str:
    return path.resolve().relative_to(REPO).as_posix()


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def current_module_lines() -> dict[str, int]:
    """Modules of ``cxlib/`` over ``MAX_MODULE_LINES`` lines -> their line count."""
    out = {}
    for path in _modules():
        n = _line_count(path)
        if n > MAX_MODULE_LINES:
            out[_rel(path)] = n
    return out


def _ruff() -> list[str]:
    """The command that runs the project's ruff (the one next to this Python, or on PATH)."""
    exe = Path(sys.executable).with_name("ruff")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("ruff")
    if found:
        return [found]
    return [sys.executable, "-m", "ruff"]


def _qualnames(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    """Every function and class with its dotted name (``Class.method``, ``outer.inner``)."""
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                yield child, name
                stack.append((child, f"{name}."))
            else:
                stack.append((child, prefix))


def _function_at(path: Path, row: int, col: int) -> str:
    """Dotted name of the function defined at ``row``/``col`` (1-based, as ruff reports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node, name in _qualnames(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.lineno == row and node.col_offset + 1 <= col:
                return name
    return f"<line {row}>"


def current_function_limits() -> dict[str, dict[str, list[str]]]:
    """Allow-list key (per ruff rule) -> module -> functions over the limit."""
    cmd = [*_ruff(), "check", "--no-cache", "--exit-zero", "--output-format", "json"]
    cmd += ["--select", ",".join(RUFF_RULES), "cxlib"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
    out: dict[str, dict[str, list[str]]] = {key: {} for key in RUFF_RULES.values()}
    for item in json.loads(proc.stdout):
        key = RUFF_RULES.get(item["code"])
        if key is None:
            continue
        path = Path(item["filename"])
        loc = item["location"]
        name = _function_at(path, loc["row"], loc["column"])
        out[key].setdefault(_rel(path), []).append(name)
    return {k: {m: sorted(fs) for m, fs in sorted(v.items())} for k, v in out.items()}


def _in_ibis_layer(rel: str) -> bool:
    return any(rel == p or rel.startswith(p + "/") for p in IBIS_LAYER)


def _imports_ibis(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(a.name == "ibis" or a.name.startswith("ibis.") for a in node.names):
                return True
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "ibis" or node.module.startswith("ibis."):
                return True
    return False


def current_ibis_imports() -> list[str]:
    """Modules outside the data and engine layer that import Ibis."""
    return [_rel(p) for p in _modules() if not _in_ibis_layer(_rel(p)) and _imports_ibis(p)]


def _code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            src = cell.get("source", "")
            cells.append("".join(src) if isinstance(src, list) else src)
    return cells


def _is_private(segment: str) -> bool:
    return segment.startswith("_") and not (segment.startswith("__") and segment.endswith("__"))


def _private_imports(code: str) -> list[str]:
    """Imports of a private module or name (a segment starting with ``_``) in ``code``."""
    # IPython magics and shell escapes are not Python: blank them, keeping the indentation
    lines = [re.sub(r"^(\s*)[%!].*$", r"\1pass", line) for line in code.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        tree = None
    found = []
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [a.name for a in node.names if any(map(_is_private, a.name.split(".")))]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = [a.name for a in node.names]
                if any(map(_is_private, module.split("."))) or any(map(_is_private, names)):
                    found.append(f"from {module} import {', '.join(names)}")
        return found
    for m in re.finditer(
        r"(?m)^\s*(?:from\s+([\w.]+)\s+import\s+([^\n#]+)|import\s+([\w., ]+))", code
    ):
        text = " ".join(g for g in m.groups() if g)
        if any(_is_private(s) for s in re.split(r"[\s.,()]+", text) if s):
            found.append(m.group(0).strip())
    return found


def current_notebook_patterns() -> dict[str, list[str]]:
    """Notebook -> the forbidden patterns its code cells hold."""
    out = {}
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        hits = set()
        for code in _code_cells(path):
            hits |= {name for name, rx in NOTEBOOK_PATTERNS.items() if re.search(rx, code)}
            if _private_imports(code):
                hits.add(PRIVATE_IMPORT)
        if hits:
            out[_rel(path)] = sorted(hits)
    return out


def current() -> dict[str, object]:
    """Every check's current violations, in the allow-list's format."""
    return {
        "_doc": DOC,
        "module_lines": current_module_lines(),
        **current_function_limits(),
        "ibis_imports": current_ibis_imports(),
        "notebook_patterns": current_notebook_patterns(),
    }


# --------------------------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------------------------

REFRESH = "(see tests/test_limits.py for how to refresh tests/limits_allowlist.json)"


@pytest.fixture(scope="module")
def allow() -> dict:
    return json.loads(ALLOWLIST.read_text(encoding="utf-8"))


def _compare(what: str, found: set, allowed: set) -> list[str]:
    errors = [
        f"{what}: {item} is not allowed (not in the allow-list)" for item in sorted(found - allowed)
    ]
    errors += [
        f"{what}: {item} is no longer a violation: remove it from the allow-list"
        for item in sorted(allowed - found)
    ]
    return errors


def test_module_lines(allow: dict) -> None:
    listed: dict[str, int] = allow["module_lines"]
    errors = []
    for path in _modules():
        rel, n = _rel(path), _line_count(path)
        if n > MAX_MODULE_LINES and rel not in listed:
            errors.append(f"{rel}: {n} lines, over the limit of {MAX_MODULE_LINES}")
        elif rel in listed and n > listed[rel]:
            errors.append(f"{rel}: grew to {n} lines (allow-list: {listed[rel]}); shrink it")
    for rel in listed:
        path = REPO / rel
        if not path.exists():
            errors.append(f"{rel}: no longer exists: remove it from module_lines")
        elif _line_count(path) <= MAX_MODULE_LINES:
            errors.append(
                f"{rel}: {_line_count(path)} lines, within the limit: remove it from module_lines"
            )
    assert not errors, "\n".join([*errors, REFRESH])


@pytest.mark.parametrize("key", sorted(RUFF_RULES.values()))
def test_function_limits(allow: dict, key: str) -> None:
    found = {(m, f) for m, fs in current_function_limits()[key].items() for f in fs}
    allowed = {(m, f) for m, fs in allow[key].items() for f in fs}
    rule = next(r for r, k in RUFF_RULES.items() if k == key)
    errors = _compare(f"{key} (ruff {rule})", found, allowed)
    assert not errors, "\n".join([*errors, REFRESH])


def test_ibis_imported_only_in_the_data_layer(allow: dict) -> None:
    errors = _compare("Ibis import", set(current_ibis_imports()), set(allow["ibis_imports"]))
    assert not errors, "\n".join([*errors, REFRESH])


def test_notebooks_public_faces_and_no_logic(allow: dict) -> None:
    found = {(nb, p) for nb, ps in current_notebook_patterns().items() for p in ps}
    allowed = {(nb, p) for nb, ps in allow["notebook_patterns"].items() for p in ps}
    errors = _compare("notebook pattern", found, allowed)
    assert not errors, "\n".join([*errors, REFRESH])


def test_allowlist_keys(allow: dict) -> None:
    """The allow-list file has exactly the keys :func:`current` writes."""
    keys = {"_doc", "module_lines", *RUFF_RULES.values(), "ibis_imports", "notebook_patterns"}
    assert set(allow) == keys, REFRESH


def test_private_import_detection() -> None:
    code = "%matplotlib inline\nfrom cxlib.audit._rules import x\nimport cxlib.churn\n"
    assert _private_imports(code) == ["from cxlib.audit._rules import x"]
    assert _private_imports("from cxlib.synth import _clock") == ["from cxlib.synth import _clock"]
    assert _private_imports("from __future__ import annotations\nimport cxlib.plots") == []
    assert _private_imports("import cxlib._private as p") == ["cxlib._private"]


def main(argv: list[str]) -> int:
    """``--print-current``: print the current violations as ``tests/limits_allowlist.json``."""
    if argv != ["--print-current"]:
        print(__doc__)
        print("usage: python tests/test_limits.py --print-current")
        return 2
    print(json.dumps(current(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
