"""The built zip installs with Blender's own installer, registers its UI, and disables cleanly."""

import zipfile

import bpy

from .conftest import MODULE_NAME

# Everything the extension registers in bpy.types when enabled.
PANELS = ("A2G_PT_gestures", "A2G_PT_directing")
OPERATORS = (
    "a2g.add_character", "a2g.generate", "a2g.import_npz",
    "a2g.pin_action", "a2g.resample_range", "a2g.use_take",
)


def _operator_registered(idname: str) -> bool:
    category, name = idname.split(".")
    return name in dir(getattr(bpy.ops, category))


def test_zip_contains_runtime_and_manifest(addon_zip):
    names = set(zipfile.ZipFile(addon_zip).namelist())
    assert "blender_manifest.toml" in names
    assert "__init__.py" in names
    assert "core/__init__.py" in names, "the numpy runtime must ship inside the extension"
    assert "LICENSE" in names
    assert not any("__pycache__" in n for n in names)


def test_installs_and_enables_on_blender(addon):
    import addon_utils

    assert bpy.app.version >= (4, 2, 0)
    assert addon_utils.check(MODULE_NAME) == (True, True)
    for panel in PANELS:
        assert hasattr(bpy.types, panel), f"panel {panel} not registered"
    for op in OPERATORS:
        assert _operator_registered(op), f"operator {op} not registered"
    assert hasattr(bpy.context.scene, "a2g")
    assert bpy.context.preferences.addons[MODULE_NAME].preferences is not None


def test_disable_removes_registration(addon):
    import addon_utils

    addon_utils.disable(MODULE_NAME, default_set=True)
    try:
        for panel in PANELS:
            assert not hasattr(bpy.types, panel), f"panel {panel} still registered after disable"
        for op in OPERATORS:
            assert not _operator_registered(op), f"operator {op} still registered after disable"
        assert not hasattr(bpy.types.Scene, "a2g")
        assert not hasattr(bpy.types.WindowManager, "a2g_progress")
    finally:
        addon_utils.enable(MODULE_NAME, default_set=True)
    for panel in PANELS:
        assert hasattr(bpy.types, panel)
