# SPDX-License-Identifier: GPL-3.0-or-later
"""SMPL-X motion files (AMASS/BEAT2 ``.npz``) <-> actions on any humanoid armature.

Import (``a2g.import_npz``, File > Import > SMPL-X Motion): the file becomes one new action
on the target armature (the Gestures panel's Target, else the active armature, the same rule
as Generate), keyed in bulk. Any other humanoid rig (Mixamo, Rigify, ...) is keyed as
Generate keys it: through its bone map and :mod:`.core.rig_keys` (retargeted rotations, a
Rigify rig's FK controls), rotations only. An SMPL-X armature gets:

- Rotations: every one of the 55 SMPL-X joints the armature has a bone for (either eye
  spelling), as ``rotation_quaternion`` (bones are switched to QUATERNION mode), through the
  per-bone change of frame of :mod:`.core.scene_motion`, continuous over time (no hemisphere flips).
- Frame rate: the clip is resampled (quaternion slerp, linear for translation) from its own
  rate to the scene's ``render.fps / fps_base``; its first frame lands on the scene's start
  frame. The scene's end frame is moved later if the motion runs past it.
- Translation: the pelvis moves by the file's ``trans`` *relative to its first frame*,
  converted from SMPL-X Y-up to the armature's axes, so the character starts where it
  stands in the scene and keeps its own height (absolute SMPL-X positions depend on each
  body's shape and on where the rig was placed, which differ between rigs). It is keyed as
  the pelvis bone's ``location`` only when the pelvis bone can move: it must not be
  connected to a parent (``use_connect``); a clip whose pelvis never moves gets no location
  keys. Armature units are taken to be metres.
- The armature's previous action is handled the way Generate handles it (a generated one is
  replaced, the user's own keeps playing underneath on an NLA track; see :mod:`.actions`);
  the imported action is not marked as generated.

Everything that can fail (reading the file, checking the rig, converting) happens before the
scene is touched; on any error the scene is unchanged. The operator is one undo step.

Export (:func:`write_motion_npz`, used by the batch command): any rig's keys at scene frames
back to SMPL-X local rotations (:func:`core.rig_keys.from_keys`), written with
:func:`core.smplx_npz.write_smplx_npz`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import bpy
import numpy as np
from bpy_extras.io_utils import ImportHelper

from ..core.errors import UserError, message_for
from ..core.rotations import quat_to_matrix
from ..core.skeleton import FULL, JOINT_NAMES, NUM_JOINTS, Y_UP_TO_Z_UP, Y_UP_TO_Z_UP_QUAT
from ..core.smplx_npz import SmplxMotion, read_smplx_npz, write_smplx_npz


@dataclass(frozen=True)
class ArmatureFrames:
    """How SMPL-X joints map onto one armature (plain numbers, read from bpy once)."""

    joints: tuple[int, ...]  # SMPL-X joint indices the armature has bones for
    bones: tuple[str, ...]  # the bone name of each, same order
    change: np.ndarray  # (J, 4) per-bone change of frame (core.scene_motion.frame_change)
    up: np.ndarray  # (3, 3) SMPL-X Y-up axes -> armature axes
    pelvis_rest: np.ndarray | None  # (3, 3) pelvis bone rest rotation in armature space
    pelvis_can_move: bool


@dataclass(frozen=True)
class PreparedImport:
    armature: str
    motion: SmplxMotion
    frames: ArmatureFrames | None  # an SMPL-X armature's joints and bones (None: retargeted)
    first: int  # scene frames first .. end - 1
    end: int
    quats: np.ndarray  # (end - first, J, 4)
    locations: np.ndarray | None  # (end - first, 3) pelvis bone location, or None
    name: str
    rig: object = None  # rig.BodyRig of any other humanoid (keyed as Generate keys it)

    @property
    def bones(self) -> tuple[str, ...]:
        """The bones that get keys."""
        return self.frames.bones if self.frames is not None else self.rig.bone_names


# ---- reading the rig ---------------------------------------------------------------------------
def armature_frames(obj) -> ArmatureFrames:
    """Map SMPL-X joints onto ``obj``'s bones; raises ``rig.RigError`` for a non-SMPL-X rig."""
    from ..core.scene_motion import frame_change
    from . import rig

    body = rig.smplx_body_rig(obj)
    bones = obj.data.bones
    names = rig.bone_name_map(bones)
    joints = tuple(j for j, n in enumerate(JOINT_NAMES) if n in names)
    bone_names = tuple(names[JOINT_NAMES[j]] for j in joints)
    if body.up_axis == "Z":
        up_quat = np.asarray(Y_UP_TO_Z_UP_QUAT, dtype=np.float64)
        up = np.asarray(Y_UP_TO_Z_UP, dtype=np.float64)
    else:
        up_quat, up = np.array([1.0, 0.0, 0.0, 0.0]), np.eye(3)
    rest = np.array([tuple(bones[n].matrix_local.to_quaternion()) for n in bone_names])
    change = frame_change(rest, up_quat)
    pelvis = bones[names["pelvis"]]
    pelvis_rest = np.array(pelvis.matrix_local.to_3x3().normalized(), dtype=np.float64)
    can_move = not (pelvis.parent is not None and pelvis.use_connect)
    return ArmatureFrames(joints, bone_names, change, up, pelvis_rest, can_move)


