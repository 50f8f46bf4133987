# SPDX-License-Identifier: GPL-3.0-or-later
"""Generation in three steps, so nothing is written unless everything worked:

1. :func:`prepare` (main thread, reads bpy): validates the target armature, the model and the
   audio, decodes the audio. Raises :class:`GenerationError` with a message for the user.
2. :func:`compute` (pure numpy, safe in a worker thread): features, network, resampling to the
   scene's frames, conversion to bone quaternions. Reports progress, honours cancellation.
3. :func:`apply` (main thread, writes bpy): one new action with all keys written in bulk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core.audio import AudioError


class GenerationError(Exception):
    """Bad input; the message is for the user (nothing was changed)."""


class Cancelled(Exception):
    """The user cancelled; nothing was changed."""


@dataclass(frozen=True)
class Job:
    armature: str  # object name
    rig: object  # rig.BodyRig
    heard: object  # audio_source.HeardAudio
    model: object  # core.network.Network
    model_path: Path
    seed: int
    fps: float
    pins: tuple = ()  # core.generate.Pin s (30 fps model frames), for later features
    resamples: tuple = ()  # core.generate.ResampleRange s


@dataclass(frozen=True)
class Result:
    job: Job
    frames: np.ndarray  # (N,) scene frames
    quats: np.ndarray  # (N, 22, 4) bone quaternions (w, x, y, z)


def target_armature(context, settings=None):
    """The armature to animate: the panel's Target, else the active object when it is an
    armature (or a mesh deformed by one)."""
    settings = settings or context.scene.a2g
    if settings.target is not None:
        return settings.target
    obj = context.active_object
    if obj is None or obj.type == "ARMATURE":
        return obj
    if obj.parent is not None and obj.parent.type == "ARMATURE":
        return obj.parent
    for mod in getattr(obj, "modifiers", ()):
        if mod.type == "ARMATURE" and mod.object is not None:
            return mod.object
    return obj


def prepare(context, obj, seed: int, settings=None) -> Job:
    """Validate and load everything generation needs; touches no bpy data."""
    from . import audio_source, model, rig
    from .core.model_file import ModelFileError

    scene = context.scene
    settings = settings or scene.a2g
    try:
        body = rig.body_rig(obj)
    except rig.RigError as exc:
        raise GenerationError(str(exc)) from None
    path = model.model_path(context)
    if path is None:
        raise GenerationError("No gesture model found: set Model File in the add-on preferences")
    try:
        loaded = model.load(path)
    except ModelFileError as exc:
        raise GenerationError(f"Cannot load the gesture model: {exc}") from None
    try:
        heard = audio_source.gather(scene, settings)
    except AudioError as exc:
        raise GenerationError(str(exc)) from None
    return Job(obj.name, body, heard, loaded, path, int(seed), audio_source.scene_fps(scene))


def compute(job: Job, progress=None, cancelled=None) -> Result:
    """Run the model for ``job``; pure numpy. ``progress(fraction)`` is called between stages,
    ``cancelled()`` polled there too (raises :class:`Cancelled`)."""
    from .core.features import features_for_motion
    from .core.generate import generate
    from .motion import to_scene_quaternions

    def step(fraction):
        if cancelled is not None and cancelled():
            raise Cancelled()
        if progress is not None:
            progress(fraction)

    heard = job.heard
    step(0.05)
    features = features_for_motion(heard.samples)
    step(0.25)
    local = generate(job.model, features, job.seed, pins=job.pins, resamples=job.resamples)
    step(0.85)
    quats = to_scene_quaternions(local, heard.first, heard.end, job.fps, job.rig.change)
    step(0.95)
    frames = np.arange(heard.first, heard.end, dtype=np.float64)
    return Result(job, frames, quats)


def apply(result: Result):
    """Write the result into a new generated action on the armature; returns the action."""
    import bpy

    from . import actions, keying

    job = result.job
    obj = bpy.data.objects.get(job.armature)
    if obj is None:
        raise GenerationError(f"The armature '{job.armature}' no longer exists")
    for name in job.rig.non_quaternion:
        obj.pose.bones[name].rotation_mode = "QUATERNION"
    metadata = {
        "a2g_seed": job.seed,
        "a2g_audio": job.heard.description,
        "a2g_model": job.model_path.name,
        "a2g_frames": [job.heard.first, job.heard.end],
    }
    action = actions.replace_action(obj, f"{job.heard.name} gestures", metadata)
    keying.write_bone_quaternions(obj, action, job.rig.bone_names, result.frames, result.quats)
    return action


def run(context, obj, seed: int, settings=None):
    """prepare + compute + apply, synchronously (headless, scripts, tests)."""
    job = prepare(context, obj, seed, settings)
    return apply(compute(job))
