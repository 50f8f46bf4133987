# SPDX-License-Identifier: GPL-3.0-or-later
"""Headless batch generation: speech files in, animated SMPL-X scenes (and exports) out.

One entry point, :func:`main`, reached three ways:

- ``blender -c audio2gestures generate speech.wav ...`` (the command registered by
  :func:`register`, Blender 4.2+);
- ``blender -b scene.blend -P tools/a2g_batch.py -- generate speech.wav ...`` (the script
  finds this installed extension and uses the loaded file as the base scene);
- plain Python with the ``bpy`` module: ``batch.main(["generate", ...])`` (``make demo``,
  tests).

Generation goes through the extension's own pipeline (:mod:`.pipeline` compute + apply, the
code behind the Generate Gestures button, with the armature's pins read by :mod:`.pins` as
Resample reads them), so batch and UI results are the same for the same audio, seed, pins and
model. ``--pin`` imports the clip (:mod:`.npz_import`) and pins it on the 'A2G Pins' NLA
track, as Import SMPL-X Motion + Pin Action Here do, so the saved file shows the pins.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .core.errors import UserError, message_for

COMMAND = "audio2gestures"
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff")
DEFAULT_FPS = 30  # new scenes run at the model's own rate (no resampling)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

USAGE_EXAMPLES = """\
examples:
  blender -c audio2gestures generate talk.wav --output-dir out --npz --fbx
  blender -c audio2gestures generate speeches/ --variants 3 --seed 10 --output-dir out
  blender -b stage.blend -P tools/a2g_batch.py -- generate talk.mp3 --output-dir out
  python tools/a2g_batch.py generate talk.flac --pin wave.npz@45 --output-dir out

Per input (and variant) it writes <stem>.blend (the character, the keyed action and the
sound strip) and, when asked, <stem>.npz (AMASS/BEAT2 SMPL-X), <stem>.bvh, <stem>.fbx,
<stem>_preview.png and <stem>_preview.mp4. With --variants N > 1 the stem is
<stem>_seed<SEED>. Existing outputs are never replaced without --overwrite. A file that fails
is reported and skipped; the exit code is then 1 (2 for bad arguments).
"""


@dataclasses.dataclass(frozen=True)
class Item:
    """One output set: an audio file generated with one seed."""

    audio: Path
    stem: str
    seed: int
    outputs: dict  # kind -> Path, kinds: blend, npz, bvh, fbx, preview_png, preview_mp4


@dataclasses.dataclass(frozen=True)
class PinSpec:
    """``--pin clip.npz@FRAME`` (a scene frame) or ``clip.npz@SECONDSs`` (from the audio's start)."""

    source: str  # as given, for messages
    path: Path
    frame: int | None
    seconds: float | None

    def scene_frame(self, first: int, fps: float) -> int:
        return self.frame if self.frame is not None else first + round(self.seconds * fps)


# ---- arguments ---------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UserError(f"{self.prog}: {message}\n(see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=COMMAND,
        description="Audio2Gestures for Blender: generate co-speech gestures headless.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=USAGE_EXAMPLES,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    gen = sub.add_parser(
        "generate",
        help="generate gestures for audio files",
        description="Generate gestures for speech audio and save each result as a .blend "
        "(plus optional exports).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=USAGE_EXAMPLES,
    )
    gen.add_argument("inputs", nargs="+", metavar="AUDIO",
                     help="audio files (WAV, FLAC, OGG, MP3, ...; any rate, mono or stereo) or "
                     f"folders (their {', '.join(AUDIO_EXTENSIONS)} files, not recursive)")
    gen.add_argument("--output-dir", type=Path, default=Path("."),
                     help="where outputs go (created if missing; default: current folder)")
    gen.add_argument("--name", help="output stem for a single input (default: the audio file's stem)")
    gen.add_argument("--seed", type=int, default=0, help="random seed, >= 0 (default 0)")
    gen.add_argument("--intensity", type=float, default=1.0, metavar="X",
                     help="how large and lively the gestures are, in (0, 3]: 1 as the model "
                     "samples them (default), 0.5 calmer, 1.5 livelier")
    gen.add_argument("--variants", type=int, default=1, metavar="N",
                     help="N results per input, seeds SEED .. SEED+N-1 (default 1)")
    gen.add_argument("--pin", action="append", default=[], metavar="CLIP.npz@FRAME",
                     help="make the motion from scene frame FRAME (or @SECONDSs after the start of "
                     "the audio, e.g. @2.5s) follow an SMPL-X clip: it is imported and pinned "
                     "on the armature's 'A2G Pins' NLA track, trimmed to the audio; repeatable")
    gen.add_argument("--fps", type=float,
                     help=f"scene frame rate (e.g. 24, 25, 29.97; default: the base scene's, "
                     f"{DEFAULT_FPS} for a new scene)")
    gen.add_argument("--blend", type=Path,
                     help="base .blend to add the result to (its SMPL-X armature is animated; a "
                     "character is added if it has none); default: a new empty scene")
    gen.add_argument("--armature", metavar="NAME",
                     help="the armature of the --blend scene to animate (any humanoid rig: "
                     "SMPL-X, Mixamo, Rigify, Unreal mannequin, VRoid, Character Creator, ...); "
                     "default: the scene's Target, else the first armature that is a humanoid")
    gen.add_argument("--bone-map", type=Path, metavar="PRESET.json",
                     help="bone-map preset (saved from the Bone Map panel) for a rig whose bone "
                     "names are not recognised")
    gen.add_argument("--model", type=Path,
                     help="model description (.json beside its .npz); default: the add-on's "
                     "preference, else the bundled model")
    gen.add_argument("--overwrite", action="store_true", help="replace existing output files")
    gen.add_argument("--npz", action="store_true", help="also write an AMASS/BEAT2-style SMPL-X .npz")
    gen.add_argument("--bvh", action="store_true", help="also export the armature's motion as .bvh")
    gen.add_argument("--fbx", action="store_true",
                     help="also export the character (armature + mesh) with its animation as .fbx")
    gen.add_argument("--preview", action="store_true",
                     help="also render a preview (Cycles, CPU), framed on the upper body: a strip "
                     "of stills (.png) and a video with the speech (.mp4)")
    gen.add_argument("--preview-size", default="640x360", metavar="WxH",
                     help="size of the preview in pixels, e.g. 1280x720 (default 640x360)")
    return parser


