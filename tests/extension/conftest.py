"""Harness for the extension's bpy-free modules (a2g_blender/cli/batch_plan.py, ...), tested without
Blender: they are imported from the source tree as a package of their own, whose subpackage
``core`` is the repository's core/ (as the build copies it). a2g_blender/__init__.py (which
registers operators with bpy) is not run."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "a2g_plain"


def plain_module(name: str):
    """``a2g_blender/<name>.py`` imported without bpy and without the package's ``__init__``."""
    if PACKAGE not in sys.modules:
        package = types.ModuleType(PACKAGE)
        package.__path__ = [str(ROOT / "a2g_blender")]
        sys.modules[PACKAGE] = package
        sys.modules[f"{PACKAGE}.core"] = importlib.import_module("core")
    return importlib.import_module(f"{PACKAGE}.{name}")
