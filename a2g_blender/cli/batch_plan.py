# SPDX-License-Identifier: GPL-3.0-or-later
"""The batch command's arguments and plan, without bpy: what to make, from which audio, where.

:func:`parse_args` checks the command line (a ``UserError`` names the bad option);
:func:`plan` turns the inputs into output sets (:class:`Item`), one per audio file and seed,
refusing outputs that would replace each other; :func:`check_outputs` refuses an item whose
files exist (without ``--overwrite``) or cannot be replaced. :mod:`.batch_scene` builds and
exports the scenes, :mod:`.batch` drives both.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from pathlib import Path

from ..core.errors import UserError
from ..core.features import FPS

COMMAND = "audio2gestures"
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff")
DEFAULT_FPS = FPS  # new scenes run at the model's own rate (no resampling)

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
    gen.add_argument("--sync", type=float, default=1.0, metavar="X",
                     help="how far the gestures' beats are moved onto the speech's onsets, in [0, 3]: "
                     "0 the motion's own timing, 1 (default) up to a third of a second")
    gen.add_argument("--style", nargs="+", default=[], metavar="CLIP",
                     help="draw the gestures' mannerisms from these clips instead of the bundled "
                     "style: SMPL-X .npz or BVH files (a WAV of the same stem beside one is its "
                     "speech), "
                     "or with --blend names of its actions (on any humanoid rig)")
    gen.add_argument("--speaker", metavar="NAME",
                     help="gesture in the style of this speaker of a model trained on several "
                     "(e.g. BEAT2's 2 for scott); default: the speaker the model recommends")
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
    from ..core.generate import check_intensity, check_sync

    args.intensity = check_intensity(args.intensity, "--intensity")
    args.sync = check_sync(args.sync, "--sync")
    for spec in args.style:
        low = spec.lower()
        if low.endswith((".npz", ".bvh")):
            if not Path(spec).is_file():
                raise UserError(f"--style {spec!r}: file not found")
        elif args.blend is None:
            raise UserError(f"--style {spec!r} is not an .npz or .bvh file; an action's name needs --blend "
                            "(the file that holds the action)")
    if args.fps is not None and not (math.isfinite(args.fps) and 0 < args.fps <= 1000):
        raise UserError(f"--fps must be a positive frame rate, got {args.fps:g}")
    if args.name is not None:
        if len(args.inputs) != 1 or Path(args.inputs[0]).is_dir():
            raise UserError("--name needs exactly one input file")
        if not args.name.strip() or os.sep in args.name or (os.altsep and os.altsep in args.name):
            raise UserError(f"--name must be a plain file stem, got {args.name!r}")
    from ..jobs.preview import parse_size

    args.preview_size = parse_size(args.preview_size, "--preview-size")
    if args.blend is not None and not args.blend.is_file():
        raise UserError(f"--blend: {args.blend}: file not found")
    if args.armature is not None and args.blend is None:
        raise UserError("--armature names an armature of the --blend scene: give --blend too")
    if args.bone_map is not None:
        from ..core.bone_map import read_preset

        if args.armature is None:
            raise UserError("--bone-map maps the bones of the --armature: give --blend and "
                            "--armature too")
        args.bone_map_preset = read_preset(args.bone_map, "--bone-map")
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
    from ..core.smplx_npz import read_smplx_npz

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
    read_smplx_npz(path, name=f"--pin {spec!r}: {path}")  # checked once, here
    return PinSpec(spec, Path(path), frame, seconds)


# ---- outputs -----------------------------------------------------------------------------------
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
