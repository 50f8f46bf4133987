"""render_preview: a headless Cycles still of the character, the user's scene left alone."""

import bpy

from .conftest import MODULE_NAME, scene_state, speech_like, write_wav


def test_render_preview_writes_frames_and_strip(addon, tmp_path):
    preview = __import__(f"{MODULE_NAME}.jobs.preview", fromlist=["preview"])
    scene = bpy.context.scene
    scene.a2g.audio_source = "FILE"
    scene.a2g.audio_file = str(write_wav(tmp_path / "s.wav", speech_like(1.0)))
    assert bpy.ops.a2g.add_character() == {"FINISHED"}
    arm = bpy.context.active_object
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}
    render = scene.render
    settings = (render.engine, render.resolution_x, render.filepath, scene.camera, scene.world,
                render.image_settings.file_format, scene.cycles.samples, scene.frame_current)
    before = scene_state()
    out = preview.render_preview(scene, arm, tmp_path / "out", n_frames=2, resolution=(64, 48),
                                 samples=1)
    assert [p.rsplit("_", 1)[-1] for p in out["frames"]] == ["0001.png", "0024.png"]
    image = bpy.data.images.load(out["strip"])
    assert tuple(image.size) == (128, 48)
    bpy.data.images.remove(image)
    assert scene_state() == before
    assert settings == (render.engine, render.resolution_x, render.filepath, scene.camera,
                        scene.world, render.image_settings.file_format, scene.cycles.samples,
                        scene.frame_current)
    assert not any(o.type in {"CAMERA", "LIGHT"} for o in bpy.data.objects)
    assert not bpy.data.worlds or all(not w.name.startswith("A2G") for w in bpy.data.worlds)


def test_preview_frames_follow_the_animation(addon, tmp_path):
    """Each rendered frame shows that frame's pose (a still of one pose repeated would pass
    every other check)."""
    import numpy as np

    preview = __import__(f"{MODULE_NAME}.jobs.preview", fromlist=["preview"])
    keying = __import__(f"{MODULE_NAME}.rigio.keying", fromlist=["keying"])
    compat = __import__(f"{MODULE_NAME}.compat", fromlist=["compat"])
    assert bpy.ops.a2g.add_character() == {"FINISHED"}
    arm = bpy.context.active_object
    down, up = (0.8253, 0.0, 0.0, -0.5646), (0.9888, 0.0, 0.0, 0.1494)  # left arm
    action = keying.new_action("arm up")
    compat.assign_action(arm, action)
    keying.write_bone_quaternions(arm, action, ["left_shoulder"], [1, 2, 3],
                                  np.array([[down], [down], [up]]))
    out = preview.render_preview(bpy.context.scene, arm, tmp_path, frames=[1, 2, 3],
                                 resolution=(48, 36), samples=1)
    pixels = []
    for path in out["frames"]:
        image = bpy.data.images.load(path)
        pixels.append(np.array(image.pixels[:]))
        bpy.data.images.remove(image)
    assert np.abs(pixels[0] - pixels[1]).max() < 1e-6  # same pose, same image
    assert np.abs(pixels[0] - pixels[2]).max() > 0.1  # the arm moved


def test_default_preview_frames_the_upper_body(addon):
    """At least 640 px wide, and the figure from the hips to the top of the head fills the
    frame's height (a small figure in a wide shot would pass every other check)."""
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    preview = __import__(f"{MODULE_NAME}.jobs.preview", fromlist=["preview"])
    assert preview.DEFAULT_SIZE[0] >= 640
    assert preview.parse_size("1280x720") == (1280, 720)
    assert bpy.ops.a2g.add_character() == {"FINISHED"}
    arm = bpy.context.active_object
    scene = bpy.context.scene
    w, h = preview.DEFAULT_SIZE
    cam_data = bpy.data.cameras.new("cam")
    cam_data.lens, cam_data.sensor_width = preview._LENS_MM, preview._SENSOR_MM
    cam = bpy.data.objects.new("cam", cam_data)
    scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler = preview.framing(arm, w / h)
    scene.render.resolution_x, scene.render.resolution_y = w, h
    bpy.context.view_layer.update()
    mesh = next(o for o in arm.children if o.type == "MESH")
    heights = [world_to_camera_view(scene, cam, mesh.matrix_world @ v.co).y for v in mesh.data.vertices]
    head_top = max(heights)
    pelvis_head = arm.matrix_world @ Vector(arm.data.bones["pelvis"].head_local)
    pelvis = world_to_camera_view(scene, cam, pelvis_head).y
    assert 0.9 < head_top < 1.0, (head_top, pelvis)  # the top of the head just inside the frame
    assert 0.05 < pelvis < 0.3  # the hips just above the bottom edge