def parse_args(argv):
    """Parsed arguments; raises ``UserError`` (or SystemExit(0) for --help)."""
    args = build_parser().parse_args(list(argv))
    if args.command is None:
        raise UserError(f"{COMMAND}: a command is needed: generate\n(see {COMMAND} --help)")
    if args.seed < 0:
        raise UserError(f"--seed must be >= 0, got {args.seed}")
    if args.variants < 1:
        raise UserError(f"--variants must be >= 1, got {args.variants}")
    from .core.generate import MAX_INTENSITY

    if not (math.isfinite(args.intensity) and 0 < args.intensity <= MAX_INTENSITY):
        raise UserError(f"--intensity must be above 0 and at most {MAX_INTENSITY:g} (1: as the "
                        f"model samples, 0.5: calmer, 1.5: livelier), got {args.intensity:g}")
    if args.fps is not None and not (math.isfinite(args.fps) and 0 < args.fps <= 1000):
        raise UserError(f"--fps must be a positive frame rate, got {args.fps:g}")
    if args.name is not None:
        if len(args.inputs) != 1 or Path(args.inputs[0]).is_dir():
            raise UserError("--name needs exactly one input file")
        if not args.name.strip() or os.sep in args.name or (os.altsep and os.altsep in args.name):
            raise UserError(f"--name must be a plain file stem, got {args.name!r}")
    from .preview import parse_size

    try:
        args.preview_size = parse_size(args.preview_size)
    except ValueError as exc:
        raise UserError(f"--preview-size {exc}") from None
    if args.blend is not None and not args.blend.is_file():
        raise UserError(f"--blend: {args.blend}: file not found")
    if args.armature is not None and args.blend is None:
        raise UserError("--armature names an armature of the --blend scene: give --blend too")
    if args.bone_map is not None:
        from .core.bone_map import read_preset

        if args.armature is None:
            raise UserError("--bone-map maps the bones of the --armature: give --blend and "
                            "--armature too")
        try:
            args.bone_map_preset = read_preset(args.bone_map)
        except UserError as exc:  # the message gains which option it is about
            raise UserError(f"--bone-map: {exc}") from None
    else:
        args.bone_map_preset = None
    return args


