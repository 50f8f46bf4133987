"""Gestures on the artist's own rig: Mixamo as an FBX import lands, Blender's Rigify human
metarig and the control rig Rigify generates from it, an Unreal-mannequin-named rig.

Each rig is built in the test the way it lands in Blender. The same audio and seed are
generated on the SMPL-X character and on the rig, and world bone directions (upper arm,
forearm, pelvis to neck) are compared frame by frame; the median and 95th percentile angles
are printed (``pytest -s``) and recorded as test properties.
"""

from __future__ import annotations

import json

import bpy
import numpy as np
import pytest

from core import skeleton as sk
from tests.core.rigs import MIXAMO, a_pose_joints

from .conftest import MODULE_NAME, ROOT, mod, scene_state, speech_like, write_wav

ARM_MEDIAN_DEG, ARM_P95_DEG = 10.0, 25.0  # the bar for the arms


@pytest.fixture()
def speech(addon, tmp_path):
    """2 s of speech-like sound, random-weights test model (keys and directing)."""
    return _use_audio(write_wav(tmp_path / "speech.wav", speech_like(2.0, seed=3)))


@pytest.fixture()
def real_speech(addon, tmp_path):
    """8 s of the bundled speech sample and the bundled trained model: realistic gestures for
    the angle measurements."""
    from core.audio import load_audio_16k_mono

    samples = load_audio_16k_mono(ROOT / "samples" / "speech_sample.wav")
    bpy.context.preferences.addons[MODULE_NAME].preferences.model_path = ""  # bundled
    return _use_audio(write_wav(tmp_path / "talk.wav", samples[16000 * 2:16000 * 10]))


def _use_audio(path):
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.frame_start = 1
    scene.a2g.audio_source, scene.a2g.audio_file = "FILE", str(path)
    return path


# ---- rigs, built the way they land -------------------------------------------------------------
def _armature(name, location=(0.0, 0.0, 0.0)):
    arm = bpy.data.objects.new(name, bpy.data.armatures.new(name))
    bpy.context.scene.collection.objects.link(arm)
    arm.location = location
    bpy.context.view_layer.objects.active = arm
    return arm


def _children(j):
    return [k for k in range(55) if sk.PARENTS[k] == j]


def mixamo_fbx(name="Mixamo", prefix="mixamorig:", seed=0):
    """An FBX import from Mixamo: object rotated 90 degrees about X and scaled 0.01, bones in
    centimetres (Y up, facing +Z), arms in an A-pose, arbitrary rolls, end bones."""
    rng = np.random.default_rng(seed)
    joints = a_pose_joints(40.0) * 100.0
    arm = _armature(name, (1.5, 0.0, 0.0))
    arm.rotation_euler = (np.pi / 2, 0.0, 0.0)
    arm.scale = (0.01, 0.01, 0.01)
    bpy.ops.object.mode_set(mode="EDIT")
    eb = arm.data.edit_bones
    made = {}
    for j in range(55):
        joint = sk.JOINT_NAMES[j]
        if joint not in MIXAMO:
            continue
        bone = eb.new(prefix + MIXAMO[joint])
        kids = [k for k in _children(j) if sk.JOINT_NAMES[k] in MIXAMO]
        if joint == "pelvis":
            kids = [sk.JOINT_INDEX["spine1"]]
        elif joint == "spine3":
            kids = [sk.JOINT_INDEX["neck"]]
        elif joint.endswith("_wrist"):
            kids = [sk.JOINT_INDEX[joint.replace("wrist", "middle1")]]
        d = joints[kids[0]] - joints[j] if kids else joints[j] - joints[sk.PARENTS[j]]
        bone.head, bone.tail = joints[j], joints[j] + d
        bone.roll = float(rng.uniform(-np.pi, np.pi))
        p = sk.PARENTS[j]
        while p >= 0 and sk.JOINT_NAMES[p] not in MIXAMO:
            p = sk.PARENTS[p]
        if p >= 0:
            bone.parent = made[p]
        made[j] = bone
    top = eb.new(prefix + "HeadTop_End")
    top_head = joints[sk.JOINT_INDEX["head"]] + np.array([0.0, 18.0, 0.0])
    top.head, top.tail = top_head, top_head + np.array([0.0, 5.0, 0.0])
    top.parent = made[sk.JOINT_INDEX["head"]]
    bpy.ops.object.mode_set(mode="OBJECT")
    return arm


UE_CHAIN = ("spine_01", "spine_02", "spine_03", "spine_04", "spine_05", "neck_01", "neck_02")


