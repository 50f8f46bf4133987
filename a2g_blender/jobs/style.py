# SPDX-License-Identifier: GPL-3.0-or-later
"""Style from the artist's clips (issue #22): the Style list's clips as a ``core.style`` library,
kept in the .blend, and found again by a take's recipe.

- :func:`scene_library` reads the scene's Style list (actions on any humanoid rig, SMPL-X .npz
  files) into ``core.style.StyleClip`` s and builds the library (cached by the clips' content in
  ``core.style``); None when the list is empty (the bundled library).
- An action is read through the rig conversion pins use (:func:`action_clip`, the one call site):
  the rig it was made for (the clip's Rig, else the Target) turned back into SMPL-X rotations.
- :func:`store` keeps a library in the .blend as a text datablock ``A2G Style <key>`` (its npz,
  base64), so a saved file replays its takes without the clips; :func:`for_recipe` finds it by
  the key a take's recipe records and gives the network that draws from it.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from ..core.errors import UserError

TEXT_PREFIX = "A2G Style "
AUDIO_SUFFIXES = (".wav",)  # read by core.audio in every Blender version


def _text_name(key: str) -> str:
    return TEXT_PREFIX + key[:16]


def file_clip(path, name: str | None = None):
    """A style clip from an SMPL-X ``.npz`` or a ``.bvh``; its speech when a WAV of the same stem
    lies beside it (a capture session: BEAT2's layout), matched by audio then."""
    from ..core.style import StyleClip, clip_from_file

    p = Path(path)
    clip = clip_from_file(p, name or p.name)
    for suffix in AUDIO_SUFFIXES:
        audio = p.with_suffix(suffix)
        if audio.is_file():
            from ..core.audio import load_audio_16k_mono
            from ..core.features import features_for_motion

            feats = features_for_motion(load_audio_16k_mono(audio, audio.name))
            return StyleClip(clip.name, clip.rotations, clip.fps, feats)
    return clip


def action_clip(action, obj, n_joints: int, fps: float):
    """A style clip from ``action`` as the armature ``obj`` plays it (any humanoid rig with a
    bone map): its frame range at the scene's ``fps``, turned into the model's SMPL-X joints."""
    from ..core.rotations import quat_to_matrix
    from ..core.skeleton import relax_missing_fingers
    from ..core.style import StyleClip, StyleError
    from ..rigio import rig
    from . import pins

    if obj is None or obj.type != "ARMATURE":
        raise StyleError(f"Style clip '{action.name}': choose the armature it was made for (its Rig), "
                         "or set the Target")
    from ..core.skeleton import joint_set

    body = rig.body_rig(obj, joint_set(n_joints))  # a rig with no bone map: its message names what to do
    channels = pins.body_channels(pins.action_fcurves(action), body.bone_names)
    if not channels:
        raise StyleError(f"Style clip '{action.name}' rotates no body bone of '{obj.name}': add an "
                         "action made for that rig, or set the clip's Rig to the armature it animates")
    lo, hi = (float(v) for v in action.frame_range)
    frames = np.arange(lo, hi + 0.5)
    if body.retarget is not None and body.constrained and body.chain is None:
        # constraints not reproduced in numpy: read the pose the rig really shows (as pins do)
        from ..core.retarget import smplx_from_pose
        from ..core.rotations import matrix_to_quat
        from ..rigio.rig_eval import evaluated_rotations

        rot = evaluated_rotations(obj, action, None, frames, body.bone_names)
        local = matrix_to_quat(smplx_from_pose(body.retarget, rot, 55)[:, list(body.model_set.joints)])
    else:
        local = pins.sample_local_quats(channels, frames, obj, body.change, body.bone_names,
                                        body.retarget, body.model_set, body.key_target)
        if body.retarget is None and body.columns:
            local = pins._model_order(local, body.columns, body.model_joints)
    rot = quat_to_matrix(local).astype(np.float32)
    keyed = {j for j, bone in zip(body.joints, body.bone_names, strict=True) if bone in channels}
    return StyleClip(action.name, relax_missing_fingers(rot, keyed), float(fps))


def scene_clips(context, target, n_joints: int) -> list:
    """The Style list's clips, read; ``UserError`` naming a clip that cannot be used."""
    import bpy

    from .audio_source import scene_fps

    out = []
    fps = scene_fps(context.scene)
    for item in context.scene.a2g_style.clips:
        if item.kind == "FILE":
            out.append(file_clip(bpy.path.abspath(item.filepath), item.name or None))
        else:
            if item.action is None:
                raise UserError(f"Style clip '{item.name}' has no action: pick one, or remove the clip")
            out.append(action_clip(item.action, item.armature or target, n_joints, fps))
    return out


def scene_library(context, target, network):
    """The style library of the scene's Style list for ``network``, or None (the bundled one)."""
    from ..core.style import build_library

    if not len(context.scene.a2g_style.clips):
        return None
    return build_library(network, scene_clips(context, target, network.config.n_joints))


def store(library) -> None:
    """Keep ``library`` in the .blend (a text datablock named after its key; once per key)."""
    import bpy

    from ..core.style import library_to_bytes

    name = _text_name(library.key)
    if name in bpy.data.texts:
        return
    text = bpy.data.texts.new(name)
    text.from_string(base64.b64encode(library_to_bytes(library)).decode("ascii"))
    text.use_fake_user = True


def stored(key: str):
    """The library stored under ``key`` in the .blend, None when there is none."""
    import bpy

    from ..core.style import library_from_bytes

    text = bpy.data.texts.get(_text_name(key))
    if text is None:
        return None
    try:
        data = base64.b64decode(text.as_string().encode("ascii"), validate=True)
    except ValueError:
        data = b""
    return library_from_bytes(data, f"the style library '{text.name}'")


def for_recipe(network, recipe):
    """``network`` drawing from the style library its take was made with (the bundled one for
    recipes without a style); ``DirectingError`` when the .blend no longer holds it."""
    from ..core.directing import DirectingError
    from ..core.style import styled

    if not recipe.style:
        return network
    library = stored(recipe.style)
    if library is None or library.key != recipe.style:
        names = ", ".join(recipe.style_names) or recipe.style[:8]
        raise DirectingError(f"The style library of this take ({names}) is no longer in this file: "
                             "generate again to make a new take with the current Style")
    return styled(network, library)


def set_clips(scene, specs) -> None:
    """The Style list of ``scene`` set to ``specs`` (the batch command's ``--style``): SMPL-X
    ``.npz`` or ``.bvh`` paths, else names of actions in the file (animating the Target)."""
    import bpy

    clips = scene.a2g_style.clips
    clips.clear()
    for spec in specs:
        item = clips.add()
        if str(spec).lower().endswith((".npz", ".bvh")):
            item.kind, item.filepath, item.name = "FILE", str(Path(spec).resolve()), Path(spec).name
            continue
        action = bpy.data.actions.get(str(spec))
        if action is None:
            clips.clear()
            have = ", ".join(sorted(a.name for a in bpy.data.actions)[:8]) or "none"
            raise UserError(f"--style {spec!r}: no action of that name in the --blend file (its "
                            f"actions: {have}); give an SMPL-X .npz file or an action's name")
        item.kind, item.action, item.name = "ACTION", action, action.name
