"""Time gesture generation inside Blender (bpy module) for 3 minutes of speech. Prints figures.

Installs the freshly built extension into a temporary Blender user folder and times the
add-on's own code path, stage by stage, on a 30 fps scene:

  decode    48 kHz stereo 16-bit WAV -> 16 kHz mono (core.audio: read, mix down, resample;
            the old aud path beside it)
  features  log-mel (core.features)
  network   core.generate (audio encoder, mapping net, decoder)
  resample  30 fps -> scene frames, bone quaternions (rig.scene_quaternions, as the pipeline)
  keying    a new action with 22 bones (52 with a hands model) x 4 channels x 5400 keys (bulk
            F-curve API), sealed
            with the fingerprint that tells hand edits apart

then the whole operator (bpy.ops.a2g.generate), and, for comparison, per-frame
``keyframe_insert`` on the same motion over shorter spans, extrapolated to 3 minutes with a
power law fitted to them (it grows faster than linearly).

Then the same on a Rigify control rig (generated from Rigify's human metarig in a separate
process, as tests/blender/test_retarget.py does), next to the SMPL-X character: the keys
solved in numpy under the rig's constraint chain (rig.scene_quaternions), writing them with the
IK/FK switches and the 12-frame check against Blender (rig_eval.settle), the whole operator,
and the frame-by-frame refinement used before (rig_eval.refine) over a shorter span, with its
cost per frame and the deform bones' angle between the two.

Uses the bundled model in models/ if there is one, else random weights of the same
architecture (same cost). Usage: python benchmarks/bench_blender.py [--seconds 180]
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODULE = "bl_ext.user_default.audio2gestures"


CPU_TIMES: dict[int, list[float]] = {}  # id(wall times list) -> CPU seconds of each run


def timed(fn, repeat: int):
    """Run ``fn`` ``repeat`` times: (last result, wall seconds of each run). The process CPU
    seconds of each run (all threads) are kept beside, for :func:`fmt`: on a shared machine
    the wall time grows with the other load, the CPU time much less."""
    times, cpu, result = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    CPU_TIMES[id(times)] = cpu
    return result, times


def fmt(times) -> str:
    cpu = CPU_TIMES.get(id(times))
    extra = f"   cpu {statistics.median(cpu):6.3f} s" if cpu else ""
    return f"median {statistics.median(times):6.3f} s   best {min(times):6.3f} s{extra}"


def aud_decode(path: str, resample) -> np.ndarray:
    """The decode path before WAV went through core.audio: aud, numpy average, core resample."""
    import aud

    sound = aud.Sound(path)
    rate, _channels = sound.specs
    data = np.asarray(sound.data(), dtype=np.float32)
    mono = data @ np.full(data.shape[1], 1.0 / data.shape[1], dtype=np.float32)
    return resample(mono, int(rate), 16000)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="speech length (default 180)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--insert-spans", type=float, nargs="+", default=[5.0, 10.0, 20.0],
                        help="seconds of motion keyed with keyframe_insert (extrapolated)")
    parser.add_argument("--rigify-refine-seconds", type=float, default=10.0,
                        help="seconds of motion refined frame by frame on the Rigify rig (as before)")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="a2g-bench-"))
    os.environ["BLENDER_USER_RESOURCES"] = str(tmp / "user")
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "xdg-config")
    os.environ["XDG_CACHE_HOME"] = str(tmp / "xdg-cache")
    import bpy

    sys.path.insert(0, str(ROOT))
    import build_addon

    zip_path = build_addon.build(tmp / "dist")
    bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default",
                                             enable_on_install=True)
    a2g = importlib.import_module(MODULE)
    sub = {n.split(".", 1)[1] if n.startswith(("jobs.", "rigio.")) else n:
           importlib.import_module(f"{MODULE}.{n}")
           for n in ("jobs.audio_source", "jobs.model", "core.scene_motion", "rigio.keying",
                     "rigio.actions", "rigio.rig")}
    features_mod = importlib.import_module(f"{MODULE}.core.features")
    generate_mod = importlib.import_module(f"{MODULE}.core.generate")
    bpy.ops.wm.read_homefile(use_factory_startup=True, use_empty=True)

    model_path = sub["model"].bundled_model()
    model_note = "bundled"
    if model_path is None:
        mf = importlib.import_module(f"{MODULE}.core.model_file")
        m = mf.random_model(seed=0)
        model_path = mf.save_model(tmp / "random.json", m.weights, m.config, m.feature_mean,
                                   m.feature_std, m.code_mean, m.code_std)
        model_note = "random weights (no bundled model in this checkout), same architecture"
    bpy.context.preferences.addons[MODULE].preferences.model_path = str(model_path)

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    seconds = args.seconds
    print(f"Blender {bpy.app.version_string} (bpy module), numpy {np.__version__}, {cores} CPU cores")
    print(f"model: {model_path.name} ({model_note})")
    from tests.speech import speech_like, write_wav

    wav = write_wav(tmp / "speech48k.wav", speech_like(seconds, 48000, channels=2), 48000)
    wav16 = write_wav(tmp / "speech16k.wav", speech_like(seconds, 16000), 16000)
    print(f"audio: {seconds:.0f} s of speech-like audio, 48 kHz stereo 16-bit WAV "
          f"({wav.stat().st_size / 1e6:.1f} MB)\n")

    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    bpy.ops.a2g.add_character()
    arm = bpy.context.active_object
    net = sub["model"].load(model_path)
    body = sub["rig"].body_rig(arm, net.config.n_joints)  # with a hands model, the finger bones too

    rep = args.repeat
    audio, t_dec = timed(lambda: sub["audio_source"].decode(str(wav)), rep)
    _, t_dec16 = timed(lambda: sub["audio_source"].decode(str(wav16)), rep)
    try:
        import aud  # noqa: F401

        resample = importlib.import_module(f"{MODULE}.core.audio").resample
        old_audio, t_aud = timed(lambda: aud_decode(str(wav), resample), rep)
        same = float(np.abs(old_audio - audio).max())
    except ImportError:  # the bpy 4.2 wheels
        t_aud = same = None
    feats, t_feat = timed(lambda: features_mod.features_for_motion(audio), rep)
    local, t_net = timed(lambda: generate_mod.generate(net, feats, 0), rep)
    n_frames = int(np.ceil(seconds * 30))
    quats, t_res = timed(lambda: sub["rig"].scene_quaternions(body, local, 1, 1 + n_frames, 30.0), rep)
    frames = np.arange(1, 1 + n_frames, dtype=np.float64)

    def key_all():  # as pipeline._write_action: new action, bulk keys, the edit fingerprint
        action = sub["actions"].replace_action(arm, "bench gestures", {})
        n = sub["keying"].write_bone_quaternions(arm, action, body.bone_names, frames, quats)
        sub["actions"].seal(arm, action)
        return n

    n_keys, t_key = timed(key_all, rep)
    med = [statistics.median(t) for t in (t_dec, t_feat, t_net, t_res, t_key)]
    print(f"stage      ({seconds:.0f} s speech -> {n_frames} frames, {n_keys} keys)")
    print(f"  decode    {fmt(t_dec)}    (16 kHz mono WAV instead: {fmt(t_dec16)})")
    if t_aud is not None:
        print(f"    (through aud, as before: {fmt(t_aud)}; largest sample difference {same:.1e})")
    print(f"  features  {fmt(t_feat)}")
    print(f"  network   {fmt(t_net)}")
    print(f"  resample  {fmt(t_res)}")
    print(f"  keying    {fmt(t_key)}")
    cpu = [statistics.median(CPU_TIMES[id(t)]) for t in (t_dec, t_feat, t_net, t_res, t_key)]
    print(f"  total     {sum(med):6.3f} s (sum of medians; cpu {sum(cpu):.3f} s; target < 0.5 s)\n")

    scene.a2g.audio_source, scene.a2g.audio_file = "FILE", str(wav)
    _, t_op = timed(lambda: bpy.ops.a2g.generate(seed=0), rep)
    print(f"bpy.ops.a2g.generate end to end (incl. model cache hit, validation): {fmt(t_op)}\n")

    # ---- keyframe_insert per bone per frame, as other SMPL-X add-ons do -----------------
    pose_bones = [arm.pose.bones[n] for n in body.bone_names]
    print(f"keyframe_insert per bone per frame (same motion, {len(pose_bones)} bones):")
    spans, costs = [], []
    for span in args.insert_spans:
        n = int(round(span * 30))
        arm.animation_data.action = None
        start = time.perf_counter()
        for f in range(n):
            for b, pb in enumerate(pose_bones):
                pb.rotation_quaternion = quats[f, b]
                pb.keyframe_insert("rotation_quaternion", frame=f + 1)
        cost = time.perf_counter() - start
        spans.append(n)
        costs.append(cost)
        print(f"  {span:5.1f} s ({n:5d} frames): {cost:7.3f} s")
    slope, intercept = np.polyfit(np.log(spans), np.log(costs), 1)
    predicted = float(np.exp(intercept) * n_frames ** slope)
    bulk = statistics.median(t_key)
    print(f"  fitted cost ~ frames^{slope:.2f}; extrapolated to {n_frames} frames: {predicted:.1f} s "
          f"(bulk keying: {bulk:.3f} s, about {predicted / bulk:.0f}x faster)")
    print()
    bench_rigify(args, sub, local, t_op, tmp)
    del a2g
    return 0


def rigify_control_rig(tmp: Path):
    """The rig Rigify generates from its human metarig (made in a separate process)."""
    from tests.rigify_rig import append_control_rig, write_control_rig

    return append_control_rig(write_control_rig(tmp / "rigify.blend"))


def bench_rigify(args, sub, local, t_smplx, tmp: Path) -> None:
    """Rigify's control rig next to the SMPL-X character (see the module's docstring)."""
    import dataclasses

    import bpy

    mods = {n: importlib.import_module(f"{MODULE}.rigio.{n}") for n in ("rig_eval", "rigify")}
    rotations = importlib.import_module(f"{MODULE}.core.rotations")
    rig = rigify_control_rig(tmp)
    for o in bpy.context.selected_objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = rig
    rig.select_set(True)
    n_joints = local.shape[1]
    (body, t_read) = timed(lambda: sub["rig"].body_rig(rig, n_joints), 1)
    if body.chain is None:
        print("Rigify control rig: its constraint chain could not be read (refined frame by frame)")
        return
    n_frames = int(np.ceil(args.seconds * 30))
    frames = np.arange(1, 1 + n_frames, dtype=np.float64)
    rep = args.repeat
    quats, t_solve = timed(lambda: sub["rig"].scene_quaternions(body, local, 1, 1 + n_frames, 30.0), rep)
    for name in body.non_quaternion:
        rig.pose.bones[name].rotation_mode = "QUATERNION"

    def key_all():  # as pipeline._write_action on a Rigify rig
        action = sub["actions"].replace_action(rig, "bench rigify", {})
        sub["keying"].write_bone_quaternions(rig, action, body.bone_names, frames, quats)
        mods["rigify"].key_fk(rig, action, body.controls, 1.0)
        done = mods["rig_eval"].settle(rig, action, body, frames, quats)
        sub["actions"].seal(rig, action)
        return done

    done, t_key = timed(key_all, rep)
    print(f"Rigify control rig ({len(rig.data.bones)} bones; {len(body.bone_names)} FK controls keyed, "
          f"{len(body.constrained)} under constraint-driven parents; chain of {len(body.chain.names)} bones)")
    print(f"  read rig  {fmt(t_read)}   (body_rig: bone map, retargeting, constraint chain)")
    print(f"  solve     {fmt(t_solve)}   (resample + retarget + keys under the constraints, numpy)")
    print(f"  keying    {fmt(t_key)}   (keys, IK/FK switches, {mods['rig_eval'].CHECK_FRAMES}-frame check: "
          f"largest angle {done['checked']:.4f} deg, {done['passes']} refinement passes)")
    _, t_op = timed(lambda: bpy.ops.a2g.generate(seed=0), rep)
    print(f"  bpy.ops.a2g.generate end to end: {fmt(t_op)}")
    print(f"  (SMPL-X character, same take:    {fmt(t_smplx)})")

    # the refinement used before: rest-hierarchy keys, then frame-by-frame passes
    n_old = int(round(args.rigify_refine_seconds * 30))
    old = dataclasses.replace(body, chain=None)
    few = frames[:n_old]
    q_old = sub["rig"].scene_quaternions(old, local, 1, 1 + n_frames, 30.0)[:n_old]
    action = sub["actions"].replace_action(rig, "bench rigify refined", {})
    sub["keying"].write_bone_quaternions(rig, action, body.bone_names, few, q_old)
    mods["rigify"].key_fk(rig, action, body.controls, 1.0)
    start = time.perf_counter()
    passes = mods["rig_eval"].refine(rig, action, old, few, q_old)
    cost = time.perf_counter() - start
    deform = [b.name for b in rig.data.bones if b.name.startswith("DEF-")]

    def deform_pose(act):
        rig.animation_data.action = act
        out = np.empty((n_old, len(deform), 3, 3))
        for t, f in enumerate(few):
            bpy.context.scene.frame_set(int(f))
            for k, b in enumerate(deform):
                out[t, k] = np.array(rig.pose.bones[b].matrix.to_3x3().normalized())
        return out

    theirs = deform_pose(action)
    new = sub["actions"].replace_action(rig, "bench rigify numpy", {})
    sub["keying"].write_bone_quaternions(rig, new, body.bone_names, few, quats[:n_old])
    mods["rigify"].key_fk(rig, new, body.controls, 1.0)
    ours = deform_pose(new)
    angle = np.degrees(rotations.geodesic_angle(ours, theirs))
    per_frame = cost / n_old
    print(f"  before: frame-by-frame refinement over {n_old} frames: {cost:.2f} s ({passes} passes, "
          f"{1000 * per_frame:.1f} ms a frame; {per_frame * n_frames:.0f} s for {n_frames} frames)")
    print(f"  {len(deform)} deform bones, numpy keys vs refined ones over those frames: median "
          f"{np.median(angle):.4f} deg, 95th pct {np.percentile(angle, 95):.4f} deg, "
          f"max {angle.max():.4f} deg")


if __name__ == "__main__":
    sys.exit(main())