def unreal(name="Mannequin"):
    """An Unreal (UE5) mannequin as imported: Z up, centimetres in an object scaled 0.01,
    facing +Y, five spine and two neck bones, twist and IK bones."""
    rng = np.random.default_rng(4)
    z_up = sk.y_up_to_z_up(sk.rest_joints()) * np.array([-1.0, -1.0, 1.0]) * 100.0  # turned
    J = sk.JOINT_INDEX
    arm = _armature(name, (-1.5, 0.0, 0.0))
    arm.scale = (0.01, 0.01, 0.01)
    bpy.ops.object.mode_set(mode="EDIT")
    eb = arm.data.edit_bones

    def add(n, head, tail, parent):
        b = eb.new(n)
        b.head, b.tail = head, tail
        b.roll = float(rng.uniform(-np.pi, np.pi))
        b.parent = eb.get(parent) if parent else None
        return b

    p = z_up
    torso = [p[J["spine1"]], 0.5 * (p[J["spine1"]] + p[J["spine2"]]), p[J["spine2"]], p[J["spine3"]],
             0.5 * (p[J["spine3"]] + p[J["neck"]]), p[J["neck"]], 0.5 * (p[J["neck"]] + p[J["head"]])]
    add("root", np.zeros(3), np.array([0.0, 20.0, 0.0]), None)
    add("pelvis", p[J["pelvis"]], torso[0], "root")
    parent = "pelvis"
    for n, a, b in zip(UE_CHAIN, torso, [*torso[1:], p[J["head"]]], strict=True):
        add(n, a, b, parent)
        parent = n
    add("head", p[J["head"]], p[J["head"]] + np.array([0.0, 0.0, 20.0]), "neck_02")
    for s, side in (("l", "left"), ("r", "right")):
        add(f"clavicle_{s}", p[J[f"{side}_collar"]], p[J[f"{side}_shoulder"]], "spine_05")
        add(f"upperarm_{s}", p[J[f"{side}_shoulder"]], p[J[f"{side}_elbow"]], f"clavicle_{s}")
        add(f"upperarm_twist_01_{s}", p[J[f"{side}_shoulder"]], p[J[f"{side}_elbow"]],
            f"upperarm_{s}")
        add(f"lowerarm_{s}", p[J[f"{side}_elbow"]], p[J[f"{side}_wrist"]], f"upperarm_{s}")
        add(f"hand_{s}", p[J[f"{side}_wrist"]], p[J[f"{side}_middle1"]], f"lowerarm_{s}")
        add(f"thigh_{s}", p[J[f"{side}_hip"]], p[J[f"{side}_knee"]], "pelvis")
        add(f"calf_{s}", p[J[f"{side}_knee"]], p[J[f"{side}_ankle"]], f"thigh_{s}")
        add(f"foot_{s}", p[J[f"{side}_ankle"]], p[J[f"{side}_foot"]], f"calf_{s}")
        add(f"ball_{s}", p[J[f"{side}_foot"]], p[J[f"{side}_foot"]] + np.array([0.0, 8.0, 0.0]),
            f"foot_{s}")
        add(f"ik_hand_{s}", p[J[f"{side}_wrist"]], p[J[f"{side}_wrist"]] + np.array([0, 0, 10.0]),
            "root")
    bpy.ops.object.mode_set(mode="OBJECT")
    return arm


def rigify_metarig():
    import addon_utils

    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    meta = bpy.context.active_object
    meta.location = (3.0, 0.0, 0.0)
    return meta


_RIGIFY_BLEND = {}


def rigify_control_rig(tmp_path_factory):
    """The rig Rigify generates from the human metarig, appended from a file written once per
    session by a separate process (tests/rigify_rig.py)."""
    from tests.rigify_rig import append_control_rig, write_control_rig

    if "path" not in _RIGIFY_BLEND:
        _RIGIFY_BLEND["path"] = write_control_rig(tmp_path_factory.mktemp("rigify") / "rig.blend")
    rig = append_control_rig(_RIGIFY_BLEND["path"])
    bpy.context.view_layer.objects.active = rig
    rig.location = (-3.0, 0.0, 0.0)
    return rig


# ---- measuring ---------------------------------------------------------------------------------
SMPLX_SEGMENTS = {"upper arm L": ("left_shoulder", "left_elbow"),
                  "forearm L": ("left_elbow", "left_wrist"),
                  "upper arm R": ("right_shoulder", "right_elbow"),
                  "forearm R": ("right_elbow", "right_wrist"),
                  "pelvis-neck": ("pelvis", "neck")}


def heads(obj, names):
    mw = np.array(obj.matrix_world)
    pts = np.array([tuple(obj.pose.bones[n].head) for n in names])
    return pts @ mw[:3, :3].T + mw[:3, 3]


def rest_heads(obj, names):
    mw = np.array(obj.matrix_world)
    pts = np.array([tuple(obj.data.bones[n].head_local) for n in names])
    return pts @ mw[:3, :3].T + mw[:3, 3]


def _angle(a, b):
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip(np.sum(a * b, -1), -1.0, 1.0)))


