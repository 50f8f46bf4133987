# SPDX-License-Identifier: GPL-3.0-or-later
"""Headless Cycles preview of a character performing: PNG frames, a strip of them, an mp4.

The scene itself is rendered, with a temporary camera, light and world: a render of a
second scene sharing the objects does not evaluate their animation (measured: every frame
came out the same). Every setting changed is recorded first and put back afterwards and the
temporary objects are removed, so the user's scene is left as it was. Works without a GPU
(Cycles on the CPU) and without a window.
"""

from __future__ import annotations

import math
import os

import numpy as np

from .. import compat

_LENS_MM = 50.0
_SENSOR_MM = 36.0

#: The preview's default size: wide enough to judge a gesture (the figure from the hips to the
#: top of the head fills the frame's height, the arms' reach its width).
DEFAULT_SIZE = (640, 360)
#: Cycles samples on the CPU: with the soft key light and the plain world this is clean enough
#: to read the pose and keeps a 15 s video (450 frames) within a few minutes on 2 cores.
DEFAULT_SAMPLES = 4
MIN_WIDTH, MAX_SIDE = 64, 4096


def parse_size(text: str, option: str = "--preview-size") -> tuple[int, int]:
    """``"WIDTHxHEIGHT"`` (e.g. ``1280x720``) -> (width, height); a ``UserError`` naming
    ``option`` (the command-line option that gave it) and saying what is wrong."""
    from ..core.errors import UserError

    w, sep, h = str(text).lower().partition("x")
    try:
        width, height = int(w), int(h)
    except ValueError:
        raise UserError(f"{option} {text!r} is not a size: give WIDTHxHEIGHT in pixels, e.g. "
                        "1280x720") from None
    if not sep or not (MIN_WIDTH <= width <= MAX_SIDE and 16 <= height <= MAX_SIDE):
        raise UserError(f"{option} {text!r}: width must be {MIN_WIDTH}-{MAX_SIDE} and height "
                        f"16-{MAX_SIDE} pixels, e.g. 1280x720")
    if width % 2 or height % 2:
        raise UserError(f"{option} {text!r}: H.264 video needs an even width and height, e.g. "
                        "1280x720")
    return width, height


def _bone_world(armature, name):
    from mathutils import Vector

    bone = armature.data.bones.get(name)
    if bone is None:
        return None
    return armature.matrix_world @ Vector(bone.head_local)


def framing(armature, aspect: float, margin: float = 1.06):
    """Camera (location, rotation_euler) framing the upper body from the front: from just
    below the pelvis (where the hands hang at rest) to the top of the head, filling the
    frame's height (``margin`` = visible height / that span).

    The front is where SMPL-X's +Z points: armature -Y for a Z-up rig, +Z for a Y-up one.
    """
    from mathutils import Vector

    from ..core.framing import bounding_box
    from ..rigio.rig import rest_up_axis

    pelvis = _bone_world(armature, "pelvis")
    head = _bone_world(armature, "head")
    if pelvis is None or head is None:  # not an SMPL-X rig: frame its bounding box
        corners = [tuple(armature.matrix_world @ Vector(c)) for c in armature.bound_box]
        low, high = bounding_box(corners)
        pelvis, head = Vector(low), Vector(high)
        up_axis = "Z"
    else:
        up_axis = rest_up_axis(armature.data.bones)[0]
    rot = armature.matrix_world.to_3x3().normalized()
    up = (rot @ Vector((0, 0, 1) if up_axis == "Z" else (0, 1, 0))).normalized()
    front = (rot @ Vector((0, -1, 0) if up_axis == "Z" else (0, 0, 1))).normalized()
    size = max((head - pelvis).length, 1e-3)  # pelvis to head, about 0.55 m for SMPL-X
    bottom = pelvis - 0.2 * size * up
    top = head + 0.34 * size * up  # the head joint is the skull's base
    height = (top - bottom).length
    center = (top + bottom) / 2
    half_fov_v = math.atan((_SENSOR_MM / 2) / _LENS_MM / max(aspect, 1.0))
    distance = margin * (height / 2) / math.tan(half_fov_v)
    location = center + front * distance + up * 0.05 * height
    look = (center - location).normalized()
    rotation = look.to_track_quat("-Z", "Y").to_euler()
    return location, rotation