# ---- conversion (core.scene_motion) ------------------------------------------------------------
def scene_quaternions(motion: SmplxMotion, frames: ArmatureFrames, n_out: int, fps: float) -> np.ndarray:
    """Bone quaternions (n_out, J, 4) for scene frames 0 .. n_out - 1 at ``fps``."""
    from ..core.scene_motion import clip_to_scene_quaternions

    return clip_to_scene_quaternions(motion.local_rot[:, list(frames.joints)], motion.fps, n_out, fps,
                                     frames.change)


def pelvis_locations(motion: SmplxMotion, frames: ArmatureFrames, n_out: int, fps: float):
    """Pelvis bone ``location`` (n_out, 3), or None when it cannot or does not move."""
    from ..core.scene_motion import pelvis_locations as locations

    if not frames.pelvis_can_move:
        return None
    return locations(motion.trans, motion.fps, n_out, fps, frames.up, frames.pelvis_rest)


def prepare_import(context, obj, filepath: str, flat_hand_mean: bool = False) -> PreparedImport:
    """Read and convert everything; touches no bpy data. Raises a ``core.errors.UserError``."""
    from ..core.timeline import frame_count

    if obj is None:
        raise UserError("No target armature: select an SMPL-X armature (or add one with "
                             "Add SMPL-X Character)")
    path = bpy.path.abspath(filepath.strip()) if filepath else ""
    if not path:
        raise UserError("No file chosen: pick an SMPL-X motion .npz")
    from . import rig

    smplx = obj.type == "ARMATURE" and rig.is_smplx_rig(obj) and not rig.stored_map(obj)
    frames = armature_frames(obj) if smplx else None
    body = None if smplx else rig.body_rig(obj, FULL)  # any humanoid: its bone map
    motion = read_smplx_npz(path, flat_hand_mean=flat_hand_mean)
    scene = context.scene
    fps = scene.render.fps / scene.render.fps_base
    n_out = max(1, frame_count(motion.duration, fps))
    first = int(scene.frame_start)
    if body is not None:
        from ..core.rig_keys import to_keys

        quats = to_keys(body.key_target, motion.local_rot, 0, n_out, fps, source_fps=motion.fps)
        locations = None
    else:
        quats = scene_quaternions(motion, frames, n_out, fps)
        locations = pelvis_locations(motion, frames, n_out, fps)
    return PreparedImport(
        armature=obj.name,
        motion=motion,
        frames=frames,
        first=first,
        end=first + n_out,
        quats=quats,
        locations=locations,
        name=os.path.splitext(os.path.basename(path))[0] or "SMPL-X motion",
        rig=body,
    )