def _yaw(v_from, v_to):
    """Rotation about Z taking the horizontal part of v_from onto v_to's."""
    a = np.arctan2(v_to[1], v_to[0]) - np.arctan2(v_from[1], v_from[0])
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def compare(ours, theirs, segments, frames, record=None, label=""):
    """Angles (degrees) between world directions of ``segments`` ({name: (bone a, bone b)} on
    ``theirs``) and the SMPL-X character's, at ``frames``. Arms: absolute directions. Torso:
    the turn from rest (the rigs' rest torsos differ by a few degrees by design)."""
    names_s = [j for seg in SMPLX_SEGMENTS.values() for j in seg]
    names_t = [b for seg in segments.values() for b in seg]
    rs, rt = rest_heads(ours, names_s), rest_heads(theirs, names_t)
    turn = _yaw(rs[names_s.index("left_shoulder")] - rs[names_s.index("right_shoulder")],
                rt[names_t.index(segments["upper arm L"][0])]
                - rt[names_t.index(segments["upper arm R"][0])])
    out = {k: [] for k in segments}
    scene = bpy.context.scene
    for f in frames:
        scene.frame_set(f)
        hs, ht = heads(ours, names_s), heads(theirs, names_t)
        for k, (a, b) in segments.items():
            ja, jb = SMPLX_SEGMENTS[k]
            ds = (hs[names_s.index(jb)] - hs[names_s.index(ja)]) @ turn.T
            dt = ht[names_t.index(b)] - ht[names_t.index(a)]
            if k == "pelvis-neck":  # relative to rest: SMPL-X's turn applied to their rest
                rest_s = (rs[names_s.index(jb)] - rs[names_s.index(ja)]) @ turn.T
                rest_t = rt[names_t.index(b)] - rt[names_t.index(a)]
                ds = _swing(rest_s, ds) @ rest_t
            out[k].append(_angle(dt, ds))
    arms = np.concatenate([out[k] for k in out if k != "pelvis-neck"])
    torso = np.asarray(out["pelvis-neck"])
    figures = {"arms_median": float(np.median(arms)), "arms_p95": float(np.percentile(arms, 95)),
               "torso_median": float(np.median(torso)), "torso_p95": float(np.percentile(torso, 95))}
    print(f"\nRETARGET {label}: arms median {figures['arms_median']:.2f} deg, p95 "
          f"{figures['arms_p95']:.2f} deg; pelvis-to-neck (from rest) median "
          f"{figures['torso_median']:.2f} deg, p95 {figures['torso_p95']:.2f} deg")
    if record is not None:
        for k, v in figures.items():
            record(f"{label} {k}", round(v, 3))
    return figures


def _swing(a, b):
    from core.retarget import rotation_between

    return rotation_between(a, b)


def generate_both(target, seed=5):
    assert bpy.ops.a2g.add_character() == {"FINISHED"}
    ours = bpy.context.active_object
    assert bpy.ops.a2g.generate(seed=seed) == {"FINISHED"}
    bpy.context.view_layer.objects.active = target
    for o in bpy.context.selected_objects:
        o.select_set(False)
    target.select_set(True)
    assert bpy.ops.a2g.generate(seed=seed) == {"FINISHED"}
    return ours


def moved(obj, bones, frames):
    """Largest turn (degrees) of any of ``bones`` from rest over ``frames`` (the motion is real)."""
    scene = bpy.context.scene
    worst = 0.0
    for f in frames:
        scene.frame_set(f)
        for b in bones:
            m = np.array(obj.pose.bones[b].matrix.to_3x3()) @ np.array(
                obj.data.bones[b].matrix_local.to_3x3()).T
            worst = max(worst, float(np.degrees(np.arccos(np.clip((np.trace(m) - 1) / 2, -1, 1)))))
    return worst


FRAMES = list(range(1, 241, 2))


def test_mixamo_fbx_rig_follows_the_smplx_take(real_speech, record_property):
    target = mixamo_fbx()
    ours = generate_both(target)
    from core.model_file import load_model

    bundled = load_model(sorted((ROOT / "models").glob("*.json"))[0]).config
    body = mod("rigio.rig").body_rig(target, bundled.n_joints)
    assert body.scheme == "mixamo" and body.retarget is not None
    curves = mod("compat").fcurves_of(target.animation_data.action, target)
    keyed = {fc.data_path.split('"')[1] for fc in curves}
    assert keyed == set(body.bone_names) and "mixamorig:HeadTop_End" not in keyed
    fingers = {b for b in keyed if "Hand" in b and b not in ("mixamorig:LeftHand", "mixamorig:RightHand")}
    assert len(keyed) - len(fingers) == 22  # the body joints, plus the fingers when the model has hands
    assert bool(fingers) == bundled.hands
    segs = {"upper arm L": ("mixamorig:LeftArm", "mixamorig:LeftForeArm"),
            "forearm L": ("mixamorig:LeftForeArm", "mixamorig:LeftHand"),
            "upper arm R": ("mixamorig:RightArm", "mixamorig:RightForeArm"),
            "forearm R": ("mixamorig:RightForeArm", "mixamorig:RightHand"),
            "pelvis-neck": ("mixamorig:Hips", "mixamorig:Neck")}
    fig = compare(ours, target, segs, FRAMES, record_property, "mixamo")
    assert moved(target, ["mixamorig:LeftArm", "mixamorig:Spine1"], FRAMES) > 5.0
    assert fig["arms_median"] < ARM_MEDIAN_DEG and fig["arms_p95"] < ARM_P95_DEG
    assert fig["torso_median"] < 10.0


