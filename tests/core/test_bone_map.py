"""core.bone_map: naming schemes, name similarity, essential joints, ambiguity, presets."""

import json

import pytest

from core import bone_map as bm
from tests.core.rigs import MIXAMO

RIGIFY_METARIG = (
    ["spine", "spine.001", "spine.002", "spine.003", "spine.004", "spine.005", "spine.006",
     "face", "pelvis.L", "pelvis.R", "breast.L", "breast.R"]
    + [f"{b}.{s}" for s in "LR" for b in ("shoulder", "upper_arm", "forearm", "hand", "thigh",
                                         "shin", "foot", "toe", "heel.02", "palm.01", "palm.02")]
    + [f"{f}.0{k}.{s}" for s in "LR" for f in ("f_index", "f_middle", "f_ring", "f_pinky", "thumb")
       for k in (1, 2, 3)])
UE5 = (["root", "pelvis", "spine_01", "spine_02", "spine_03", "spine_04", "spine_05", "neck_01",
        "neck_02", "head"]
       + [f"{b}_{s}" for s in "lr" for b in ("clavicle", "upperarm", "upperarm_twist_01",
                                            "lowerarm", "lowerarm_twist_01", "hand", "thigh",
                                            "calf", "foot", "ball", "ik_hand")]
       + [f"{f}_0{k}_{s}" for s in "lr" for f in ("index", "middle", "ring", "pinky", "thumb")
          for k in (1, 2, 3)])
VROID = (["Root", "J_Bip_C_Hips", "J_Bip_C_Spine", "J_Bip_C_Chest", "J_Bip_C_UpperChest",
          "J_Bip_C_Neck", "J_Bip_C_Head", "J_Adj_L_FaceEye"]
         + [f"J_Bip_{s}_{b}" for s in "LR" for b in ("Shoulder", "UpperArm", "LowerArm", "Hand",
                                                    "UpperLeg", "LowerLeg", "Foot", "ToeBase",
                                                    "Index1", "Little2", "Thumb3")])
CC = (["CC_Base_BoneRoot", "CC_Base_Hip", "CC_Base_Pelvis", "CC_Base_Waist", "CC_Base_Spine01",
       "CC_Base_Spine02", "CC_Base_NeckTwist01", "CC_Base_NeckTwist02", "CC_Base_Head"]
      + [f"CC_Base_{s}_{b}" for s in "LR" for b in ("Clavicle", "Upperarm", "UpperarmTwist01",
                                                   "Forearm", "Hand", "Thigh", "Calf", "Foot",
                                                   "ToeBase", "Mid1", "Pinky2")])


@pytest.mark.parametrize("prefix", ["mixamorig:", "mixamorig1:", ""])
def test_mixamo_with_or_without_namespace(prefix):
    bones = [prefix + b for b in MIXAMO.values()] + [prefix + "HeadTop_End"]
    m = bm.detect(bones)
    assert m.scheme == "mixamo"
    assert m.joints["left_shoulder"] == (prefix + "LeftArm",)
    assert m.joints["left_collar"] == (prefix + "LeftShoulder",)
    assert m.joints["right_thumb3"] == (prefix + "RightHandThumb3",)
    assert len(m.joints) == 52


def test_rigify_metarig():
    m = bm.detect(RIGIFY_METARIG)
    assert m.scheme == "rigify_metarig"
    assert m.joints["pelvis"] == ("spine",)
    assert m.joints["neck"] == ("spine.004", "spine.005")  # the second neck bone shares it
    assert m.joints["head"] == ("spine.006",)
    assert m.joints["left_elbow"] == ("forearm.L",)
    assert m.joints["right_pinky2"] == ("f_pinky.02.R",)
    assert "palm.01.L" not in m.bones()


def test_unreal_mannequin_ue5_spreads_five_spine_bones():
    m = bm.detect(UE5)
    assert m.scheme == "unreal"
    assert m.joints["spine1"] == ("spine_01",)
    assert m.joints["spine2"] == ("spine_02", "spine_03")
    assert m.joints["spine3"] == ("spine_04", "spine_05")
    assert m.joints["neck"] == ("neck_01", "neck_02")
    assert m.joints["left_shoulder"] == ("upperarm_l",)
    assert "upperarm_twist_01_l" not in m.bones() and "ik_hand_l" not in m.bones()


