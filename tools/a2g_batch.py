"""Run the Audio2Gestures batch command from a script.

In Blender (the file given before -P is the base scene for every result):

    blender -b stage.blend -P tools/a2g_batch.py -- generate talk.wav --output-dir out --npz

Or with plain Python and the bpy module (Blender as a Python module):

    python tools/a2g_batch.py generate talk.wav --output-dir out

The Audio2Gestures extension must be installed (Edit > Preferences > Get Extensions, or
Install from Disk); it is enabled here when it is installed but disabled. The arguments are
those of ``blender -c audio2gestures``; ``--help`` lists them.
"""

from __future__ import annotations

import importlib
import os
import sys

EXTENSION_ID = "audio2gestures"


def script_args(argv: list[str]) -> list[str]:
    """The arguments meant for us: after ``--`` inside Blender, else after the script name."""
    if "--" in argv:
        return argv[argv.index("--") + 1:]
    return argv[1:]


def find_extension():
    """The installed extension's module name (``bl_ext.<repository>.audio2gestures``), enabled."""
    import addon_utils
    import bpy

    enabled = [name for name in bpy.context.preferences.addons.keys()
               if name.rsplit(".", 1)[-1] == EXTENSION_ID]
    if enabled:
        return enabled[0]
    for module in addon_utils.modules(refresh=True):
        if module.__name__.rsplit(".", 1)[-1] == EXTENSION_ID:
            addon_utils.enable(module.__name__, default_set=False)
            return module.__name__
    return None


def main() -> int:
    args = script_args(sys.argv)
    try:
        import bpy
    except ImportError:
        print("a2g_batch: run this inside Blender (blender -b -P tools/a2g_batch.py -- ...) or "
              "with the bpy module installed", file=sys.stderr)
        return 2
    name = find_extension()
    if name is None:
        print(f"a2g_batch: the '{EXTENSION_ID}' extension is not installed in this Blender "
              "(install the zip from `make build`: Edit > Preferences > Get Extensions > "
              "Install from Disk)", file=sys.stderr)
        return 2
    batch = importlib.import_module(f"{name}.cli.batch")
    has_blend = any(a == "--blend" or a.startswith("--blend=") for a in args)
    if bpy.data.filepath and args[:1] == ["generate"] and not has_blend:
        args = [*args, "--blend", bpy.data.filepath]  # `blender -b scene.blend -P ...`: the base scene
    return batch.main(args)


def _exit_hard_at_end() -> bool:
    """bpy 4.2 as a Python module segfaults on interpreter exit once any add-on is enabled
    (measured with rigify too): skip that teardown there so the exit code survives."""
    bpy = sys.modules.get("bpy")
    return bpy is not None and not bpy.app.binary_path and bpy.app.version < (4, 3, 0)


if __name__ == "__main__":
    code = main()
    if _exit_hard_at_end():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
