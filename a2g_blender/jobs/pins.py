# SPDX-License-Identifier: GPL-3.0-or-later
"""Pins: NLA strips on the target armature's muted ``A2G Pins`` track (paper sec. 5.6).

A pin holds an action that animates SMPL-X body bones (a take the user liked, or motion
imported from an SMPL-X ``.npz``). Generate and Resample sample every unmuted pin strip at the
model's 30 fps frames, through the strip's own timing (action range, scale, repeat, reverse),
and replace the motion-specific code there by the motion encoder's code of that motion. The
track stays muted so the pins never play over the result; users move and trim pins in the NLA
editor like any strip, and mute a strip to leave it out.

Reading a pin evaluates the action's F-curves (``FCurve.evaluate``, so interpolation and
modifiers count); quaternion, Euler and axis-angle rotation channels are understood. Body
bones the action does not animate stay at rest. The arithmetic is in ``core.directing``.
"""

from __future__ import annotations

import re

import numpy as np

from .. import compat
from ..core.directing import DirectingError, StripTime, Timeline, check_pin_spans, pin_span
from ..core.rotations import channel_quaternions
from ..core.scene_motion import pose_to_local_quats
from ..core.skeleton import BODY_JOINT_NAMES, relax_missing_fingers

PIN_TRACK = "A2G Pins"

_PATH = re.compile(r'^pose\.bones\[(["\'])(.+?)\1\]\.(rotation_quaternion|rotation_euler|'
                   r'rotation_axis_angle)$')
_WIDTH = {"rotation_quaternion": 4, "rotation_euler": 3, "rotation_axis_angle": 4}
_DEFAULT = {"rotation_quaternion": (1.0, 0.0, 0.0, 0.0), "rotation_euler": (0.0, 0.0, 0.0),
            "rotation_axis_angle": (0.0, 0.0, 1.0, 0.0)}
# preferred channel when a bone has several kinds keyed
_PREFER = ("rotation_quaternion", "rotation_euler", "rotation_axis_angle")


# ---- tracks and strips -----------------------------------------------------------------------
def is_pin_track(track) -> bool:
    """The pin track, and copies of it (``A2G Pins.001``) that users may make."""
    return track.name == PIN_TRACK or track.name.startswith(PIN_TRACK + ".")


def pin_tracks(obj) -> list:
    anim = obj.animation_data if obj is not None else None
    return [t for t in anim.nla_tracks if is_pin_track(t)] if anim is not None else []


def pin_strips(obj, include_muted: bool = False) -> list:
    """The pin strips of ``obj``, in time order (muted ones only when asked)."""
    strips = [s for t in pin_tracks(obj) for s in t.strips if include_muted or not s.mute]
    return sorted(strips, key=lambda s: (s.frame_start, s.frame_end))


def timeline_for(heard, fps: float) -> Timeline:
    """The timeline of the motion generated for ``heard`` (``audio_source.HeardAudio``)."""
    from ..core.features import n_motion_frames

    return Timeline(int(heard.first), int(heard.end), float(fps), n_motion_frames(heard.samples.size))


def strip_time(strip) -> StripTime:
    return StripTime(strip.frame_start, strip.frame_end, strip.action_frame_start,
                     strip.action_frame_end, strip.scale, strip.repeat, bool(strip.use_reverse))


# ---- channels of an action ---------------------------------------------------------------------
def action_fcurves(action, slot=None):
    """The F-curves of ``action`` for ``slot`` (slotted actions; the first object slot when
    None) or its legacy F-curves, as a list."""
    return list(compat.fcurves_of(action, slot=slot))


def body_channels(fcurves, names=BODY_JOINT_NAMES) -> dict[str, tuple[str, dict[int, object]]]:
    """Body bone (of ``names``: the SMPL-X body bones, or a retargeted rig's keyed bones) ->
    (rotation channel kind, {array index: F-curve}) for the bones the F-curves rotate; the
    preferred kind when several are keyed."""
    wanted = set(names)
    found: dict[str, dict[str, dict[int, object]]] = {}
    for fc in fcurves:
        m = _PATH.match(fc.data_path)
        if m is None or m.group(2) not in wanted:
            continue
        found.setdefault(m.group(2), {}).setdefault(m.group(3), {})[fc.array_index] = fc
    out = {}
    for bone, kinds in found.items():
        kind = next(k for k in _PREFER if k in kinds)
        out[bone] = (kind, kinds[kind])
    return out