def test_rigify_metarig_follows_the_smplx_take(real_speech, record_property):
    target = rigify_metarig()
    ours = generate_both(target)
    assert mod("rigio.rig").body_rig(target).scheme == "rigify_metarig"
    segs = {"upper arm L": ("upper_arm.L", "forearm.L"), "forearm L": ("forearm.L", "hand.L"),
            "upper arm R": ("upper_arm.R", "forearm.R"), "forearm R": ("forearm.R", "hand.R"),
            "pelvis-neck": ("spine", "spine.004")}
    fig = compare(ours, target, segs, FRAMES, record_property, "rigify metarig")
    assert fig["arms_median"] < ARM_MEDIAN_DEG and fig["arms_p95"] < ARM_P95_DEG
    assert fig["torso_median"] < 10.0


def test_unreal_mannequin_follows_the_smplx_take(real_speech, record_property):
    target = unreal()
    ours = generate_both(target)
    body = mod("rigio.rig").body_rig(target)
    assert body.scheme == "unreal"
    assert not {"root", "ik_hand_l", "upperarm_twist_01_l"} & set(body.bone_names)
    assert {"spine_03", "spine_05", "neck_02"} <= set(body.bone_names)  # extra bones share
    segs = {"upper arm L": ("upperarm_l", "lowerarm_l"), "forearm L": ("lowerarm_l", "hand_l"),
            "upper arm R": ("upperarm_r", "lowerarm_r"), "forearm R": ("lowerarm_r", "hand_r"),
            "pelvis-neck": ("pelvis", "neck_01")}
    fig = compare(ours, target, segs, FRAMES, record_property, "unreal mannequin")
    assert fig["arms_median"] < ARM_MEDIAN_DEG and fig["arms_p95"] < ARM_P95_DEG
    assert fig["torso_median"] < 10.0


def test_rigify_control_rig_keys_fk_controls(real_speech, record_property, tmp_path_factory):
    target = rigify_control_rig(tmp_path_factory)
    ours = generate_both(target)
    body = mod("rigio.rig").body_rig(target)
    assert body.scheme == "rigify_controls" and body.controls is not None
    action = target.animation_data.action
    paths = {fc.data_path for fc in mod("compat").fcurves_of(action, target)}
    for bone in ("upper_arm_fk.L", "forearm_fk.L", "hand_fk.L", "torso", "chest", "neck", "head"):
        assert f'pose.bones["{bone}"].rotation_quaternion' in paths
    assert not any("DEF-" in p or "ORG-" in p or "MCH-" in p for p in paths)
    for bone in ("upper_arm_parent.L", "upper_arm_parent.R"):  # the IK/FK switch, keyed at FK
        assert f'pose.bones["{bone}"]["IK_FK"]' in paths
        assert target.pose.bones[bone]["IK_FK"] == 1.0
    segs = {"upper arm L": ("DEF-upper_arm.L", "DEF-forearm.L"),
            "forearm L": ("DEF-forearm.L", "DEF-hand.L"),
            "upper arm R": ("DEF-upper_arm.R", "DEF-forearm.R"),
            "forearm R": ("DEF-forearm.R", "DEF-hand.R"),
            "pelvis-neck": ("DEF-spine", "DEF-spine.004")}
    fig = compare(ours, target, segs, FRAMES, record_property, "rigify control rig")
    assert fig["arms_median"] < ARM_MEDIAN_DEG and fig["arms_p95"] < ARM_P95_DEG


