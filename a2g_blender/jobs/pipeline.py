# SPDX-License-Identifier: GPL-3.0-or-later
"""Generation in three steps, so nothing is written unless everything worked:

1. :func:`prepare` (main thread, reads bpy): validates the target armature, the model and the
   audio, decodes the audio. Raises a ``core.errors.UserError`` with a message for the user.
2. :func:`compute` (pure numpy, safe in a worker thread): features, network, resampling to the
   scene's frames, conversion to bone quaternions. Reports progress, honours cancellation.
3. :func:`apply` (main thread, writes bpy): one new action with all keys written in bulk (one
   per take when several are asked for; see :mod:`.takes`).

Pins on the armature's ``A2G Pins`` NLA track (:mod:`.pins`) are read in :func:`prepare` and
steer the motion over their frames; every generated action carries the recipe that Resample
Range replays (:mod:`.resample`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import UserError


class Cancelled(Exception):
    """The user cancelled; nothing was changed."""


@dataclass(frozen=True)
class Job:
    armature: str  # object name
    rig: object  # rig.BodyRig
    heard: object  # audio_source.HeardAudio
    network: object  # core.network.Network (the loaded model)
    model_path: Path
    seed: int
    fps: float
    pins: tuple = ()  # core.generate.Pin s (30 fps model frames): the A2G Pins track's (prepare)
    resamples: tuple = ()  # core.generate.ResampleRange s
    audio: dict | None = None  # the audio as the recipe records it (takes.audio_recipe)
    count: int = 1  # takes: seeds seed, seed + 1, ..., seed + count - 1
    intensity: float = 1.0  # core.generate's intensity: 0.5 calmer, 1.5 livelier
    style: object = None  # core.style.StyleLibrary of the Style list; None: the bundled library
    speaker: str | None = None  # core.speakers: the style's speaker, as checked (None: one-speaker model)
    sync: float = 1.0  # core.generate's sync (core.generate.DEFAULT_SYNC): 0 the motion's own timing


@dataclass(frozen=True)
class Result:
    job: Job
    frames: np.ndarray  # (N,) scene frames
    quats: np.ndarray  # (N, K, 4) the keys of the rig's K keyed bones (w, x, y, z)
    takes: tuple = ()  # (N, K, 4) the keys of takes 2 .. count
    local: np.ndarray | None = None  # take 1's model output (T, J, 3, 3) at 30 fps (.npz export)
    settled: bool = False  # the keys were fitted to the evaluated rig already (refinement)

    def refinement(self):
        """What must still touch Blender frame by frame before this is written: a
        rig_eval.Refinement of the takes (rigs whose constraint chain could not be read), else
        None. The modal job steps it with progress and Esc; nothing is written until it is done."""
        import bpy

        from ..rigio.rig_eval import Refinement, needs_refinement

        if self.settled or not needs_refinement(self.job.rig):
            return None
        obj = bpy.data.objects.get(self.job.armature)
        if obj is None:
            raise UserError(f"The armature '{self.job.armature}' no longer exists: generate again")
        return Refinement(obj, self.job.rig, self.frames, (self.quats, *self.takes))

    def refined(self, done) -> Result:
        """This with the keys a finished :meth:`refinement` fitted to the rig."""
        from dataclasses import replace

        return replace(self, quats=done.quats[0], takes=tuple(done.quats[1:]), settled=True)


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


def prepare(context, obj, seed: int, settings=None, count: int = 1,
            intensity: float = 1.0, model_path=None, heard=None, speaker=None,
            sync: float | None = None) -> Job:
    """Validate and load everything generation needs (pins included); touches no bpy data.

    ``speaker``: generate in the style of one of the model's speakers (core/speakers.py);
    None or "": the model's default speaker. An unknown one is a ``SpeakerError`` naming them.

    ``model_path``: the model file to use instead of the preferences' (the batch command's
    ``--model``); ``heard``: the audio ``settings`` choose, when the caller decoded it already;
    ``sync``: None for core.generate.DEFAULT_SYNC.
    """
    from ..core.generate import DEFAULT_SYNC, check_intensity, check_sync
    from ..core.speakers import check_speaker
    from ..rigio import rig
    from ..rigio.writable import check_writable
    from . import audio_source, model, pins, style, takes

    check_writable(obj)  # NLA tweak mode, linked without a library override: refused, nothing done
    scene = context.scene
    settings = settings or scene.a2g
    intensity = check_intensity(intensity)  # the panel's and a2g.generate()'s value
    sync = check_sync(DEFAULT_SYNC if sync is None else sync)
    body = rig.body_rig(obj)
    path = Path(model_path) if model_path is not None else model.chosen_path(context)
    loaded = model.load(path)
    speaker = check_speaker(loaded.metadata, speaker)  # recorded as checked: the recipe names it
    heard = heard if heard is not None else audio_source.gather(scene, settings)
    fps = audio_source.scene_fps(scene)
    body = rig_for_model(obj, loaded, body)
    pinned = tuple(pins.read_pins(obj, body, pins.timeline_for(heard, fps)))
    library = style.scene_library(context, obj, loaded) if hasattr(scene, "a2g_style") else None
    if library is not None:
        speaker = None  # a style library replaces the speakers' libraries: it is the style
    return Job(obj.name, body, heard, loaded, path, int(seed), fps, pins=pinned,
               audio=takes.audio_recipe(scene, settings, heard), count=max(1, int(count)),
               intensity=intensity, style=library, speaker=speaker, sync=sync)


# ---- the generation chain, shared by Generate, Takes, Resample Range and the batch command ----
def rig_for_model(obj, network, body=None):
    """``obj`` as a target for ``network``'s motion: its joint set (core.skeleton.BODY, or
    BODY_HANDS for a model with hands: the finger bones get keys too). ``body``: the rig as
    inspected already for the body (validation first), reused when the sets agree."""
    from ..core.skeleton import joint_set
    from ..rigio import rig

    joints = joint_set(getattr(getattr(network, "config", None), "n_joints", 22))
    if body is not None and body.model_joints == len(joints):
        return body
    return rig.body_rig(obj, joints)


def stepper(progress=None, cancelled=None):
    """``step(fraction)`` for a computation's stages: raises :class:`Cancelled` when
    ``cancelled()`` says so, else reports ``progress(fraction)``. ``step.check()`` only
    raises (``core.generate``'s ``check_cancel``, between its own stages)."""

    def check():
        if cancelled is not None and cancelled():
            raise Cancelled()

    def step(fraction):
        check()
        if progress is not None:
            progress(fraction)

    step.check = check
    return step


def take_keys(network, features, rig, first: int, end: int, fps: float, seed: int, **generate_kw):
    """One take: ``core.generate`` (``generate_kw``: pins, resamples, intensity, check_cancel,
    ...) and the rig's keys at scene frames ``first .. end - 1`` (core.rig_keys.to_keys). Returns
    ``(model local rotations (T, J, 3, 3), keys (end - first, K, 4))``."""
    from ..core.generate import generate
    from ..core.rig_keys import to_keys

    local = generate(network, features, seed, **generate_kw)
    return local, to_keys(rig.key_target, local, first, end, fps)


def compute(job: Job, progress=None, cancelled=None) -> Result:
    """Run the model for ``job``; pure numpy. ``progress(fraction)`` is called between stages
    and takes, ``cancelled()`` polled there too and inside ``core.generate`` (raises
    :class:`Cancelled`)."""
    from ..core.features import n_motion_frames
    from ..core.network import SPLIT_FRAMES
    from ..core.parallel import one_blas_thread

    step = stepper(progress, cancelled)
    # long takes (as generate counts them: model frames) split their work over the cores
    # themselves (core/parallel.py)
    with one_blas_thread(n_motion_frames(job.heard.samples.shape[0]) >= SPLIT_FRAMES):
        return _compute(job, step)


def _compute(job: Job, step) -> Result:
    from ..core.features import features_for_motion
    from ..core.style import styled

    heard = job.heard
    step(0.05)
    features = features_for_motion(heard.samples)
    step(0.25)
    takes, first = [], None
    network = styled(job.network, job.style)  # the bundled network itself without a style
    for i in range(job.count):
        local, keys = take_keys(network, features, job.rig, heard.first, heard.end, job.fps,
                                job.seed + i, pins=job.pins, resamples=job.resamples,
                                intensity=job.intensity, prior="retrieval" if job.style else None,
                                speaker=None if job.style else job.speaker, sync=job.sync,
                                check_cancel=step.check)
        first = local if first is None else first
        takes.append(keys)
        step(0.25 + 0.7 * (i + 1) / job.count)
    frames = np.arange(heard.first, heard.end, dtype=np.float64)
    return Result(job, frames, takes[0], tuple(takes[1:]), first)


def apply(result: Result, kept: list | None = None):
    """Write the result into a new generated action on the armature; returns the action.

    Several takes become one action each, kept on muted NLA tracks, the first one active.
    The user's own action keeps playing underneath (see :mod:`.actions`); the previous
    takes are replaced, except those edited by hand since: they are kept, renamed
    "... (edited)", and their names appended to ``kept`` for the report (see :mod:`.takes`).
    """
    import bpy

    from . import takes

    job = result.job
    obj = bpy.data.objects.get(job.armature)
    if obj is None:
        raise UserError(f"The armature '{job.armature}' no longer exists: generate again")
    if job.style is not None:  # kept with the .blend: its takes replay without the clips
        from . import style

        style.store(job.style)
    kept = [] if kept is None else kept
    for name in job.rig.non_quaternion:
        obj.pose.bones[name].rotation_mode = "QUATERNION"
    takes.remove_takes(obj, kept)
    if not result.takes:
        return _write_action(obj, job, job.seed, result.frames, result.quats,
                             f"{job.heard.name} gestures", 0, kept, result.settled)
    made = []
    for i, quats in enumerate((result.quats, *result.takes)):
        action = _write_action(obj, job, job.seed + i, result.frames, quats,
                               f"{job.heard.name} take {i + 1}", i + 1, kept, result.settled)
        takes.keep_take(obj, action, i + 1)
        made.append(action)
    takes.use_take(obj, made[0])
    return made[0]


def _write_action(obj, job: Job, seed: int, frames, quats, name: str, take: int, kept: list,
                  settled: bool = False):
    from ..rigio import actions, keying
    from . import takes

    metadata = {
        "a2g_seed": seed,
        "a2g_audio": job.heard.description,
        "a2g_model": job.model_path.name,
        "a2g_frames": [job.heard.first, job.heard.end],
        takes.RECIPE: takes.recipe_for(job, seed, take).to_json(),
    }
    action = actions.replace_action(obj, name, metadata, kept,
                                    cover=(job.heard.first, job.heard.end - 1))
    # the keys as written are the action's whole content unless a Rigify or constrained rig
    # adds or changes keys below: then the fingerprint reads them back
    written = [] if job.rig.controls is None and not job.rig.constrained else None
    keying.write_rig_keys(obj, action, job.rig, frames, quats, written, settle=not settled)
    actions.seal(obj, action, written)
    return action


def run(context, obj, seed: int, settings=None, count: int = 1, intensity: float = 1.0, speaker=None,
        sync: float | None = None):
    """prepare + compute + apply, synchronously (headless, scripts, tests)."""
    job = prepare(context, obj, seed, settings, count, intensity, speaker=speaker, sync=sync)
    return apply(compute(job))