def test_unreal_mannequin_ue4():
    bones = [b for b in UE5 if b not in ("spine_04", "spine_05", "neck_02")]
    m = bm.detect(bones)
    assert [m.joints[j] for j in ("spine1", "spine2", "spine3", "neck")] == [
        ("spine_01",), ("spine_02",), ("spine_03",), ("neck_01",)]


def test_vroid_and_character_creator():
    v = bm.detect(VROID)
    assert v.scheme == "vroid" and v.joints["spine3"] == ("J_Bip_C_UpperChest",)
    assert v.joints["left_pinky2"] == ("J_Bip_L_Little2",)
    c = bm.detect(CC)
    assert c.scheme == "character_creator"
    assert c.joints["pelvis"] == ("CC_Base_Hip",)  # the hip bone carries the whole body
    assert c.joints["neck"] == ("CC_Base_NeckTwist01", "CC_Base_NeckTwist02")
    assert c.joints["left_middle1"] == ("CC_Base_L_Mid1",)
    assert "CC_Base_Pelvis" not in c.bones()


def test_smplx_addon_names_and_meshcapade_eyes():
    from core.skeleton import JOINT_NAMES

    names = [n for n in JOINT_NAMES if "eye" not in n] + ["root", "left_eye", "right_eye"]
    m = bm.detect(names)
    assert m.scheme == "smplx" and m.joints["left_eye_smplhf"] == ("left_eye",)


def test_similarity_fills_other_conventions():
    # 3ds Max Biped-style names, which no scheme covers
    bones = ["Bip01", "Bip01 Pelvis", "Bip01 Spine", "Bip01 Spine1", "Bip01 Spine2", "Bip01 Neck",
             "Bip01 Head", "Bip01 HeadNub"]
    for s in "LR":
        bones += [f"Bip01 {s} {b}" for b in ("Clavicle", "UpperArm", "Forearm", "Hand", "Thigh",
                                             "Calf", "Foot", "Toe0")]
    parents = {b: "Bip01 Pelvis" for b in bones}
    parents.update({"Bip01 Pelvis": "Bip01", "Bip01": None, "Bip01 Spine": "Bip01 Pelvis",
                    "Bip01 Spine1": "Bip01 Spine", "Bip01 Spine2": "Bip01 Spine1",
                    "Bip01 Neck": "Bip01 Spine2", "Bip01 Head": "Bip01 Neck"})
    m = bm.detect(bones, parents)
    assert m.scheme == "similarity"
    assert m.joints["pelvis"] == ("Bip01 Pelvis",)
    assert [m.joints[j] for j in ("spine1", "spine2", "spine3")] == [
        ("Bip01 Spine",), ("Bip01 Spine1",), ("Bip01 Spine2",)]
    assert m.joints["left_shoulder"] == ("Bip01 L UpperArm",)
    assert m.joints["right_elbow"] == ("Bip01 R Forearm",)
    assert m.joints["left_collar"] == ("Bip01 L Clavicle",)
    assert m.joints["right_foot"] == ("Bip01 R Toe0",)
    assert "Bip01 HeadNub" not in m.bones()


def test_similarity_with_dotted_sides_and_fingers():
    bones = ["hips", "chest", "neck", "head"]
    for s in "LR":
        bones += [f"upperarm.{s}", f"lowerarm.{s}", f"hand.{s}", f"index_1.{s}", f"index_2.{s}"]
    parents = {"hips": None, "chest": "hips", "neck": "chest", "head": "neck"}
    m = bm.detect(bones, parents)
    assert m.joints["spine3"] == ("chest",)  # a single spine bone carries the whole spine
    assert m.joints["left_elbow"] == ("lowerarm.L",)
    assert m.joints["right_index2"] == ("index_2.R",)


@pytest.mark.parametrize("bones", [["Bone", "Bone.001", "Bone.002"],
                                   ["base", "boom", "arm_lower", "arm_upper", "bucket", "cab"]])