# ---- inputs and outputs ------------------------------------------------------------------------
def collect_inputs(paths) -> list[tuple[Path, str | None]]:
    """``(audio path, problem or None)`` per input, folders expanded (sorted)."""
    out: list[tuple[Path, str | None]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS)
            if not found:
                out.append((p, f"folder has no audio files ({', '.join(AUDIO_EXTENSIONS)})"))
            out.extend((f, None) for f in found)
        elif p.is_file():
            out.append((p, None))
        else:
            out.append((p, "file not found"))
    return out


def output_paths(out_dir: Path, stem: str, args) -> dict:
    paths = {"blend": out_dir / f"{stem}.blend"}
    for kind in ("npz", "bvh", "fbx"):
        if getattr(args, kind):
            paths[kind] = out_dir / f"{stem}.{kind}"
    if args.preview:
        paths["preview_png"] = out_dir / f"{stem}_preview.png"
        paths["preview_mp4"] = out_dir / f"{stem}_preview.mp4"
    return paths


def plan(inputs, args) -> list[tuple[Item | None, Path, str | None]]:
    """``(item, audio, problem)`` for every input and variant, in order."""
    out_dir = args.output_dir
    seeds = [args.seed + v for v in range(args.variants)]
    claimed: dict[Path, Path] = {}
    planned = []
    for audio, problem in inputs:
        if problem is not None:
            planned.append((None, audio, problem))
            continue
        base = args.name or audio.stem
        for seed in seeds:
            stem = base if len(seeds) == 1 else f"{base}_seed{seed}"
            outputs = output_paths(out_dir, stem, args)
            clash = next((claimed[p] for p in outputs.values() if p in claimed), None)
            if clash is not None:
                planned.append((None, audio, f"its outputs ({stem}.*) would replace those of "
                                             f"{clash.name} from this same run: rename one of them"))
                continue
            for p in outputs.values():
                claimed[p] = audio
            planned.append((Item(audio, stem, seed, outputs), audio, None))
    return planned


# ---- pins --------------------------------------------------------------------------------------
def parse_pin(spec: str) -> PinSpec:
    """``clip.npz@FRAME`` or ``clip.npz@SECONDSs`` -> :class:`PinSpec` (the clip is read once
    to check it); raises ``UserError``."""
    from .core.smplx_npz import read_smplx_npz

    path, sep, where = spec.rpartition("@")
    if not sep or not path or not where:
        raise UserError(f"--pin {spec!r}: expected CLIP.npz@FRAME (e.g. wave.npz@45 or wave.npz@1.5s)")
    frame = seconds = None
    try:
        if where.lower().endswith("s"):
            seconds = float(where[:-1])
            if not (math.isfinite(seconds) and seconds >= 0):
                raise ValueError
        else:
            frame = int(where)
    except ValueError:
        raise UserError(f"--pin {spec!r}: {where!r} is not a frame number (or seconds >= 0 like "
                         "1.5s)") from None
    try:
        read_smplx_npz(path)
    except UserError as exc:  # the message gains which --pin it is about
        raise UserError(f"--pin {spec!r}: {exc}") from None
    return PinSpec(spec, Path(path), frame, seconds)


def add_pins(context, obj, specs, first: int, last: int) -> None:
    """Import each pin clip as an action and pin it on ``obj`` (trimmed to frames
    ``first .. last``), as Import SMPL-X Motion + Pin Action Here do in the UI."""
    from .npz_import import import_npz
    from .pins import add_pin

    scene = context.scene
    fps = scene.render.fps / scene.render.fps_base
    for spec in specs:
        frame = spec.scene_frame(first, fps)
        if not first <= frame <= last:
            raise UserError(f"--pin {spec.source}: frame {frame} lies outside the audio "
                             f"(frames {first}-{last})")
        anim = obj.animation_data
        previous, frame_end = (anim.action if anim else None), scene.frame_end
        if anim is not None:
            anim.action = None  # the import must neither stash nor replace the armature's action
        try:
            action, _ = import_npz(context, obj, str(spec.path))
        except UserError as exc:  # the message gains which --pin it is about
            raise UserError(f"--pin {spec.source}: {exc}") from None
        finally:
            if obj.animation_data is not None:
                obj.animation_data.action = previous
            scene.frame_end = frame_end
        a0, a1 = (float(v) for v in action.frame_range)
        a1 = min(a1, a0 + (last - frame))  # trimmed to the audio
        if a1 <= a0:
            raise UserError(f"--pin {spec.source}: at frame {frame} it covers no frame of the "
                             f"audio (frames {first}-{last})")
        try:
            add_pin(obj, action, frame, a0, a1)
        except UserError as exc:
            raise UserError(f"--pin {spec.source}: {exc}") from None