# ---- writing -----------------------------------------------------------------------------------
def _key_locations(obj, action, bone: str, frames: np.ndarray, values: np.ndarray) -> None:
    """Key ``pose.bones[bone].location`` in bulk, in the bone's group (its rotation's)."""
    from .. import compat
    from . import keying

    new_fcurve = compat.fcurve_maker(obj, action)
    path = keying.quaternion_path(bone).rsplit(".", 1)[0] + ".location"
    co = np.empty((len(frames), 2), dtype=np.float32)
    co[:, 0] = frames
    for i in range(3):
        fc = new_fcurve(path, i, bone)
        fc.keyframe_points.add(len(frames))
        co[:, 1] = values[:, i]
        fc.keyframe_points.foreach_set("co", co.ravel())
        fc.update()


def apply_import(context, prepared: PreparedImport):
    """Write ``prepared`` as a new action on its armature; returns the action."""
    from . import actions, keying

    obj = bpy.data.objects.get(prepared.armature)
    if obj is None:
        raise UserError(f"The armature '{prepared.armature}' no longer exists")
    f = prepared.frames
    metadata = {
        "a2g_source": prepared.motion.path.as_posix() if prepared.motion.path else "",
        "a2g_frames": [prepared.first, prepared.end],
    }
    for name in prepared.bones:
        obj.pose.bones[name].rotation_mode = "QUATERNION"
    action = actions.replace_action(obj, prepared.name, metadata)
    try:
        if actions.GENERATED in action:
            del action[actions.GENERATED]  # imported, not generated: Generate must not delete it
        frames = np.arange(prepared.first, prepared.end, dtype=np.float64)
        if prepared.rig is not None:  # any other humanoid: keyed as Generate keys it
            keying.write_rig_keys(obj, action, prepared.rig, frames, prepared.quats)
        else:
            keying.write_bone_quaternions(obj, action, f.bones, frames, prepared.quats)
        if prepared.locations is not None:
            _key_locations(obj, action, f.bones[f.joints.index(0)], frames, prepared.locations)
    except Exception:
        obj.animation_data.action = None
        bpy.data.actions.remove(action)
        raise
    scene = context.scene
    if scene.frame_end < prepared.end - 1:
        scene.frame_end = prepared.end - 1
    return action


def import_npz(context, obj, filepath: str, flat_hand_mean: bool = False):
    """Import ``filepath`` onto ``obj``; returns ``(action, prepared)``."""
    prepared = prepare_import(context, obj, filepath, flat_hand_mean)
    return apply_import(context, prepared), prepared


# ---- export ------------------------------------------------------------------------------------
def armature_translation(obj, up_axis: str = "Z") -> np.ndarray:
    """SMPL-X ``trans`` (3,) that places a neutral body where ``obj`` stands: its world
    location in SMPL-X axes (our character stands on the floor at trans ~ (0, 1.3, 0),
    as BEAT2 captures do)."""
    from ..core.skeleton import z_up_to_y_up

    loc = np.array(obj.matrix_world.translation, dtype=np.float64)
    return z_up_to_y_up(loc) if up_axis == "Z" else loc


def write_motion_npz(path, obj, rig, bone_quats, fps: float, model_local=None) -> None:
    """Write generated motion (bone quaternions (N, K, 4) of ``rig.bone_names`` at ``fps``) as
    SMPL-X npz.

    ``rig`` is the :class:`.rig.BodyRig` the quaternions were made for. The finger bones it
    keys (a model with hands) are written as generated, as offsets from the mean hand
    (``flat_hand_mean=False``, as BEAT2 stores them); joints the motion does not cover (jaw,
    eyes, and the fingers of a body-only model) are written at rest, as the armature shows them.
    ``model_local`` (T, 52, 3, 3), the model's own 30 fps output: the fingers of a hands model
    that the rig has no bones for are written from it.
    """
    from ..core.rig_keys import from_keys

    rot = from_keys(rig.key_target, bone_quats, NUM_JOINTS)  # any rig, core.rig_keys' inverse
    if rig.retarget is not None:  # the artist's rig: rotations only
        trans = np.zeros((rot.shape[0], 3))
    else:
        trans = np.broadcast_to(armature_translation(obj, rig.up_axis), (rot.shape[0], 3))
    write_smplx_npz(path, _unkeyed_fingers(rot, rig, model_local, fps), trans, fps=fps)