def has_body_channels(action, slot=None, names=BODY_JOINT_NAMES) -> bool:
    return bool(body_channels(action_fcurves(action, slot), names))


def pin_bone_names(obj) -> tuple[str, ...]:
    """The bones a pin's action must rotate on ``obj``: its keyed body bones (the SMPL-X body
    bones, or the bones its bone map retargets onto)."""
    from ..core.bone_map import BoneMapError
    from ..rigio import rig

    if obj is None or obj.type != "ARMATURE":
        return BODY_JOINT_NAMES
    try:
        if not rig.stored_map(obj) and rig.is_smplx_rig(obj):
            return BODY_JOINT_NAMES
        bone_map = rig.resolve_map(obj)
    except BoneMapError:
        return BODY_JOINT_NAMES
    return tuple(b for j, chain in bone_map.joints.items() if j in BODY_JOINT_NAMES for b in chain)


def _no_channels_message(action_name: str, names=BODY_JOINT_NAMES) -> str:
    if tuple(names) != BODY_JOINT_NAMES:
        shown = ", ".join(list(names)[:3])
        return (f"Action '{action_name}' does not rotate any body bone of this rig ({shown}, "
                "...): pin a take, or an action made for this rig")
    return (f"Action '{action_name}' does not rotate any SMPL-X body bone (pelvis, spine1, ..., "
            "right_wrist): pin a take, or motion imported from an SMPL-X .npz")


def sample_local_quats(channels, frames, obj, change=None, names=BODY_JOINT_NAMES,
                       retarget=None, model_joints: int = 22, target=None) -> np.ndarray:
    """SMPL-X local quaternions (n, J, 4) of the channels at action ``frames`` (n,), J the
    model's joints (``model_joints``: its joint set or count; 22 for SMPL-X body bones).

    ``names``: the bones read (SMPL-X body bones; for a retargeted rig its keyed bones, whose
    pose is turned back into SMPL-X rotations by the inverse map: ``target``, the rig's
    core.rig_keys.KeyTarget, else ``retarget``'s)."""
    frames = [float(f) for f in frames]
    n = len(frames)
    pose = np.tile(np.array([1.0, 0.0, 0.0, 0.0]), (n, len(names), 1))
    for j, bone in enumerate(names):
        if bone not in channels:
            continue
        kind, curves = channels[bone]
        values = np.tile(np.asarray(_DEFAULT[kind], dtype=np.float64), (n, 1))
        for i in range(_WIDTH[kind]):
            fc = curves.get(i)
            if fc is not None:
                evaluate = fc.evaluate
                values[:, i] = [evaluate(f) for f in frames]
        mode = "XYZ"
        if kind == "rotation_euler":
            pb = obj.pose.bones.get(bone) if obj is not None else None
            mode = pb.rotation_mode if pb is not None and len(pb.rotation_mode) == 3 else "XYZ"
        pose[:, j] = channel_quaternions(kind, values, mode)
    if retarget is not None:
        from ..core.rig_keys import KeyTarget, from_keys
        from ..core.rotations import matrix_to_quat
        from ..core.skeleton import joint_set

        target = target if target is not None else KeyTarget((), retarget=retarget)
        local = from_keys(target, pose, 55)[:, list(joint_set(model_joints).joints)]
        return matrix_to_quat(local)
    return pose_to_local_quats(pose, change)