# ---- scene -------------------------------------------------------------------------------------
def load_scene(blend: Path | None) -> None:
    import bpy

    if blend is not None:
        bpy.ops.wm.open_mainfile(filepath=str(blend.resolve()), load_ui=False)
    else:
        bpy.ops.wm.read_homefile(use_factory_startup=True, use_empty=True)
        bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = DEFAULT_FPS, 1.0


def set_fps(scene, fps: float) -> None:
    whole = max(1, round(fps))
    scene.render.fps = whole
    scene.render.fps_base = whole / fps


def find_or_add_character(context, armature: str | None = None, bone_map=None):
    """The armature to animate: ``armature`` by name (with the ``bone_map`` preset applied,
    when given), else the scene's Target, else the active or first humanoid armature, else a
    new SMPL-X character at the 3D cursor."""
    from . import rig
    from .character import add_character
    from .pipeline import target_armature

    if armature is not None:
        obj = context.scene.objects.get(armature)
        if obj is None:
            found = ", ".join(f"'{o.name}'" for o in context.scene.objects if o.type == "ARMATURE")
            raise UserError(f"--armature: the base scene has no object named '{armature}' "
                             f"(its armatures: {found or 'none'})")
        if obj.type != "ARMATURE":
            raise UserError(f"--armature: '{armature}' is a {obj.type.lower()}, not an armature")
        if bone_map is not None:
            from .core.bone_map import check

            try:
                check(bone_map, [b.name for b in obj.data.bones], obj.name)
            except UserError as exc:  # the message gains which option it is about
                raise UserError(f"--bone-map: {exc}") from None
            rig.store_map(obj, bone_map)
        try:
            rig.body_rig(obj)
        except UserError as exc:
            raise UserError(f"--armature: {exc}") from None
        return obj
    target = context.scene.a2g.target
    if target is not None:
        try:
            rig.body_rig(target)
        except UserError as exc:  # the message gains where the armature came from
            raise UserError(f"the base scene's Target: {exc}") from None
        return target
    candidates = [target_armature(context)] + [o for o in context.scene.objects if o.type == "ARMATURE"]
    for obj in candidates:
        if obj is not None and obj.type == "ARMATURE":
            try:
                rig.body_rig(obj)
            except UserError:  # not a rig gestures can go on: try the next
                continue
            return obj
    return add_character(context)[0]


def add_sound_strip(scene, path: Path, frame: int):
    """A sound strip playing ``path`` from ``frame`` on a free channel; None where this Blender
    cannot add sound (the 4.2 bpy wheels have no audio support)."""
    from . import compat

    strips = compat.sequencer_strips(scene, create=True)
    channel = 1 + max((s.channel for s in compat.all_sequencer_strips(scene)), default=0)
    try:
        return strips.new_sound(path.stem, str(path.resolve()), channel, int(frame))
    except RuntimeError:
        return None


# ---- generation (the extension's own pipeline) -------------------------------------------------
def make_job(scene, obj, heard, net, model_path: Path, seed: int, intensity: float = 1.0):
    """The pipeline's Job for ``heard`` on ``obj``, with the armature's pins (its 'A2G Pins'
    NLA track, as Generate and Resample read them)."""
    from . import audio_source, pins, pipeline, rig
    from .core.directing import Timeline
    from .core.features import n_motion_frames

    body = rig.body_rig(obj, getattr(getattr(net, "config", None), "n_joints", 22))
    fps = audio_source.scene_fps(scene)
    timeline = Timeline(heard.first, heard.end, fps, n_motion_frames(len(heard.samples)))
    pinned = tuple(pins.read_pins(obj, body, timeline))
    return pipeline.Job(obj.name, body, heard, net, Path(model_path), int(seed), fps, pins=pinned,
                        intensity=float(intensity))


def export_bvh(context, obj, path: Path, first: int, last: int) -> None:
    import bpy

    with context.temp_override(object=obj, active_object=obj, selected_objects=[obj]):
        result = bpy.ops.export_anim.bvh(filepath=str(path), check_existing=False, frame_start=first,
                                         frame_end=last, rotate_mode="NATIVE", root_transform_only=True)
    if result != {"FINISHED"}:
        raise RuntimeError(f"BVH export failed ({result})")