def test_rigify_control_rig_keys_solved_in_numpy_match_the_frame_by_frame_refinement(
        addon, record_property, tmp_path_factory):
    """The FK controls' keys come from the rig's constraint chain read once (numpy), not from
    evaluating the rig frame by frame: Blender shows the keyed bones where the numpy chain says
    (sample check), and the deform bones follow as they do with the frame-by-frame refinement."""
    import dataclasses

    from core.rotations import geodesic_angle
    from tests.core.rigs import random_motion

    target = rigify_control_rig(tmp_path_factory)
    body = mod("rigio.rig").body_rig(target, 52)  # the fingers too: their chain runs through DEF bones
    assert body.chain is not None and body.constrained
    n = 60
    frames = np.arange(1, n + 1, dtype=np.float64)
    local = random_motion(n_frames=n, n_joints=52, scale=0.3, seed=4)
    for name in body.non_quaternion:
        target.pose.bones[name].rotation_mode = "QUATERNION"
    deform = [b.name for b in target.data.bones if b.name.startswith("DEF-")]
    scene = bpy.context.scene

    made = {}

    def keyed(rig, name):
        quats = made[name] = mod("rigio.rig").scene_quaternions(rig, local, 1, n + 1, 30.0)
        action = mod("rigio.actions").replace_action(target, name, {})
        mod("rigio.keying").write_bone_quaternions(target, action, rig.bone_names, frames, quats)
        mod("rigio.rigify").key_fk(target, action, rig.controls, 1.0)
        done = mod("rigio.rig_eval").settle(target, action, rig, frames, quats)
        shown = np.empty((n, len(deform), 3, 3))
        for t, f in enumerate(frames):
            scene.frame_set(int(f))
            for k, b in enumerate(deform):
                shown[t, k] = np.array(target.pose.bones[b].matrix.to_3x3().normalized())
        return done, shown

    solved, ours = keyed(body, "numpy")
    assert solved["passes"] == 0 and solved["checked"] < 0.01  # no frame-by-frame pass needed
    refined, theirs = keyed(dataclasses.replace(body, chain=None), "refined")
    assert refined["passes"] >= 2
    angle = np.degrees(geodesic_angle(ours, theirs))
    print(f"\nRIGIFY deform bones, numpy keys vs frame-by-frame refinement: median "
          f"{np.median(angle):.4f} deg, p95 {np.percentile(angle, 95):.4f}, max {angle.max():.4f}")
    record_property("rigify numpy vs refined max deg", float(angle.max()))
    assert np.median(angle) < 0.01 and angle.max() < 0.1
    # .npz export from the Rigify rig's keys (core.rig_keys.from_keys, no rig evaluation)
    from core.smplx_npz import read_smplx_npz

    path = tmp_path_factory.mktemp("export") / "rigify.npz"
    mod("rigio.npz_import").write_motion_npz(path, target, body, made["numpy"], 30.0)
    back = read_smplx_npz(path).local_rot
    from core.retarget import to_smplx  # the inverse of the plain retargeting's keys: the same

    expected = to_smplx(body.retarget, made["refined"], 55)  # (first-pass keys, rest hierarchy)
    assert np.degrees(geodesic_angle(back, expected)).max() < 0.01


def _mechanism_parent(arm, keyed, parent, constraint, target):
    """Put a mechanism bone "mechanism" between ``keyed`` and its parent ``parent`` (same
    rest), with ``constraint`` following ``target``: the keyed bone hangs from a
    constraint-driven parent, as on rigs made with Rigify and similar tools."""
    bpy.ops.object.mode_set(mode="EDIT")
    eb = arm.data.edit_bones
    mch = eb.new("mechanism")
    mch.head, mch.tail, mch.roll = eb[keyed].head, eb[keyed].tail, eb[keyed].roll
    mch.parent = eb[parent]
    eb[keyed].parent = mch
    bpy.ops.object.mode_set(mode="OBJECT")
    c = arm.pose.bones["mechanism"].constraints.new(constraint)
    c.target, c.subtarget = arm, target
    return c


@pytest.mark.parametrize("constraint", ["COPY_ROTATION", "DAMPED_TRACK"])
def test_keys_under_a_constraint_driven_parent_show_the_wanted_pose(speech, constraint):
    """A keyed neck under a mechanism bone that copies the left arm's rotation (read once and
    solved in numpy) or tracks the left hand (not reproduced in numpy: refined frame by frame
    against the evaluated rig); either way the neck shows the pose the retargeting wants."""
    target = mixamo_fbx()
    c = _mechanism_parent(target, "mixamorig:Neck", "mixamorig:Spine2", constraint,
                          "mixamorig:LeftArm" if constraint == "COPY_ROTATION" else "mixamorig:LeftHand")
    if constraint == "COPY_ROTATION":
        c.influence = 0.5
    body = mod("rigio.rig").body_rig(target)
    assert body.constrained == ("mixamorig:Neck",)
    why = []
    chain = mod("rigio.rig_eval").read_chain(target, body.bone_names, why)
    assert (body.chain is not None) == (constraint == "COPY_ROTATION") == (chain is not None)
    if chain is None:
        assert why == ["'mechanism': DAMPED_TRACK constraint 'Damped Track'"]
    pipeline = mod("jobs.pipeline")
    result = pipeline.compute(pipeline.prepare(bpy.context, target, 4))
    pipeline.apply(result)
    frames = result.frames
    from core.retarget import pose_globals, rotation_part, to_target
    from core.rotations import geodesic_angle, quat_to_matrix
    from core.timeline import MODEL_FPS, resample_rotations

    local = resample_rotations(result.local, MODEL_FPS, 30.0, len(frames))
    wanted = pose_globals(body.retarget, to_target(body.retarget, quat_to_matrix(local)))[0]
    wanted = wanted[:, body.retarget.key_index]
    k = body.bone_names.index("mixamorig:Neck")
    scene = bpy.context.scene
    shown = []
    for f in frames[::4]:
        scene.frame_set(int(f))
        shown.append(rotation_part(np.array(target.pose.bones["mixamorig:Neck"].matrix)))
    angle = np.degrees(geodesic_angle(np.array(shown), wanted[::4, k]))
    assert angle.max() < 0.1
    moved = np.degrees(geodesic_angle(np.array(shown)[1:], np.array(shown)[:1]))
    assert moved.max() > 1.0  # the motion is real


# ---- directing on the artist's rig ------------------------------------------------------------
def _keys(obj, action, names):
    return mod("rigio.keying").read_bone_quaternions(obj, action, names)


