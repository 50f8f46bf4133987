"""Every module of core/ imports only numpy and the standard library (DESIGN.md: never bpy, torch,
scipy or librosa, not even lazily), and its own package relatively (the build copies core/ into
the extension as a subpackage)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "core"
MODULES = sorted(p.name for p in CORE.glob("*.py"))


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(top-level names of absolute imports, absolute ``from core...`` imports) anywhere in the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    own = {n for n in names if n == "core"}
    return names - own, own


def test_every_core_module_is_checked():
    assert len(MODULES) >= 20 and "__init__.py" in MODULES and "generate.py" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_core_module_imports_numpy_and_stdlib_only(module):
    names, own = _imports(CORE / module)
    assert not own, f"core/{module} imports core absolutely: use relative imports"
    foreign = names - set(sys.stdlib_module_names) - {"numpy"}
    assert not foreign, f"core/{module} imports {sorted(foreign)}"