def export_fbx(context, obj, path: Path) -> None:
    import bpy

    objects = [obj] + [c for c in obj.children if c.type == "MESH"]
    for o in context.view_layer.objects:
        o.select_set(o in objects)
    context.view_layer.objects.active = obj
    with context.temp_override(active_object=obj, selected_objects=objects):
        result = bpy.ops.export_scene.fbx(
            filepath=str(path), check_existing=False, use_selection=True,
            object_types={"ARMATURE", "MESH"}, add_leaf_bones=False, bake_anim=True,
            bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False,
            bake_anim_force_startend_keying=True,
        )
    if result != {"FINISHED"}:
        raise RuntimeError(f"FBX export failed ({result})")


def render_preview(scene, obj, targets: dict, first: int, last: int, size=None) -> None:
    """Stills strip and video; the video's sound is the scene's sound strip (none where
    this Blender has no audio support)."""
    from . import preview

    with tempfile.TemporaryDirectory(prefix="a2g-preview-") as tmp:
        written = preview.render_preview(scene, obj, tmp, video=True, video_range=(first, last),
                                         prefix="preview", resolution=size or preview.DEFAULT_SIZE)
        if not written.get("strip") or not written.get("video"):
            raise RuntimeError("the preview render wrote no images")
        shutil.move(written["strip"], targets["preview_png"])
        shutil.move(written["video"], targets["preview_mp4"])


@dataclasses.dataclass
class Generated:
    """What one item put into the open scene."""

    obj: object  # the armature
    job: object  # pipeline.Job
    result: object  # pipeline.Result
    first: int
    last: int
    has_strip: bool


def check_outputs(item: Item, args) -> None:
    """All of an item's outputs are checked before any is written (or generated)."""
    from .output_set import OutputSet

    existing = [p for p in item.outputs.values() if p.exists()]
    if existing and not args.overwrite:
        names = ", ".join(p.name for p in existing)
        raise UserError(f"{names} already exist{'s' if len(existing) == 1 else ''} in "
                         f"{args.output_dir}: use --overwrite to replace")
    blockers = OutputSet(item.outputs).blockers()
    if blockers:
        raise UserError(f"{'; '.join(blockers)} (in {args.output_dir}); nothing was written "
                         "for this input")


def generate_in_scene(item: Item, args, net, model_path: Path, pin_specs=()) -> Generated:
    """Load the base scene, find or add the character, generate and key the gestures, add the
    sound strip. Writes no file."""
    import bpy

    from . import audio_source, pipeline

    load_scene(args.blend)
    context = bpy.context
    scene = context.scene
    if args.fps is not None:
        set_fps(scene, args.fps)
    obj = find_or_add_character(context, args.armature, args.bone_map_preset)
    heard = audio_source.from_file(scene, str(item.audio.resolve()))
    add_pins(context, obj, pin_specs, heard.first, heard.end - 1)
    job = make_job(scene, obj, heard, net, model_path, item.seed, args.intensity)
    result = pipeline.compute(job)
    pipeline.apply(result)
    first, last = heard.first, heard.end - 1
    settings = scene.a2g  # so Generate in the saved file reproduces this result
    settings.audio_source, settings.audio_file, settings.seed = "FILE", str(item.audio.resolve()), item.seed
    settings.intensity = args.intensity
    strip = add_sound_strip(scene, item.audio, first)
    scene.frame_start = first
    scene.frame_end = max(scene.frame_end, last) if args.blend is not None else last
    scene.frame_current = first
    return Generated(obj, job, result, first, last, strip is not None)


def write_outputs(item: Item, args, gen: Generated) -> None:
    """The .blend, then the asked-for exports, each under a temporary name in the output
    folder; only when all of them are written do they replace the old outputs (see
    :mod:`.output_set`). On any failure the old outputs stay exactly as they were."""
    import bpy

    from .npz_import import write_motion_npz
    from .output_set import OutputSet

    context, scene = bpy.context, bpy.context.scene
    args.output_dir.mkdir(parents=True, exist_ok=True)
    out = OutputSet(item.outputs)
    try:
        bpy.ops.wm.save_as_mainfile(filepath=str(out["blend"].resolve()), check_existing=False)
        if "npz" in out:
            write_motion_npz(out["npz"], gen.obj, gen.job.rig, gen.result.quats, gen.job.fps,
                             gen.result.local)
        if "bvh" in out:
            export_bvh(context, gen.obj, out["bvh"], gen.first, gen.last)
        if "fbx" in out:
            export_fbx(context, gen.obj, out["fbx"])
        if "preview_png" in out:
            render_preview(scene, gen.obj, {k: out[k] for k in ("preview_png", "preview_mp4")},
                           gen.first, gen.last, args.preview_size)
    except BaseException:
        out.discard()
        raise
    out.commit()