def test_takes_and_resample_range_on_a_mixamo_rig(speech):
    target = mixamo_fbx()
    bpy.context.scene.a2g_directing.takes = 2
    assert bpy.ops.a2g.generate(seed=2) == {"FINISHED"}
    takes = mod("jobs.takes").takes_of(target)
    assert len(takes) == 2
    names = mod("rigio.rig").body_rig(target).bone_names
    a = _keys(target, takes[0], names)[1]
    b = _keys(target, takes[1], names)[1]
    assert np.abs(a - b).max() > 1e-2  # two different takes
    assert bpy.ops.a2g.use_take(action=takes[1].name) == {"FINISHED"}
    assert target.animation_data.action == takes[1]

    bpy.context.scene.a2g_directing.takes = 1
    assert bpy.ops.a2g.generate(seed=2) == {"FINISHED"}
    action = target.animation_data.action
    frames, before = _keys(target, action, names)
    assert bpy.ops.a2g.resample_range(frame_start=20, frame_end=40, seed=9) == {"FINISHED"}
    frames2, after = _keys(target, action, names)
    np.testing.assert_array_equal(frames, frames2)
    outside = (frames < 20) | (frames > 40)
    np.testing.assert_array_equal(after[outside], before[outside])  # bit-identical
    assert np.abs(after[~outside] - before[~outside]).max() > 1e-2


def test_pin_from_the_target_rigs_own_action(speech, model_file):
    from core.audio import load_audio_16k_mono
    from core.features import features_for_motion
    from core.generate import DEFAULT_SYNC, generate
    from core.model_file import load_model
    from core.rotations import geodesic_angle

    target = mixamo_fbx()
    assert bpy.ops.a2g.generate(seed=7) == {"FINISHED"}
    liked = target.animation_data.action
    liked.name = "liked take"
    liked.use_fake_user = True
    free_seed = 1
    assert bpy.ops.a2g.generate(seed=free_seed) == {"FINISHED"}
    free = _keys(target, target.animation_data.action, mod("rigio.rig").body_rig(target).bone_names)[1]
    assert bpy.ops.a2g.pin_action(action="liked take", frame_start=21, action_frame_start=21,
                                  action_frame_end=40) == {"FINISHED"}
    body = mod("rigio.rig").body_rig(target)
    heard = mod("jobs.audio_source").gather(bpy.context.scene, bpy.context.scene.a2g)
    pins = mod("jobs.pins").read_pins(target, body, mod("jobs.pins").timeline_for(heard, 30.0))
    assert len(pins) == 1
    # read back through the inverse map, the pin is the SMPL-X motion the take was made from
    local = generate(load_model(model_file), features_for_motion(load_audio_16k_mono(speech)), 7,
                     sync=DEFAULT_SYNC)
    want = local[pins[0].start:pins[0].end].astype(np.float64)
    err = np.degrees(geodesic_angle(pins[0].rotations.astype(np.float64), want))
    assert err.max() < 0.05, err.max()
    assert bpy.ops.a2g.generate(seed=free_seed) == {"FINISHED"}
    pinned = _keys(target, target.animation_data.action, body.bone_names)[1]
    assert np.abs(pinned[20:40] - free[20:40]).max() > 1e-2  # the pin steers the motion


# ---- refusals: nothing changes -----------------------------------------------------------------
def refused(match):
    before = scene_state()
    with pytest.raises(RuntimeError, match=match):
        bpy.ops.a2g.generate(seed=0)
    assert scene_state() == before


def test_no_humanoid_is_refused(speech):
    arm = _armature("Crane")
    bpy.ops.object.mode_set(mode="EDIT")
    for i, name in enumerate(("base", "boom", "jib")):
        b = arm.data.edit_bones.new(name)
        b.head, b.tail = (0, 0, i), (0, 0, i + 1)
    bpy.ops.object.mode_set(mode="OBJECT")
    refused(r"'Crane' is not a humanoid rig .*pelvis.*left upper arm.*Bone Map panel")


def test_ambiguous_map_is_refused(speech):
    arm = mixamo_fbx()
    bpy.ops.object.mode_set(mode="EDIT")
    extra = arm.data.edit_bones.new("mixamorig1:LeftArm")
    extra.head, extra.tail = (0, 0, 0), (0, 0, 10)
    bpy.ops.object.mode_set(mode="OBJECT")
    refused(r"ambiguous: 'mixamorig1:LeftArm' and 'mixamorig:LeftArm' .*left upper arm")


def test_edit_mode_is_refused(speech):
    arm = mixamo_fbx()
    bpy.context.scene.a2g.target = arm
    bpy.ops.object.mode_set(mode="EDIT")
    before = scene_state()
    with pytest.raises(RuntimeError, match="Switch to Object or Pose Mode to generate"):
        bpy.ops.a2g.generate(seed=0)
    assert scene_state() == before
    with pytest.raises(mod("rigio.rig").RigError, match="is in Edit Mode"):
        mod("rigio.rig").body_rig(arm)
    bpy.ops.object.mode_set(mode="OBJECT")