def _add(scene, name, data):
    import bpy

    obj = bpy.data.objects.new(name, data)
    scene.collection.objects.link(obj)
    return obj


class _Settings:
    """Set RNA properties, remembering the old values; ``restore`` puts them back."""

    def __init__(self):
        self._saved = []

    def set(self, struct, name, value=None, keep=False):
        self._saved.append((struct, name, getattr(struct, name)))
        if not keep:
            setattr(struct, name, value)

    def restore(self):
        for struct, name, value in self._saved:  # in order: media_type before file_format
            try:
                setattr(struct, name, value)
            except (AttributeError, TypeError, ValueError):
                pass  # e.g. an enum item that only exists for another file format
        self._saved.clear()


def _remember(scene, settings: _Settings) -> None:
    """Record every setting a preview render may change."""
    render, image, ff = scene.render, scene.render.image_settings, scene.render.ffmpeg
    names = [
        (scene, ("frame_start", "frame_end", "camera", "world")),
        (render, ("engine", "resolution_x", "resolution_y", "resolution_percentage",
                  "film_transparent", "filepath", "use_file_extension")),
        (scene.cycles, ("device", "samples", "use_denoising", "use_adaptive_sampling",
                        "max_bounces", "diffuse_bounces", "glossy_bounces",
                        "transmission_bounces", "transparent_max_bounces")),
        (scene.view_settings, ("view_transform", "look")),
        (image, compat.image_format_properties(image)),
        (ff, ("format", "codec", "constant_rate_factor", "audio_codec", "audio_channels")),
    ]
    for struct, props in names:
        for name in props:
            settings.set(struct, name, keep=True)


def _setup(scene, armature, resolution, samples):
    """Render settings, camera, key light and world; returns (objects, datas, world)."""
    import bpy
    from mathutils import Euler

    render = scene.render
    render.engine = "CYCLES"
    render.resolution_x, render.resolution_y = resolution
    render.resolution_percentage = 100
    render.film_transparent = False
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.cycles.use_adaptive_sampling = False
    # a matte figure under one light: two bounces look the same as twelve and cost less
    scene.cycles.max_bounces = 2
    scene.cycles.diffuse_bounces = 1
    scene.cycles.glossy_bounces = 1
    scene.cycles.transmission_bounces = 0
    scene.cycles.transparent_max_bounces = 1
    scene.view_settings.view_transform = "Standard"

    cam_data = bpy.data.cameras.new("A2G Preview Camera")
    cam_data.lens, cam_data.sensor_width = _LENS_MM, _SENSOR_MM
    camera = _add(scene, "A2G Preview Camera", cam_data)
    camera.location, camera.rotation_euler = framing(armature, resolution[0] / resolution[1])
    scene.camera = camera

    sun = bpy.data.lights.new("A2G Preview Key", "SUN")
    sun.energy = 3.5
    sun.angle = math.radians(10)
    key = _add(scene, "A2G Preview Key", sun)
    front = camera.rotation_euler.to_matrix()
    key.rotation_euler = (front @ Euler((math.radians(-25), math.radians(-30), 0)).to_matrix()).to_euler()

    world = bpy.data.worlds.new("A2G Preview World")
    world.color = (0.25, 0.27, 0.3)
    compat.use_nodes(world)
    if world.node_tree is not None:
        bg = world.node_tree.nodes.get("Background")
        if bg is not None:
            bg.inputs["Color"].default_value = (0.25, 0.27, 0.3, 1.0)
            bg.inputs["Strength"].default_value = 1.0
    scene.world = world
    return [camera, key], [cam_data, sun], world


def _strip(paths, out_path):
    """Tile the frames side by side into one PNG."""
    import bpy

    from ..core.framing import side_by_side

    tiles = []
    for p in paths:
        img = bpy.data.images.load(p)
        w, h = img.size
        px = np.empty(w * h * 4, dtype=np.float32)
        img.pixels.foreach_get(px)
        tiles.append(px.reshape(h, w, 4))
        bpy.data.images.remove(img)
    sheet = side_by_side(tiles)
    h, w = sheet.shape[:2]
    img = bpy.data.images.new("A2G Preview Strip", w, h, alpha=True)
    img.pixels.foreach_set(sheet.ravel())
    img.filepath_raw = out_path
    img.file_format = "PNG"
    img.save()
    bpy.data.images.remove(img)