def process(item: Item, args, net, model_path: Path, pin_specs=()) -> str:
    """Generate and write one item; returns a summary. Raises (UserError for bad input) with
    nothing left written."""
    from .core.features import SAMPLE_RATE

    check_outputs(item, args)
    gen = generate_in_scene(item, args, net, model_path, pin_specs)
    write_outputs(item, args, gen)
    seconds = len(gen.job.heard.samples) / SAMPLE_RATE
    return (f"{seconds:.1f} s of speech, frames {gen.first}-{gen.last} at {gen.job.fps:g} fps, "
            f"seed {item.seed}"
            + ("" if gen.has_strip else " (no sound strip: this Blender has no audio support)"))


# ---- driver ------------------------------------------------------------------------------------
def _load_model(path: Path | None):
    import bpy

    from . import model

    if path is None:
        path = model.model_path(bpy.context)
        if path is None:
            raise UserError("no gesture model: none is bundled with this build and none is set in "
                             "the add-on preferences; pass --model path/to/model.json")
    return model.load(path), Path(path)


def _rel(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def generate(args, out=None, err=None) -> int:
    """Process every input of parsed ``args``; progress on ``out``, failures on ``err``."""
    out = out or sys.stdout
    err = err or sys.stderr
    from .output_set import folder_problem

    problem = folder_problem(args.output_dir)  # once, before any work
    if problem is not None:
        raise UserError(problem)
    net, model_path = _load_model(args.model)
    pin_specs = [parse_pin(spec) for spec in args.pin]
    planned = plan(collect_inputs(args.inputs), args)
    total = len(planned)
    failed: list[str] = []
    done = 0
    start_all = time.perf_counter()
    for k, (item, audio, problem) in enumerate(planned, 1):
        label = audio.name + (f" (seed {item.seed})" if item is not None and args.variants > 1 else "")
        start = time.perf_counter()
        try:
            if problem is not None:
                raise UserError(problem)
            summary = process(item, args, net, model_path, pin_specs)
        except Exception as exc:  # bad input, or an exporter or Blender error: report it, go on
            failed.append(label)
            print(f"[{k}/{total}] {label}: FAILED: {message_for(exc)}", file=err, flush=True)
            continue
        done += 1
        files = ", ".join(_rel(p) for p in item.outputs.values())
        print(f"[{k}/{total}] {label} -> {files} ({summary}; {time.perf_counter() - start:.1f} s)",
              file=out, flush=True)
    took = time.perf_counter() - start_all
    if failed:
        print(f"{COMMAND}: {done} of {total} done, {len(failed)} failed ({', '.join(failed)}) "
              f"in {took:.1f} s", file=out, flush=True)
        return EXIT_FAILED
    print(f"{COMMAND}: {done} of {total} done in {took:.1f} s", file=out, flush=True)
    return EXIT_OK


def main(argv=None) -> int:
    """Run the batch command line ``argv`` (without the program name); returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parse_args(argv)
        return generate(args)
    except SystemExit as exc:  # --help
        return int(exc.code or 0) if isinstance(exc.code, int | None) else EXIT_USAGE
    except UserError as exc:  # bad arguments, model or pin clips: nothing was processed
        print(message_for(exc), file=sys.stderr, flush=True)
        return EXIT_USAGE


# ---- `blender -c audio2gestures ...` ----------------------------------------------------------
_cli_handle = None


def execute(argv) -> int:
    """The registered command line handler: ``argv`` are the arguments after the command id."""
    try:
        return main(argv)
    except Exception:  # never let a traceback replace the exit code
        import traceback

        traceback.print_exc()
        return EXIT_FAILED


def register():

    from . import compat

    global _cli_handle
    _cli_handle = compat.register_cli_command(COMMAND, execute)


def unregister():
    import bpy

    global _cli_handle
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
