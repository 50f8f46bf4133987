"""Rigify's control rig, generated once from Rigify's human metarig into a .blend file by a
separate process (standard library only here; the tests and benchmarks/bench_blender.py use it).

After ``rigify_generate`` the bpy 4.5 module hangs when its process exits (measured with bpy
4.5.15), so that process ends with ``os._exit``; enabling Rigify in the bpy 4.2 module makes the
process crash at exit, so its callers run Rigify on 4.5 and 5.0 only.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GENERATE = """
import os, sys, tempfile
os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="a2g-rigify-")
import bpy
import addon_utils
bpy.ops.wm.read_homefile(use_factory_startup=True, use_empty=True)
addon_utils.enable("rigify", default_set=True)
bpy.ops.object.armature_human_metarig_add()
bpy.ops.pose.rigify_generate()
bpy.data.libraries.write(sys.argv[1], {bpy.data.objects["rig"]})
sys.stdout.flush()
os._exit(0)
"""


def write_control_rig(path: Path) -> Path:
    """Write the control rig (object "rig", about 20 s) to ``path``; RuntimeError if Rigify
    could not make it."""
    done = subprocess.run([sys.executable, "-c", GENERATE, str(path)], capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0 or not Path(path).is_file():
        raise RuntimeError(f"Rigify could not generate its control rig: {done.stderr[-2000:]}")
    return Path(path)


def append_control_rig(path: Path):
    """The rig object from ``path`` (written by :func:`write_control_rig`), linked into the scene."""
    import bpy

    with bpy.data.libraries.load(str(path), link=False) as (_src, dst):
        dst.objects = ["rig"]
    rig = dst.objects[0]
    bpy.context.scene.collection.objects.link(rig)
    return rig