def test_users_action_is_not_overwritten_and_undo_restores(speech):
    arm = mixamo_fbx()
    own = bpy.data.actions.new("my walk")
    mod("compat").assign_action(arm, own)
    arm.pose.bones["mixamorig:LeftArm"].rotation_mode = "QUATERNION"
    arm.keyframe_insert('pose.bones["mixamorig:LeftArm"].rotation_quaternion', frame=1)
    keys_before = {fc.data_path: len(fc.keyframe_points) for fc in mod("compat").fcurves_of(own, arm)}
    assert bpy.ops.a2g.generate(seed=0) == {"FINISHED"}
    assert arm.animation_data.action != own
    assert {fc.data_path: len(fc.keyframe_points) for fc in mod("compat").fcurves_of(own, arm)} == keys_before


# ---- the bone map panel ------------------------------------------------------------------------
def test_bone_map_auto_fill_presets_and_a_renamed_rig(speech, tmp_path):
    arm = mixamo_fbx(prefix="mixamorig:")
    assert bpy.ops.a2g.bone_map_auto_fill() == {"FINISHED"}
    items = {i.joint: i.bone for i in arm.a2g_bone_map}
    assert items["left_shoulder"] == "mixamorig:LeftArm" and items["jaw"] == ""
    path = tmp_path / "mixamo.json"
    assert bpy.ops.a2g.bone_map_save(filepath=str(path)) == {"FINISHED"}
    assert json.loads(path.read_text())["joints"]["pelvis"] == "mixamorig:Hips"

    # a rig whose names no scheme knows ("Bn_" + Mixamo's without prefix, shuffled case):
    # refused until the artist loads a preset mapping its bones
    odd = mixamo_fbx("Odd", prefix="Bn_", seed=3)
    for b in odd.data.bones:
        b.name = b.name.replace("Arm", "Brachium").replace("Hips", "Root0").replace("Spine", "Sp")
    bpy.context.view_layer.objects.active = odd
    refused("not a humanoid rig")
    preset = json.loads(path.read_text())
    preset["joints"] = {j: b.replace("mixamorig:", "Bn_").replace("Arm", "Brachium")
                        .replace("Hips", "Root0").replace("Spine", "Sp")
                        for j, b in preset["joints"].items()}
    path2 = tmp_path / "odd.json"
    path2.write_text(json.dumps(preset))
    assert bpy.ops.a2g.bone_map_load(filepath=str(path2)) == {"FINISHED"}
    assert bpy.ops.a2g.generate(seed=0) == {"FINISHED"}
    assert mod("rigio.rig").body_rig(odd).scheme == "custom"
    # a preset naming bones the rig lacks changes nothing
    before = [(i.joint, i.bone) for i in odd.a2g_bone_map]
    with pytest.raises(RuntimeError, match="no such bone"):
        bpy.ops.a2g.bone_map_load(filepath=str(path))
    assert [(i.joint, i.bone) for i in odd.a2g_bone_map] == before
    assert bpy.ops.a2g.bone_map_clear() == {"FINISHED"}
    assert len(odd.a2g_bone_map) == 0


# ---- batch: --blend character.blend --armature NAME, --bone-map ------------------------------
def _batch(argv):
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = mod("cli.batch").main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_batch_generates_onto_the_artists_rig(speech, model_file, tmp_path):
    from core.audio import load_audio_16k_mono
    from core.features import features_for_motion
    from core.generate import DEFAULT_SYNC, generate
    from core.model_file import load_model
    from core.rotations import geodesic_angle
    from core.smplx_npz import read_smplx_npz

    arm = mixamo_fbx("Hero")
    bpy.ops.mesh.primitive_cube_add(location=(1.5, 0.0, 1.0))
    bpy.context.active_object.parent = arm
    bpy.ops.object.armature_add(location=(5, 0, 0))  # another armature: not a humanoid
    blend = tmp_path / "character.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    out = tmp_path / "out"
    code, _, err = _batch(["generate", speech, "--blend", blend, "--armature", "Hero", "--model",
                           model_file, "--output-dir", out, "--seed", 4, "--fbx", "--bvh", "--npz"])
    assert code == 0, err
    bvh = (out / "speech.bvh").read_text()
    assert "ROOT mixamorig:Hips" in bvh and "JOINT mixamorig:LeftForeArm" in bvh
    assert (out / "speech.fbx").read_bytes()[:18] == b"Kaydara FBX Binary"
    # the .npz holds the SMPL-X motion, read back through the inverse map
    motion = read_smplx_npz(out / "speech.npz")
    local = generate(load_model(model_file), features_for_motion(load_audio_16k_mono(speech)), 4,
                     sync=DEFAULT_SYNC)
    n = min(len(local), len(motion.local_rot))
    err_deg = np.degrees(geodesic_angle(motion.local_rot[:n, :22].astype(np.float64),
                                        local[:n].astype(np.float64)))
    assert err_deg.max() < 0.05, err_deg.max()
    bpy.ops.wm.open_mainfile(filepath=str(out / "speech.blend"), load_ui=False)
    hero = bpy.data.objects["Hero"]
    paths = {fc.data_path for fc in mod("compat").fcurves_of(hero.animation_data.action, hero)}
    assert 'pose.bones["mixamorig:LeftArm"].rotation_quaternion' in paths
    assert bpy.data.objects["Armature"].animation_data is None  # the other rig: untouched