def _image_settings(scene, video: bool) -> None:
    compat.set_output_format(scene.render.image_settings, video)
    if video:
        ff = scene.render.ffmpeg
        ff.format = "MPEG4"
        ff.codec = "H264"
        ff.constant_rate_factor = "MEDIUM"
        ff.audio_codec = "AAC"
        ff.audio_channels = "MONO"


def default_frames(scene, armature, count: int) -> list[int]:
    """``count`` frames spread over the armature's action (else the scene range)."""
    from ..core.framing import still_frames

    anim = armature.animation_data
    action = anim.action if anim is not None else None
    if action is not None and "a2g_frames" in action:
        first, end = (int(v) for v in action["a2g_frames"])
        last = end - 1
    elif action is not None:
        first, last = (int(round(v)) for v in action.frame_range)
    else:
        first, last = scene.frame_start, scene.frame_end
    return still_frames(first, last, count)


def render_preview(scene, armature, out_dir, frames=None, n_frames: int = 6,
                   resolution=DEFAULT_SIZE, samples: int = DEFAULT_SAMPLES, video: bool = False,
                   video_range=None, audio_path=None, audio_frame=None, prefix: str = "preview"):
    """Render the armature's character performing, with Cycles on the CPU.

    Writes ``<prefix>_<frame>.png`` for each of ``frames`` (default: ``n_frames`` spread
    over the generated action), ``<prefix>_strip.png`` (those frames side by side) and, with
    ``video``, ``<prefix>.mp4`` (H.264 + AAC) over ``video_range`` = (first, last) (default:
    the action's frames) with the scene's sound strips, plus ``audio_path`` played from
    ``audio_frame`` (default: the first frame) when given. Returns ``{"frames": [...],
    "strip": path or None, "video": path or None}``. The scene is left as it was.
    """
    import bpy

    out_dir = os.path.abspath(os.fspath(out_dir))
    os.makedirs(out_dir, exist_ok=True)
    if frames is None:
        frames = default_frames(scene, armature, n_frames)
    frame = scene.frame_current
    had_editor = scene.sequence_editor is not None
    settings = _Settings()
    _remember(scene, settings)
    objects, datas, world, audio_strip = [], [], None, None
    written = {"frames": [], "strip": None, "video": None}
    try:
        objects, datas, world = _setup(scene, armature, tuple(resolution), samples)
        _image_settings(scene, video=False)
        for f in frames:
            scene.frame_set(int(f))
            path = os.path.join(out_dir, f"{prefix}_{int(f):04d}.png")
            scene.render.filepath = path
            bpy.ops.render.render(write_still=True, scene=scene.name)
            written["frames"].append(path)
        if written["frames"]:
            written["strip"] = os.path.join(out_dir, f"{prefix}_strip.png")
            _strip(written["frames"], written["strip"])
        if video:
            span = default_frames(scene, armature, 2)
            first, last = video_range or (span[0], span[-1])
            scene.frame_start, scene.frame_end = int(first), int(last)
            if audio_path:
                strips = compat.sequencer_strips(scene, create=True)
                channel = 1 + max((s.channel for s in strips), default=0)
                start = int(first if audio_frame is None else audio_frame)
                audio_strip = strips.new_sound("A2G preview audio", bpy.path.abspath(audio_path),
                                               channel, start)
            written["video"] = os.path.join(out_dir, f"{prefix}.mp4")
            _image_settings(scene, video=True)
            scene.render.filepath = written["video"]
            scene.render.use_file_extension = False
            bpy.ops.render.render(animation=True, scene=scene.name)
    finally:
        if audio_strip is not None:
            sound = audio_strip.sound
            _strips(scene).remove(audio_strip)
            if sound is not None and sound.users == 0:
                bpy.data.sounds.remove(sound)
        if not had_editor and scene.sequence_editor is not None:
            scene.sequence_editor_clear()
        settings.restore()
        for obj in objects:
            bpy.data.objects.remove(obj)
        for data in datas:
            if isinstance(data, bpy.types.Camera):
                bpy.data.cameras.remove(data)
            else:
                bpy.data.lights.remove(data)
        if world is not None:
            bpy.data.worlds.remove(world)
        scene.frame_set(frame)
    return written
