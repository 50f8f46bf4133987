# SPDX-License-Identifier: GPL-3.0-or-later
"""Headless batch generation: speech files in, animated SMPL-X scenes (and exports) out.

One entry point, :func:`main`, reached three ways:

- ``blender -c audio2gestures generate speech.wav ...`` (the command registered by
  :func:`register`, Blender 4.2+);
- ``blender -b scene.blend -P tools/a2g_batch.py -- generate speech.wav ...`` (the script
  finds this installed extension and uses the loaded file as the base scene);
- plain Python with the ``bpy`` module: ``batch.main(["generate", ...])`` (``make demo``,
  tests).

The arguments and the plan are :mod:`.batch_plan`'s (no bpy), the scenes and exports
:mod:`.batch_scene`'s. Jobs are built by ``pipeline.prepare``, the code behind the Generate
Gestures button (the armature's pins read by :mod:`.pins` as Resample reads them), so batch and
UI results are the same for the same audio, seed, pins and model. ``--pin`` imports the clip
(:mod:`.npz_import`) and pins it on the 'A2G Pins' NLA track, as Import SMPL-X Motion + Pin
Action Here do, so the saved file shows the pins.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ..core.errors import UserError, message_for
from .batch_plan import (
    COMMAND,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Item,
    check_outputs,
    collect_inputs,
    parse_args,
    parse_pin,
    plan,
)
from .batch_scene import generate_in_scene, write_outputs


def process(item: Item, args, model_path: Path, pin_specs=()) -> tuple[str, str]:
    """Generate and write one item; returns a summary and notes for the user ("" or sentences:
    the base scene's edited takes that were kept, in the words of Generate's report). Raises
    (UserError for bad input) with nothing left written."""
    from ..core.features import SAMPLE_RATE
    from ..rigio.actions import kept_message

    check_outputs(item, args)
    gen = generate_in_scene(item, args, model_path, pin_specs)
    write_outputs(item, args, gen)
    seconds = len(gen.job.heard.samples) / SAMPLE_RATE
    summary = (f"{seconds:.1f} s of speech, frames {gen.first}-{gen.last} at {gen.job.fps:g} fps, "
               f"seed {item.seed}"
               + (f", {gen.job.style.describe()}" if getattr(gen.job, "style", None) is not None else "")
               + ("" if gen.has_strip else " (no sound strip: this Blender has no audio support)"))
    return summary, kept_message(gen.kept)


# ---- driver ------------------------------------------------------------------------------------
def _load_model(path: Path | None, speaker: str | None = None) -> Path:
    """The model file to use (loaded once here, so a bad one, or a ``--speaker`` it does not
    know, stops the run before any work)."""
    import bpy

    from ..jobs import model

    if path is None:
        path = model.model_path(bpy.context)
        if path is None:
            raise UserError("no gesture model: none is bundled with this build and none is set in "
                             "the add-on preferences; pass --model path/to/model.json")
    from ..core.speakers import check_speaker

    loaded = model.load(path)
    try:
        check_speaker(loaded.metadata, speaker)
    except UserError as exc:
        raise UserError(f"--speaker: {exc}") from None
    return Path(path)


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
    model_path = _load_model(args.model, args.speaker)
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
            summary, notes = process(item, args, model_path, pin_specs)
        except Exception as exc:  # bad input, or an exporter or Blender error: report it, go on
            failed.append(label)
            print(f"[{k}/{total}] {label}: FAILED: {message_for(exc)}", file=err, flush=True)
            continue
        done += 1
        files = ", ".join(_rel(p) for p in item.outputs.values())
        print(f"[{k}/{total}] {label} -> {files} ({summary}; {time.perf_counter() - start:.1f} s)"
              + (f" {notes}" if notes else ""), file=out, flush=True)
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
    from .. import compat

    global _cli_handle
    _cli_handle = compat.register_cli_command(COMMAND, execute)


def unregister():
    from .. import compat

    global _cli_handle
    if _cli_handle is not None:
        compat.unregister_cli_command(_cli_handle)
        _cli_handle = None
