# SPDX-License-Identifier: GPL-3.0-or-later
"""The batch command's scenes: one per output set, assembled in Blender and exported.

:func:`generate_in_scene` loads the base scene, finds or adds the character, pins the
``--pin`` clips, generates through the extension's own pipeline (``pipeline.prepare``, the
Generate button's, then ``compute`` + ``apply``) and adds the sound strip; :func:`write_outputs`
writes the .blend and the asked-for exports all together or not at all.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

from ..core.errors import UserError, about
from .batch_plan import DEFAULT_FPS, Item


def add_pins(context, obj, specs, first: int, last: int) -> None:
    """Import each pin clip as an action and pin it on ``obj`` (trimmed to frames
    ``first .. last``), as Import SMPL-X Motion + Pin Action Here do in the UI."""
    from ..jobs.pins import add_pin
    from ..rigio.npz_import import import_npz

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
            with about(f"--pin {spec.source}"):  # the file's checks and the rig's, for this clip
                action, _ = import_npz(context, obj, str(spec.path))
        finally:
            if obj.animation_data is not None:
                obj.animation_data.action = previous
            scene.frame_end = frame_end
        a0, a1 = (float(v) for v in action.frame_range)
        a1 = min(a1, a0 + (last - frame))  # trimmed to the audio
        if a1 <= a0:
            raise UserError(f"--pin {spec.source}: at frame {frame} it covers no frame of the "
                             f"audio (frames {first}-{last})")
        with about(f"--pin {spec.source}"):  # its span against the other pins and the audio
            add_pin(obj, action, frame, a0, a1)


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
    from ..jobs.pipeline import target_armature
    from ..rigio import rig
    from ..rigio.character import add_character

    if armature is not None:
        obj = context.scene.objects.get(armature)
        if obj is None:
            found = ", ".join(f"'{o.name}'" for o in context.scene.objects if o.type == "ARMATURE")
            raise UserError(f"--armature: the base scene has no object named '{armature}' "
                             f"(its armatures: {found or 'none'})")
        if obj.type != "ARMATURE":
            raise UserError(f"--armature: '{armature}' is a {obj.type.lower()}, not an armature")
        if bone_map is not None:
            from ..core.bone_map import check

            with about("--bone-map"):
                check(bone_map, [b.name for b in obj.data.bones], obj.name)
            rig.store_map(obj, bone_map)
        with about("--armature"):  # the rig's checks: bone map, retargeting, Rigify controls
            rig.body_rig(obj)
        return obj
    target = context.scene.a2g.target
    if target is not None:
        with about("the base scene's Target"):
            rig.body_rig(target)
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
    from .. import compat

    strips = compat.sequencer_strips(scene, create=True)
    channel = 1 + max((s.channel for s in compat.all_sequencer_strips(scene)), default=0)
    try:
        return strips.new_sound(path.stem, str(path.resolve()), channel, int(frame))
    except RuntimeError:
        return None


# ---- exports -----------------------------------------------------------------------------------
def export_bvh(context, obj, path: Path, first: int, last: int) -> None:
    """Blender's BVH exporter, then the file turned into world space, Y up (core.bvh_y_up), as BVH
    readers take it: Blender writes the armature's own space, Z up (lying on its back)."""
    import bpy

    from ..core.bvh_y_up import to_world_y_up
    from ..core.files import atomic_write

    with context.temp_override(object=obj, active_object=obj, selected_objects=[obj]):
        result = bpy.ops.export_anim.bvh(filepath=str(path), check_existing=False, frame_start=first,
                                         frame_end=last, rotate_mode="NATIVE", root_transform_only=True)
    if result != {"FINISHED"}:
        raise RuntimeError(f"BVH export failed ({result})")
    world = obj.matrix_world
    text = to_world_y_up(path.read_text(encoding="utf-8"), [list(r[:3]) for r in world.to_3x3()],
                         list(world.translation))
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))


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
    from ..jobs import preview

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
    kept: list  # names of the base scene's edited takes kept, not replaced (actions.keep_edited)


def generate_in_scene(item: Item, args, model_path: Path, pin_specs=()) -> Generated:
    """Load the base scene, find or add the character, generate and key the gestures, add the
    sound strip. Writes no file."""
    import bpy

    from ..jobs import audio_source, pipeline

    load_scene(args.blend)
    context = bpy.context
    scene = context.scene
    if args.fps is not None:
        set_fps(scene, args.fps)
    obj = find_or_add_character(context, args.armature, args.bone_map_preset)
    settings = scene.a2g  # as Generate in the panel would be set (and in the saved file)
    settings.audio_source, settings.audio_file, settings.seed = "FILE", str(item.audio.resolve()), item.seed
    settings.intensity = args.intensity
    settings.sync = args.sync
    heard = audio_source.from_file(scene, settings.audio_file)
    add_pins(context, obj, pin_specs, heard.first, heard.end - 1)
    if getattr(args, "style", None):  # the Style list, as the panel would hold it (and saved)
        from ..jobs.style import set_clips

        set_clips(scene, args.style)
    job = pipeline.prepare(context, obj, item.seed, settings, intensity=args.intensity,
                           model_path=model_path, heard=heard, speaker=args.speaker, sync=args.sync)
    result = pipeline.compute(job)
    kept: list = []
    pipeline.apply(result, kept)
    first, last = heard.first, heard.end - 1
    strip = add_sound_strip(scene, item.audio, first)
    scene.frame_start = first
    scene.frame_end = max(scene.frame_end, last) if args.blend is not None else last
    scene.frame_current = first
    return Generated(obj, job, result, first, last, strip is not None, kept)


def write_outputs(item: Item, args, gen: Generated) -> None:
    """The .blend, then the asked-for exports, each under a temporary name in the output
    folder; only when all of them are written do they replace the old outputs (see
    :mod:`.output_set`). On any failure the old outputs stay exactly as they were.

    The user is only ever told the final names: the .blend is saved as a copy (the session's
    file stays the base scene, so nothing later, e.g. the FBX's ``ApplicationNativeFile``,
    records the temporary name), and what Blender and the exporters print, or an error says,
    names the final files."""
    import bpy

    from ..core.errors import message_for
    from .output_set import OutputError, OutputSet

    args.output_dir.mkdir(parents=True, exist_ok=True)
    out = OutputSet(item.outputs)
    try:
        with out.messages_name_finals():
            _write_each(bpy.context, args, gen, out)
    except Exception as exc:
        out.discard()
        raise OutputError(out.final_names(message_for(exc))) from exc
    except BaseException:
        out.discard()
        raise
    out.commit()


def _write_each(context, args, gen: Generated, out) -> None:
    """Every output of ``out`` at its temporary path."""
    import bpy

    from ..rigio.npz_import import write_motion_npz

    bpy.ops.wm.save_as_mainfile(filepath=str(out["blend"].resolve()), check_existing=False, copy=True)
    if "npz" in out:
        write_motion_npz(out["npz"], gen.obj, gen.job.rig, gen.result.quats, gen.job.fps,
                         gen.result.local)
    if "bvh" in out:
        export_bvh(context, gen.obj, out["bvh"], gen.first, gen.last)
    if "fbx" in out:
        export_fbx(context, gen.obj, out["fbx"])
    if "preview_png" in out:
        render_preview(context.scene, gen.obj, {k: out[k] for k in ("preview_png", "preview_mp4")},
                       gen.first, gen.last, args.preview_size)