def _unkeyed_fingers(rot, rig, model_local, fps: float) -> np.ndarray:
    """``rot`` (N, 55, 3, 3) with the finger joints no bone of ``rig`` plays taken from the
    hands model's output ``model_local`` (T, 52, 3, 3) at 30 fps, sampled at the N frames."""
    from ..core.skeleton import HAND_JOINTS, model_columns
    from ..core.timeline import MODEL_FPS, resample_rotations

    if model_local is None or model_local.shape[1] != 22 + len(HAND_JOINTS):
        return rot
    missing = [j for j in HAND_JOINTS if j not in set(rig.joints)]
    if missing:
        picked = np.asarray(model_local, dtype=np.float64)[:, list(model_columns(missing, True))]
        rot[:, missing] = quat_to_matrix(resample_rotations(picked, MODEL_FPS, fps, rot.shape[0]))
    return rot


# ---- operator ----------------------------------------------------------------------------------
class A2G_OT_import_npz(bpy.types.Operator, ImportHelper):
    bl_idname = "a2g.import_npz"
    bl_label = "Import SMPL-X Motion (.npz)"
    bl_description = ("Load an AMASS/BEAT2-style SMPL-X motion (.npz) as a new action on the "
                      "target armature (SMPL-X, or any humanoid rig through its bone map), "
                      "resampled to the scene's frame rate")
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".npz"
    filter_glob: bpy.props.StringProperty(default="*.npz", options={"HIDDEN"})
    filepath: bpy.props.StringProperty(
        name="File Path",
        description="SMPL-X motion file (.npz with poses (T, 165), trans, mocap_frame_rate)",
        subtype="FILE_PATH",
    )
    flat_hand_mean: bpy.props.BoolProperty(
        name="Absolute Hands",
        description="The file stores absolute hand rotations (flat_hand_mean=True). Off: hand "
        "values are offsets from the relaxed mean hand, as in BEAT2 and the SMPL-X default",
        default=False,
    )

    @classmethod
    def poll(cls, context):
        from ..jobs.pipeline import target_armature

        if context.scene is None:
            return False
        if context.mode not in {"OBJECT", "POSE"}:
            cls.poll_message_set("Switch to Object or Pose Mode to import motion")
            return False
        obj = target_armature(context)
        if obj is None or obj.type != "ARMATURE":
            cls.poll_message_set("Select an armature: SMPL-X or any humanoid rig (or add one with "
                                 "Add SMPL-X Character)")
            return False
        return True

    def execute(self, context):
        from ..jobs.pipeline import target_armature

        try:
            action, prep = import_npz(context, target_armature(context), self.filepath,
                                      self.flat_hand_mean)
        except UserError as exc:
            self.report({"ERROR"}, message_for(exc))
            return {"CANCELLED"}
        m = prep.motion
        if prep.frames is None:
            moved = "retargeted: rotations only"
        else:
            moved = "pelvis translation keyed" if prep.locations is not None else (
                "pelvis connected: no translation" if not prep.frames.pelvis_can_move
                else "no pelvis translation")
        self.report({"INFO"}, f"'{action.name}': {m.n_frames} frames at {m.fps:g} fps -> frames "
                              f"{prep.first}-{prep.end - 1} on '{prep.armature}', "
                              f"{len(prep.bones)} bones, {moved}")
        return {"FINISHED"}


def _menu(self, context):
    self.layout.operator(A2G_OT_import_npz.bl_idname, text="SMPL-X Motion (.npz)")


def register():
    bpy.utils.register_class(A2G_OT_import_npz)
    bpy.types.TOPBAR_MT_file_import.append(_menu)


def unregister():
    bpy.types.TOPBAR_MT_file_import.remove(_menu)
    bpy.utils.unregister_class(A2G_OT_import_npz)