def test_batch_bone_map_preset_and_refusals(speech, model_file, tmp_path):
    odd = mixamo_fbx("Odd", prefix="Bn_")
    for b in odd.data.bones:
        b.name = b.name.replace("Arm", "Brachium")
    blend = tmp_path / "odd.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    out = tmp_path / "out"
    common = ["generate", speech, "--blend", blend, "--model", model_file, "--output-dir", out]
    code, _, err = _batch([*common, "--armature", "Nobody"])
    assert code != 0 and "no object named 'Nobody' (its armatures: 'Odd')" in err
    code, _, err = _batch([*common, "--armature", "Odd"])
    assert code != 0 and "'Odd' is not a humanoid rig" in err
    assert not out.exists() or not any(out.iterdir())  # nothing written
    joints = {j: "Bn_" + b.replace("Arm", "Brachium") for j, b in MIXAMO.items()}
    preset = tmp_path / "odd.json"
    preset.write_text(json.dumps({"format": "a2g-bone-map", "format_version": 1, "joints": joints}))
    code, _, err = _batch([*common, "--armature", "Odd", "--bone-map", preset])
    assert code == 0, err
    bpy.ops.wm.open_mainfile(filepath=str(out / "speech.blend"), load_ui=False)
    odd = bpy.data.objects["Odd"]
    assert mod("rigio.rig").body_rig(odd).scheme == "custom"  # the preset is kept with the rig
    code, _, err = _batch(["generate", speech, "--bone-map", preset, "--output-dir", out])
    assert code != 0 and "--armature" in err


def test_rigify_control_rig_takes_resample_and_pin(speech, model_file, tmp_path_factory,
                                                   record_property):
    from core.audio import load_audio_16k_mono
    from core.features import features_for_motion
    from core.generate import DEFAULT_SYNC, generate
    from core.model_file import load_model
    from core.rotations import geodesic_angle

    target = rigify_control_rig(tmp_path_factory)
    bpy.context.scene.a2g_directing.takes = 2
    assert bpy.ops.a2g.generate(seed=3) == {"FINISHED"}
    takes = mod("jobs.takes").takes_of(target)
    assert len(takes) == 2
    for take in takes:
        paths = {fc.data_path for fc in mod("compat").fcurves_of(take, target)}
        assert 'pose.bones["upper_arm_parent.L"]["IK_FK"]' in paths
    assert bpy.ops.a2g.use_take(action=takes[0].name) == {"FINISHED"}

    bpy.context.scene.a2g_directing.takes = 1
    assert bpy.ops.a2g.generate(seed=3) == {"FINISHED"}
    action = target.animation_data.action
    body = mod("rigio.rig").body_rig(target)
    assert "upper_arm_fk.L" in body.constrained and "forearm_fk.L" not in body.constrained
    frames, before = _keys(target, action, body.bone_names)
    assert bpy.ops.a2g.resample_range(frame_start=20, frame_end=40, seed=9) == {"FINISHED"}
    frames2, after = _keys(target, action, body.bone_names)
    outside = (frames < 20) | (frames > 40)
    np.testing.assert_array_equal(after[outside], before[outside])  # bit-identical
    assert np.abs(after[~outside] - before[~outside]).max() > 1e-2

    # a pin of the control rig's own take, read back through the inverse map
    action.use_fake_user = True  # seed 3's keys outside the resampled range
    assert bpy.ops.a2g.pin_action(action=action.name, frame_start=42, action_frame_start=42,
                                  action_frame_end=58) == {"FINISHED"}
    heard = mod("jobs.audio_source").gather(bpy.context.scene, bpy.context.scene.a2g)
    pins = mod("jobs.pins").read_pins(target, body, mod("jobs.pins").timeline_for(heard, 30.0))
    local = generate(load_model(model_file), features_for_motion(load_audio_16k_mono(speech)), 3,
                     sync=DEFAULT_SYNC)
    want = mod("core.retarget").smplx_globals(local[pins[0].start:pins[0].end])
    got = mod("core.retarget").smplx_globals(pins[0].rotations)
    arms = [sk.JOINT_INDEX[j] for j in ("left_shoulder", "left_elbow", "right_shoulder", "right_elbow")]
    err = np.degrees(geodesic_angle(got[:, arms], want[:, arms]))
    print(f"\nRETARGET rigify control rig pin read back: arm globals median "
          f"{np.median(err):.2f} deg, p95 {np.percentile(err, 95):.2f} deg")
    record_property("rigify pin arms median", float(np.median(err)))
    assert np.median(err) < ARM_MEDIAN_DEG and np.percentile(err, 95) < ARM_P95_DEG
    assert bpy.ops.a2g.generate(seed=5) == {"FINISHED"}