# ---- reading the pins for generation ---------------------------------------------------------
def read_pins(obj, rig, timeline: Timeline) -> list:
    """Every unmuted pin of ``obj`` as a ``core.generate.Pin`` on ``timeline``'s model frames.

    ``rig``: the target's ``rig.BodyRig`` (its change of frame). Raises
    :class:`core.directing.DirectingError` naming the strip for pins outside the audio,
    overlapping pins, non-action strips and actions without SMPL-X body channels.
    """
    from ..core.generate import Pin
    from ..core.rotations import quat_to_matrix

    strips = pin_strips(obj)
    if not strips:
        return []
    spans = []
    for strip in strips:
        if strip.type != "CLIP" or strip.action is None:
            raise DirectingError(f"Pin '{strip.name}' holds no action: only action strips can "
                                 f"be pins (remove it from the '{PIN_TRACK}' track, or mute it)")
        if strip.use_animated_time:
            raise DirectingError(f"Pin '{strip.name}' has animated Strip Time, which pins do not "
                                 "support: turn it off, or mute the strip")
        spans.append((pin_span(strip.name, strip.frame_start, strip.frame_end, timeline), strip))
    check_pin_spans([s for s, _ in spans])
    pins = []
    for span, strip in spans:
        channels = body_channels(action_fcurves(strip.action, compat.strip_slot(strip)), rig.bone_names)
        if not channels:
            raise DirectingError(f"Pin '{strip.name}': "
                                 f"{_no_channels_message(strip.action.name, rig.bone_names)}")
        scene_frames = timeline.scene_frames(span.start, span.end)
        action_frames = strip_time(strip).action_frames(scene_frames)
        if rig.retarget is not None and rig.constrained and rig.chain is None:
            # constraints not reproduced in numpy: read the pose the rig really shows
            from ..core.retarget import smplx_from_pose
            from ..core.rotations import matrix_to_quat
            from ..rigio.rig_eval import evaluated_rotations

            rot = evaluated_rotations(obj, strip.action, getattr(strip, "action_slot", None),
                                      action_frames, rig.bone_names)
            local = smplx_from_pose(rig.retarget, rot, 55)
            local = matrix_to_quat(local[:, list(rig.model_set.joints)])
        else:
            local = sample_local_quats(channels, action_frames, obj, rig.change, rig.bone_names,
                                       rig.retarget, rig.model_set, rig.key_target)
            if rig.retarget is None and rig.columns:  # keyed bones' order -> the model's order
                local = _model_order(local, rig.columns, rig.model_joints)
        rot = quat_to_matrix(local).astype(np.float32)
        # fingers the pinned action does not rotate (or the rig lacks): the relaxed mean hand
        keyed = {j for j, bone in zip(rig.joints, rig.bone_names, strict=True) if bone in channels}
        pins.append(Pin(span.start, span.end, relax_missing_fingers(rot, keyed)))
    return pins


def _model_order(local, columns, n_joints: int) -> np.ndarray:
    """Quaternions (n, K, 4) of the keyed bones -> (n, n_joints, 4) in the model's joint order
    (joints without a bone at identity)."""
    out = np.tile(np.array([1.0, 0.0, 0.0, 0.0]), (local.shape[0], n_joints, 1))
    out[:, list(columns)] = local
    return out


# ---- adding a pin ----------------------------------------------------------------------------
def add_pin(obj, action, frame_start: int, action_start=None, action_end=None):
    """Put ``action`` on ``obj``'s pin track from ``frame_start``; returns the new strip.

    Pins may sit on several ``A2G Pins`` tracks (a trimmed pin that fits between two pins
    goes on a new track when the untrimmed strip does not fit on the first).

    ``action_start`` / ``action_end``: the part of the action to pin (default: all of it).
    Raises :class:`DirectingError` (nothing changed) when the action has no SMPL-X body
    channels, the part is empty, or it would overlap another pin.
    """
    names = pin_bone_names(obj)
    if not has_body_channels(action, names=names):
        raise DirectingError(_no_channels_message(action.name, names))
    lo, hi = (float(v) for v in action.frame_range)
    a0 = lo if action_start is None else float(action_start)
    a1 = hi if action_end is None else float(action_end)
    if a1 <= a0:
        raise DirectingError(f"Cannot pin frames {a0:g}-{a1:g} of '{action.name}': the part to "
                             "pin must end after it starts")
    length = a1 - a0
    end = frame_start + length
    for strip in pin_strips(obj):
        if strip.frame_start < end and frame_start < strip.frame_end:
            raise DirectingError(
                f"A pin of '{action.name}' at frames {frame_start:g}-{end:g} would overlap pin "
                f"'{strip.name}' (frames {strip.frame_start:g}-{strip.frame_end:g}): move the "
                "current frame, or move that pin")
    strip = _new_strip(obj, action, int(frame_start))
    if (a0, a1) != (lo, hi):
        strip.action_frame_start, strip.action_frame_end = a0, a1  # the strip's end follows
    return strip


def _new_strip(obj, action, frame_start: int):
    """A strip of the whole ``action`` at ``frame_start`` on the first pin track with room for
    it (the strip may be trimmed afterwards), else on a new muted pin track."""
    for track in pin_tracks(obj):
        try:
            strip = track.strips.new(action.name, frame_start, action)
        except RuntimeError:  # no room for the untrimmed strip here
            continue
        track.mute = True
        return strip
    return compat.new_muted_track(obj, PIN_TRACK).strips.new(action.name, frame_start, action)