def test_no_humanoid_names_the_missing_joints(bones):
    with pytest.raises(bm.BoneMapError) as e:
        bm.detect(bones, rig_name="Excavator")
    msg = str(e.value)
    assert "'Excavator' is not a humanoid rig" in msg
    assert "pelvis" in msg and "left upper arm" in msg and "Bone Map panel" in msg


def test_two_candidates_for_one_joint_is_ambiguous():
    bones = ["mixamorig:" + b for b in MIXAMO.values()] + ["mixamorig1:LeftArm"]
    with pytest.raises(bm.BoneMapError, match=r"ambiguous: 'mixamorig1:LeftArm' and "
                                              r"'mixamorig:LeftArm'.*left upper arm"):
        bm.detect(bones)
    sim = ["hips", "spine", "neck", "head", "upperarm.L", "arm.L.001", "upperarm.R", "lowerarm.L",
           "lowerarm.R", "hand.L", "hand.R", "upper_arm.L"]
    with pytest.raises(bm.BoneMapError, match="ambiguous.*left upper arm"):
        bm.detect(sim, {b: None for b in sim})


def test_optional_joints_may_be_missing():
    bones = [b for j, b in MIXAMO.items() if j.endswith(("_wrist", "_elbow", "_shoulder"))
             or j in ("pelvis", "spine1", "head")]
    m = bm.detect(bones)
    assert "neck" not in m.joints and "left_hip" not in m.joints
    assert bm.missing_essential(m.joints) == []


def test_check_rejects_bad_maps():
    m = bm.detect(list(MIXAMO.values()))
    bm.check(m, MIXAMO.values())
    with pytest.raises(bm.BoneMapError, match="no such bone"):
        bm.check(bm.BoneMap({**m.joints, "head": ("Noggin",)}), MIXAMO.values(), "Bob")
    with pytest.raises(bm.BoneMapError, match="uses 'Hips' for both"):
        bm.check(bm.BoneMap({**m.joints, "spine1": ("Hips",)}), MIXAMO.values())
    partial = {j: c for j, c in m.joints.items() if j not in ("left_wrist", "neck", "head")}
    with pytest.raises(bm.BoneMapError, match="neck or head, left hand"):
        bm.check(bm.BoneMap(partial), MIXAMO.values())


def test_preset_round_trip(tmp_path):
    m = bm.detect(RIGIFY_METARIG)
    path = tmp_path / "rig.json"
    bm.write_preset(m, path)
    data = json.loads(path.read_text())
    assert data["format"] == "a2g-bone-map" and data["joints"]["neck"] == ["spine.004", "spine.005"]
    assert data["joints"]["pelvis"] == "spine"
    back = bm.read_preset(path)
    assert back.joints == m.joints


@pytest.mark.parametrize("text, match", [
    ("not json", "not JSON"),
    ('{"joints": {}}', "not a bone-map preset"),
    ('{"format": "a2g-bone-map", "format_version": 9, "joints": {}}', "format_version 9"),
    ('{"format": "a2g-bone-map", "format_version": 1, "joints": {"elbow": "x"}}', "'elbow'"),
    ('{"format": "a2g-bone-map", "format_version": 1, "joints": {"head": 3}}', "name or a list"),
])
def test_bad_presets_are_refused(tmp_path, text, match):
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(bm.BoneMapError, match=match):
        bm.read_preset(path)
    with pytest.raises(bm.BoneMapError, match="Cannot read"):
        bm.read_preset(tmp_path / "missing.json")


def test_read_preset_names_the_option_that_gave_it(tmp_path):
    none = tmp_path / "none.json"
    with pytest.raises(bm.BoneMapError) as info:
        bm.read_preset(none, "--bone-map")
    assert str(info.value).startswith(f"Cannot read the bone-map preset --bone-map '{none}': ")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "other"}')
    with pytest.raises(bm.BoneMapError) as info:
        bm.read_preset(bad)
    assert str(info.value) == f"'{bad}' is not a bone-map preset (no \"format\": \"a2g-bone-map\")"
