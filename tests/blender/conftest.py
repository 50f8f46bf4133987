"""Harness for tests that drive real Blender (the `bpy` module) with the built extension.

- Blender's user folders point at a temporary directory (set before bpy is imported), so a
  test run never reads or writes the developer's own Blender configuration.
- The extension zip is built once per session with build_addon.py and installed the way a
  user installs it: `bpy.ops.extensions.package_install_files(..., enable_on_install=True)`.
- Every test starts from an empty factory scene (`read_homefile(use_factory_startup=True,
  use_empty=True)`), which keeps the preferences and so keeps the extension enabled.
- The trained model is not needed: a model with random weights in the real file format is
  written once per session and set as the add-on's Model File preference.
- Speech-like WAV files come from tests/speech.py (standard library, no soundfile needed).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
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
from tests.speech import speech_like, write_wav  # noqa: E402,F401  (re-exported to the tests)

# ---- bpy 4.2's exit ------------------------------------------------------------------------------
# bpy 4.2 as a Python module segfaults in its own teardown at interpreter exit once an add-on
# with a dynamic EnumProperty (the Gestures panel's Speaker: items from the model file) is
# registered, after every test has passed; a constant items callback crashes the same way and
# static items do not (measured), and so does enabling Rigify. tools/a2g_batch.py skips that
# teardown for the same reason: so does this harness, after pytest has reported, keeping
# pytest's exit status. The Rigify tests therefore run on 4.2 too.
_EXIT_STATUS: list[int] = []


def _exit_hard_at_end() -> bool:
    return not bpy.app.binary_path and bpy.app.version < (4, 3, 0)


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS.append(int(exitstatus))


def pytest_unconfigure(config):
    if _EXIT_STATUS and _exit_hard_at_end():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])


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


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    """A model with random weights, exported in the real format (json + npz)."""
    from core.model_file import random_model, save_model

    m = random_model(seed=7)
    path = tmp_path_factory.mktemp("model") / "random_test_model.json"
    return save_model(path, m.weights, m.config, m.feature_mean, m.feature_std,
                      m.code_mean, m.code_std, metadata={"purpose": "tests"})


@pytest.fixture()
def addon(installed_addon, model_file):
    """The enabled add-on, in an empty scene reset for this test, using the test model."""
    import addon_utils

    if not addon_utils.check(MODULE_NAME)[1]:
        addon_utils.enable(MODULE_NAME, default_set=True)
    bpy.ops.wm.read_homefile(use_factory_startup=True, use_empty=True)
    bpy.context.preferences.addons[MODULE_NAME].preferences.model_path = str(model_file)
    yield installed_addon
    bpy.ops.wm.read_homefile(use_factory_startup=True, use_empty=True)


def has_aud() -> bool:
    """Blender's audio module (absent from the bpy 4.2 wheels: no sound strips there)."""
    try:
        import aud  # noqa: F401
    except ImportError:
        return False
    return True


needs_aud = pytest.mark.skipif(not has_aud(), reason="this bpy build has no aud (no sound strips)")


def add_sound_strip(scene, path, frame_start: int, name: str = "speech", channel: int = 1):
    compat = importlib.import_module(f"{MODULE_NAME}.compat")  # the installed extension's
    return compat.sequencer_strips(scene, create=True).new_sound(name, str(path), channel, frame_start)


def scene_state() -> dict:
    """Everything generation could touch, as plain values (to check 'nothing changed')."""
    state = {
        "objects": sorted(o.name for o in bpy.data.objects),
        "actions": {},
        "anim": {},
        "pose": {},
        "scene": [],
    }
    for a in bpy.data.actions:
        state["actions"][a.name] = (a.users, a.use_fake_user, sorted(a.keys()))
    for o in bpy.data.objects:
        ad = o.animation_data
        if ad is not None:
            state["anim"][o.name] = (
                ad.action.name if ad.action else None,
                [(t.name, t.mute, [(s.name, s.action.name if s.action else None) for s in t.strips])
                 for t in ad.nla_tracks],
            )
        if o.type == "ARMATURE":
            state["pose"][o.name] = [
                (pb.name, pb.rotation_mode, tuple(round(v, 6) for v in pb.rotation_quaternion),
                 tuple(round(v, 6) for v in pb.location))
                for pb in o.pose.bones
            ]
    for s in bpy.data.scenes:
        state["scene"].append((s.name, s.frame_start, s.frame_end, s.frame_current, s.render.fps,
                               s.render.fps_base))
    return state


