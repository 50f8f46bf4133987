"""Harness for tests that drive real Blender (the `bpy` module) with the built extension.

- Blender's user folders point at a temporary directory (set before bpy is imported), so a
  test run never reads or writes the developer's own Blender configuration.
- The extension zip is built once per session with build_addon.py and installed the way a
  user installs it: `bpy.ops.extensions.package_install_files(..., enable_on_install=True)`.
- Every test starts from an empty factory scene (`read_homefile(use_factory_startup=True,
  use_empty=True)`), which keeps the preferences and so keeps the extension enabled.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXTENSION_ID = "audio2gestures"
MODULE_NAME = f"bl_ext.user_default.{EXTENSION_ID}"

_USER_DIR = Path(tempfile.mkdtemp(prefix="a2g-blender-user-"))
for _var, _sub in (("BLENDER_USER_RESOURCES", ""), ("XDG_CONFIG_HOME", "xdg-config"),
                   ("XDG_CACHE_HOME", "xdg-cache")):
    os.environ[_var] = str(_USER_DIR / _sub) if _sub else str(_USER_DIR)

bpy = pytest.importorskip("bpy", reason="the bpy module (Blender as a Python module) is not installed")

sys.path.insert(0, str(ROOT))
import build_addon  # noqa: E402


@pytest.fixture(scope="session")
def addon_zip(tmp_path_factory) -> Path:
    """The extension zip, freshly built and validated for this test session."""
    return build_addon.build(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def installed_addon(addon_zip):
    """Install and enable the built zip as a user would; yield the add-on's Python module."""
    result = bpy.ops.extensions.package_install_files(
        filepath=str(addon_zip), repo="user_default", enable_on_install=True
    )
    assert result == {"FINISHED"}, f"installing {addon_zip.name} failed: {result}"
    module = importlib.import_module(MODULE_NAME)
    yield module


@pytest.fixture()
def addon(installed_addon):
    """The enabled add-on, in an empty scene reset for this test."""
    import addon_utils

    if not addon_utils.check(MODULE_NAME)[1]:
        addon_utils.enable(MODULE_NAME, default_set=True)
    bpy.ops.wm.read_homefile(use_factory_startup=True, use_empty=True)
    yield installed_addon
    bpy.ops.wm.read_homefile(use_factory_startup=True, use_empty=True)