class FakeLayout:
    """Records what a panel's ``draw`` draws (panels cannot be drawn headless).

    It has exactly the functions and properties of the real ``bpy.types.UILayout``, with their
    parameter names: a call or keyword the real layout would refuse fails here too, and so does
    setting an operator property the operator does not have. Entries of ``log``:
    ``("prop", name)``, ``("label", text)``, ``("progress", text)`` and
    ``("operator", idname, text, depress, properties)``.
    """

    _CONTAINERS = {"column", "row", "box", "split", "column_flow", "grid_flow"}

    def __init__(self, log=None):
        object.__setattr__(self, "log", [] if log is None else log)

    def __setattr__(self, name, value):
        if name not in bpy.types.UILayout.bl_rna.properties:
            raise AttributeError(f"UILayout has no property {name!r}")
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        function = bpy.types.UILayout.bl_rna.functions.get(name)
        if function is None:
            raise AttributeError(f"UILayout has no function or property {name!r}")
        params = [p.identifier for p in function.parameters if not p.is_output]
        required = [p.identifier for p in function.parameters if p.is_required and not p.is_output]

        def call(*args, **kw):
            if len(args) > len(params):
                raise TypeError(f"UILayout.{name}() takes {len(params)} arguments, got {len(args)}")
            given = dict(zip(params, args, strict=False))
            if set(given) & set(kw) or set(kw) - set(params):
                raise TypeError(f"UILayout.{name}(): bad keywords {sorted(kw)} (it has {params})")
            given.update(kw)
            missing = [p for p in required if p not in given]
            if missing:
                raise TypeError(f"UILayout.{name}() needs {missing}")
            return self._record(name, given)

        return call

    def _record(self, name, given):
        if name in self._CONTAINERS:
            return FakeLayout(self.log)
        if name == "prop":
            self.log.append(("prop", given["property"]))
        elif name in ("label", "progress"):
            self.log.append((name, given.get("text", "")))
        elif name == "operator":
            props = _OperatorProperties(given["operator"])
            self.log.append(("operator", given["operator"], given.get("text", ""),
                             given.get("depress", False), props))
            return props
        return None


class _OperatorProperties:
    """Stands for the properties ``layout.operator`` returns: only the operator's own can be set."""

    def __init__(self, idname: str):
        module, name = idname.split(".")
        rna = getattr(getattr(bpy.ops, module), name).get_rna_type()
        object.__setattr__(self, "_names", set(rna.properties.keys()))

    def __setattr__(self, name, value):
        if name not in self._names:
            raise AttributeError(f"the operator has no property {name!r}")
        object.__setattr__(self, name, value)


def mod(name: str):
    """The installed extension's submodule ``name`` (e.g. "pipeline", "core.generate")."""
    return importlib.import_module(f"{MODULE_NAME}.{name}")


def use_file(path):
    """Play the audio file ``path`` from frame 1 at 30 fps as the scene's audio."""
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start = 30, 1.0, 1
    scene.a2g.audio_source, scene.a2g.audio_file = "FILE", str(path)


def recipe(rig) -> dict:
    """The recipe recorded on ``rig``'s active take."""
    return json.loads(rig.animation_data.action["a2g_recipe"])


def key_arrays(rig) -> dict:
    """The keys of ``rig``'s active action: (data_path, array_index) -> (N, 2) frames, values."""
    out = {}
    for fc in mod("compat").fcurves_of(rig.animation_data.action, rig):
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[(fc.data_path, fc.array_index)] = co.reshape(-1, 2)
    return out


def resample_keeps_outside(rig, frame_start: int, frame_end: int, seed: int) -> dict:
    """Run Resample Range over ``frame_start``-``frame_end`` with ``seed`` on ``rig``'s active
    take and check that it finishes, keeps the same F-curves and leaves every key outside the
    range bit-identical. Returns the keys from before (key_arrays)."""
    before = key_arrays(rig)
    assert bpy.ops.a2g.resample_range(frame_start=frame_start, frame_end=frame_end, seed=seed) == {"FINISHED"}
    after = key_arrays(rig)
    assert after.keys() == before.keys()
    for path, co in after.items():
        out = (co[:, 0] < frame_start) | (co[:, 0] > frame_end)
        np.testing.assert_array_equal(co[out], before[path][out])  # bit-identical outside
    return before


@pytest.fixture()
def speech_4s(tmp_path):
    """4 s of speech-like sound (120 frames at 30 fps) played from frame 1 as the scene's audio
    file (test files whose own ``speech`` differs keep theirs)."""
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.frame_start, scene.frame_end = 1, 120
    path = write_wav(tmp_path / "speech.wav", speech_like(4.0, seed=3))
    scene.a2g.audio_source, scene.a2g.audio_file = "FILE", str(path)
    return path


@pytest.fixture()
def rig(addon):
    """A new SMPL-X character (Add SMPL-X Character), active."""
    assert bpy.ops.a2g.add_character() == {"FINISHED"}
    return bpy.context.active_object
