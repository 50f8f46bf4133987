"""Which bone of an artist's humanoid rig plays which SMPL-X joint (numpy-free, no bpy).

A bone map is ``{smplx_joint_name: (bone, ...)}``: usually one bone per joint; a chain of
several bones (parent first) when the rig has more spine or neck bones than SMPL-X (the
joint's rotation is then shared along the chain, see :mod:`core.retarget`).

The map comes from, in this order:

1. a naming scheme detected from the bone names (:data:`SCHEMES`: SMPL-X add-ons, Mixamo, Rokoko,
   Rigify metarig, Rigify control rig, Unreal mannequin, VRM/VRoid, humanoid (Unity/VRM
   standard names), Character Creator / iClone), namespace prefixes such as ``mixamorig:``
   ignored;
2. else name similarity (:func:`auto_fill`): side tokens (``L``, ``left``, ``.L``, ``_l``),
   body-part synonyms, and the hierarchy for the spine (the bones between pelvis and neck);
3. or the artist's own map, set in the Bone Map panel or loaded from a JSON preset
   (:func:`read_preset`, :func:`write_preset`).

Essential joints (:data:`ESSENTIAL`: pelvis, a spine bone, neck or head, both upper arms,
forearms and hands) must be mapped; the rest (collars, legs, extra spine bones, fingers) are
optional. Two equally good candidates for one joint make the map ambiguous: the error names
the joint and both bones and says how to resolve it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .errors import UserError
from .skeleton import JOINT_NAMES, NUM_BODY_JOINTS

PRESET_FORMAT = "a2g-bone-map"
PRESET_VERSION = 1

SIDES = ("left", "right")
FINGERS = ("index", "middle", "pinky", "ring", "thumb")  # SMPL-X order
FINGER_JOINTS: tuple[str, ...] = JOINT_NAMES[25:55]
BODY_JOINTS: tuple[str, ...] = JOINT_NAMES[:NUM_BODY_JOINTS]
#: joints a bone map may name: the body, jaw and eyes, fingers (SMPL-X names)
MAPPABLE: tuple[str, ...] = JOINT_NAMES

#: groups of joints of which at least one must be mapped, with the words for the message
ESSENTIAL: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pelvis (hips)", ("pelvis",)),
    ("spine", ("spine1", "spine2", "spine3")),
    ("neck or head", ("neck", "head")),
    ("left upper arm", ("left_shoulder",)),
    ("right upper arm", ("right_shoulder",)),
    ("left forearm", ("left_elbow",)),
    ("right forearm", ("right_elbow",)),
    ("left hand", ("left_wrist",)),
    ("right hand", ("right_wrist",)),
)

#: what each SMPL-X joint is, in an artist's words (the panel's labels)
LABELS: dict[str, str] = {
    "pelvis": "Hips (pelvis)", "spine1": "Spine (lower)", "spine2": "Spine (middle)",
    "spine3": "Chest (upper spine)", "neck": "Neck", "head": "Head", "jaw": "Jaw",
    "left_eye_smplhf": "Left eye", "right_eye_smplhf": "Right eye",
}
for _s in SIDES:
    _S = _s.capitalize()
    LABELS.update({
        f"{_s}_hip": f"{_S} thigh", f"{_s}_knee": f"{_S} shin", f"{_s}_ankle": f"{_S} foot",
        f"{_s}_foot": f"{_S} toes", f"{_s}_collar": f"{_S} collar (clavicle)",
        f"{_s}_shoulder": f"{_S} upper arm", f"{_s}_elbow": f"{_S} forearm",
        f"{_s}_wrist": f"{_S} hand",
    })
    for _f in FINGERS:
        for _k in (1, 2, 3):
            LABELS[f"{_s}_{_f}{_k}"] = f"{_S} {_f} {_k}"


class BoneMapError(UserError):
    """The rig cannot be mapped as it is; the message names the problem and what to do."""


@dataclass(frozen=True)
class BoneMap:
    """SMPL-X joint name -> chain of target bone names (parent first)."""

    joints: dict[str, tuple[str, ...]]
    scheme: str = "custom"  # the naming scheme it was detected by, or "similarity" / "custom"
    notes: tuple[str, ...] = field(default=())  # e.g. joints left unmapped

    def bones(self) -> tuple[str, ...]:
        return tuple(b for chain in self.joints.values() for b in chain)

    def primary(self, joint: str) -> str | None:
        """The bone that carries ``joint``'s full rotation (the chain's last)."""
        chain = self.joints.get(joint)
        return chain[-1] if chain else None


# ---- naming schemes ----------------------------------------------------------------------------
def _sided(table: dict[str, str | tuple[str, ...]], left: str, right: str) -> dict:
    """Expand ``{joint_without_side: pattern}`` with ``{s}`` replaced by the side's spelling."""
    out = {}
    for joint, pattern in table.items():
        for side, spelling in (("left", left), ("right", right)):
            pats = pattern if isinstance(pattern, tuple) else (pattern,)
            out[f"{side}_{joint}"] = tuple(p.format(s=spelling) for p in pats)
    return out


def _fingers(fmt: str, names: dict[str, str], left: str, right: str, segments=("1", "2", "3")):
    out = {}
    for side, spelling in (("left", left), ("right", right)):
        for finger in FINGERS:
            for k, seg in zip((1, 2, 3), segments, strict=False):
                out[f"{side}_{finger}{k}"] = (fmt.format(s=spelling, f=names[finger], k=seg),)
    return out


def _scheme_smplx() -> dict:
    out = {j: (j,) for j in JOINT_NAMES}
    out["left_eye_smplhf"] = ("left_eye_smplhf", "left_eye")
    out["right_eye_smplhf"] = ("right_eye_smplhf", "right_eye")
    return out


def _scheme_mixamo() -> dict:
    out = {"pelvis": ("Hips",), "spine1": ("Spine",), "spine2": ("Spine1",),
           "spine3": ("Spine2",), "neck": ("Neck",), "head": ("Head",)}
    out.update(_sided({"collar": "{s}Shoulder", "shoulder": "{s}Arm", "elbow": "{s}ForeArm",
                       "wrist": "{s}Hand", "hip": "{s}UpLeg", "knee": "{s}Leg",
                       "ankle": "{s}Foot", "foot": "{s}ToeBase"}, "Left", "Right"))
    out.update(_fingers("{s}Hand{f}{k}", {f: f.capitalize() for f in FINGERS}, "Left", "Right"))
    return out


def _scheme_rokoko() -> dict:
    """Rokoko's skeleton (Studio BVH/FBX exports): Mixamo's body names, fingers numbered 1
    (thumb) to 5 (pinky) with Metacarpal/Proximal/Medial/Distal segments; the thumb's
    metacarpal plays thumb1, the other fingers' proximal phalanx plays <finger>1."""
    out = _scheme_mixamo()
    out = {j: c for j, c in out.items() if j not in FINGER_JOINTS}
    numbers = {"thumb": "1", "index": "2", "middle": "3", "ring": "4", "pinky": "5"}
    for side, spelling in (("left", "Left"), ("right", "Right")):
        for finger, n in numbers.items():
            segments = ("Metacarpal", "Proximal", "Distal") if finger == "thumb" else \
                ("Proximal", "Medial", "Distal")
            for k, seg in zip((1, 2, 3), segments, strict=True):
                out[f"{side}_{finger}{k}"] = (f"{spelling}Finger{n}{seg}",)
    return out


def _scheme_rigify_metarig() -> dict:
    out = {"pelvis": ("spine",), "spine1": ("spine.001",), "spine2": ("spine.002",),
           "spine3": ("spine.003",), "neck": ("spine.004", "spine.005"), "head": ("spine.006",)}
    out.update(_sided({"collar": "shoulder.{s}", "shoulder": "upper_arm.{s}",
                       "elbow": "forearm.{s}", "wrist": "hand.{s}", "hip": "thigh.{s}",
                       "knee": "shin.{s}", "ankle": "foot.{s}", "foot": "toe.{s}"}, "L", "R"))
    names = {"index": "f_index", "middle": "f_middle", "pinky": "f_pinky", "ring": "f_ring",
             "thumb": "thumb"}
    out.update(_fingers("{f}.0{k}.{s}", names, "L", "R"))
    return out


def _scheme_rigify_controls() -> dict:
    """The FK controls of a rig that Rigify generated from the human metarig.

    ``torso`` turns the whole body (SMPL-X's pelvis); ``chest`` takes the whole spine bend
    (spine1 to spine3), which Rigify spreads over the spine bones itself (its lower FK spine
    bones hang downwards from the torso pivot, so they cannot carry SMPL-X's spine1/spine2)."""
    out = {"pelvis": ("torso",), "spine3": ("chest",), "neck": ("neck",), "head": ("head",)}
    out.update(_sided({"collar": "shoulder.{s}", "shoulder": "upper_arm_fk.{s}",
                       "elbow": "forearm_fk.{s}", "wrist": "hand_fk.{s}",
                       "hip": "thigh_fk.{s}", "knee": "shin_fk.{s}", "ankle": "foot_fk.{s}",
                       "foot": "toe_fk.{s}"}, "L", "R"))
    names = {"index": "f_index", "middle": "f_middle", "pinky": "f_pinky", "ring": "f_ring",
             "thumb": "thumb"}
    out.update(_fingers("{f}.0{k}.{s}", names, "L", "R"))
    return out


def _scheme_unreal() -> dict:
    # spine_01 .. spine_03 (UE4) or .. spine_05 (UE5): spread by :func:`_spread_chain`
    out = {"pelvis": ("pelvis",), "neck": ("neck_01", "neck_02"), "head": ("head",),
           "_spine": ("spine_01", "spine_02", "spine_03", "spine_04", "spine_05")}
    out.update(_sided({"collar": "clavicle_{s}", "shoulder": "upperarm_{s}",
                       "elbow": "lowerarm_{s}", "wrist": "hand_{s}", "hip": "thigh_{s}",
                       "knee": "calf_{s}", "ankle": "foot_{s}", "foot": "ball_{s}"}, "l", "r"))
    out.update(_fingers("{f}_0{k}_{s}", {f: f for f in FINGERS}, "l", "r"))
    return out


def _scheme_vroid() -> dict:
    out = {"pelvis": ("J_Bip_C_Hips",), "spine1": ("J_Bip_C_Spine",),
           "spine2": ("J_Bip_C_Chest",), "spine3": ("J_Bip_C_UpperChest",),
           "neck": ("J_Bip_C_Neck",), "head": ("J_Bip_C_Head",)}
    out.update(_sided({"collar": "J_Bip_{s}_Shoulder", "shoulder": "J_Bip_{s}_UpperArm",
                       "elbow": "J_Bip_{s}_LowerArm", "wrist": "J_Bip_{s}_Hand",
                       "hip": "J_Bip_{s}_UpperLeg", "knee": "J_Bip_{s}_LowerLeg",
                       "ankle": "J_Bip_{s}_Foot", "foot": "J_Bip_{s}_ToeBase"}, "L", "R"))
    names = {"index": "Index", "middle": "Middle", "pinky": "Little", "ring": "Ring",
             "thumb": "Thumb"}
    out.update(_fingers("J_Bip_{s}_{f}{k}", names, "L", "R"))
    return out


def _scheme_humanoid() -> dict:
    """Unity / VRM humanoid bone names (``hips``, ``leftUpperArm``, ...); VRM 0 and 1 thumbs."""
    out = {"pelvis": ("hips",), "spine1": ("spine",), "spine2": ("chest",),
           "spine3": ("upperChest",), "neck": ("neck",), "head": ("head",)}
    out.update(_sided({"collar": "{s}Shoulder", "shoulder": "{s}UpperArm",
                       "elbow": "{s}LowerArm", "wrist": "{s}Hand", "hip": "{s}UpperLeg",
                       "knee": "{s}LowerLeg", "ankle": "{s}Foot", "foot": "{s}Toes"},
                      "left", "right"))
    names = {"index": "Index", "middle": "Middle", "pinky": "Little", "ring": "Ring",
             "thumb": "Thumb"}
    out.update(_fingers("{s}{f}{k}", names, "left", "right",
                        ("Proximal", "Intermediate", "Distal")))
    for side in SIDES:  # VRM 1.0 thumbs: Metacarpal, Proximal, Distal
        out[f"{side}_thumb1"] += (f"{side}ThumbMetacarpal",)
        out[f"{side}_thumb2"] += (f"{side}ThumbProximal",)
    return out


def _scheme_cc() -> dict:
    out = {"pelvis": ("CC_Base_Hip",), "spine1": ("CC_Base_Waist",),
           "spine2": ("CC_Base_Spine01",), "spine3": ("CC_Base_Spine02",),
           "neck": ("CC_Base_NeckTwist01", "CC_Base_NeckTwist02"), "head": ("CC_Base_Head",)}
    out.update(_sided({"collar": "CC_Base_{s}_Clavicle", "shoulder": "CC_Base_{s}_Upperarm",
                       "elbow": "CC_Base_{s}_Forearm", "wrist": "CC_Base_{s}_Hand",
                       "hip": "CC_Base_{s}_Thigh", "knee": "CC_Base_{s}_Calf",
                       "ankle": "CC_Base_{s}_Foot", "foot": "CC_Base_{s}_ToeBase"}, "L", "R"))
    names = {"index": "Index", "middle": "Mid", "pinky": "Pinky", "ring": "Ring",
             "thumb": "Thumb"}
    out.update(_fingers("CC_Base_{s}_{f}{k}", names, "L", "R"))
    return out


#: scheme name -> {joint: candidate names}; a value with several names lists alternatives,
#: except where noted (neck chains: every present name joins the chain, parent first)
SCHEMES: dict[str, dict[str, tuple[str, ...]]] = {
    "smplx": _scheme_smplx(),
    "rigify_controls": _scheme_rigify_controls(),
    "rigify_metarig": _scheme_rigify_metarig(),
    "mixamo": _scheme_mixamo(),
    "rokoko": _scheme_rokoko(),
    "unreal": _scheme_unreal(),
    "vroid": _scheme_vroid(),
    "humanoid": _scheme_humanoid(),
    "character_creator": _scheme_cc(),
}
SCHEME_TITLES = {
    "smplx": "SMPL-X", "rigify_controls": "Rigify control rig", "rigify_metarig": "Rigify metarig",
    "mixamo": "Mixamo", "rokoko": "Rokoko", "unreal": "Unreal mannequin", "vroid": "VRoid / VRM",
    "humanoid": "Humanoid (Unity/VRM names)", "character_creator": "Character Creator / iClone",
    "similarity": "matched by name", "custom": "custom",
}
# joints whose scheme names form a chain (all present ones, parent first), not alternatives
_CHAINS = {("rigify_metarig", "neck"), ("unreal", "neck"), ("character_creator", "neck")}


def bare_name(name: str) -> str:
    """A bone name without a namespace prefix (``mixamorig:Hips`` -> ``Hips``)."""
    return name.rsplit(":", 1)[-1].rsplit("|", 1)[-1]


def _index_by_bare(bones) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for b in bones:
        out.setdefault(bare_name(b), []).append(b)
        if b != bare_name(b):
            out.setdefault(b, []).append(b)
    return {k: sorted(set(v)) for k, v in out.items()}


def _spread_chain(chain: list[str]) -> dict[str, tuple[str, ...]]:
    """Spine bones between pelvis and neck (parent first) spread over spine1..spine3, the top
    joint always mapped: 1 -> spine3; 2 -> spine1, spine3; 4 -> 1, 1, 2; 5 -> 1, 2, 2."""
    n = len(chain)
    if n == 0:
        return {}
    if n == 1:
        return {"spine3": (chain[0],)}
    if n == 2:
        return {"spine1": (chain[0],), "spine3": (chain[1],)}
    sizes = [n // 3] * 3
    for i in range(n % 3):
        sizes[2 - i] += 1
    out, k = {}, 0
    for joint, size in zip(("spine1", "spine2", "spine3"), sizes, strict=False):
        out[joint] = tuple(chain[k:k + size])
        k += size
    return out


def match_scheme(scheme: str, bones) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """The joints ``scheme`` finds among ``bones``, and ambiguity messages (a joint whose
    name occurs more than once, e.g. under two namespaces)."""
    table = SCHEMES[scheme]
    index = _index_by_bare(bones)
    out: dict[str, tuple[str, ...]] = {}
    problems: list[str] = []
    for joint, names in table.items():
        found = []
        for name in names:
            hits = index.get(name, [])
            if len(hits) > 1:
                problems.append(_ambiguous(joint, hits))
            if hits:
                found.append(hits[0])
                if (scheme, joint) not in _CHAINS and joint != "_spine":
                    break
        if not found:
            continue
        if joint == "_spine":
            out.update(_spread_chain(found))
        else:
            out[joint] = tuple(found)
    return out, problems


def _words(joint: str) -> str:
    label = LABELS.get(joint, joint)
    return label[0].lower() + label[1:]


def _ambiguous(joint: str, hits) -> str:
    names = " and ".join(f"'{h}'" for h in hits)
    return (f"The bone map is ambiguous: {names} could both be the {_words(joint)} "
            f"({joint}): pick one in the Bone Map panel, or load a bone-map preset")


def missing_essential(joints) -> list[str]:
    """The essential groups (their words) that ``joints`` leaves unmapped."""
    return [words for words, group in ESSENTIAL if not any(joints.get(j) for j in group)]


def missing_message(rig_name, missing) -> str:
    who = f"'{rig_name}'" if rig_name else "The armature"
    return (f"{who} is not a humanoid rig the add-on recognises: no bone found for the "
            f"{', '.join(missing)}. Set them in the Bone Map panel (Gestures tab), or load a "
            "bone-map preset")


# ---- name similarity ---------------------------------------------------------------------------
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")
_SEP = re.compile(r"[\s_.\-:|]+")
_PREFIXES = {"def", "org", "mixamorig", "bip", "bip01", "cc", "base", "j", "bip001", "rig", "b"}
_SKIP = {"end", "nub", "tip", "top", "twist", "roll", "ik", "pole", "target", "mch", "tweak",
         "helper", "socket", "null", "ctrl", "jiggle", "bend", "ctr", "meta", "metacarpal",
         "share", "parent", "vis", "hose", "prop", "weapon", "corrective"}
_SIDE_TOKENS = {"l": "left", "left": "left", "r": "right", "right": "right", "lf": "left",
                "rt": "right"}
_CENTRE_SYNONYMS = {
    "pelvis": ("hips", "hip", "pelvis"),
    "neck": ("neck", "neck1"),
    "head": ("head",),
}
_SIDED_SYNONYMS = {
    "collar": ("clavicle", "collar", "shoulder", "collarbone"),
    "shoulder": ("upperarm", "arm", "uparm", "humerus"),
    "elbow": ("forearm", "lowerarm", "elbow", "loarm"),
    "wrist": ("hand", "wrist"),
    "hip": ("upleg", "thigh", "upperleg", "hip", "femur"),
    "knee": ("leg", "calf", "shin", "lowerleg", "knee", "loleg"),
    "ankle": ("foot", "ankle"),
    "foot": ("toebase", "toe", "toes", "ball", "toe0"),
}
_FINGER_WORDS = {"index": ("index", "pointer"), "middle": ("middle", "mid"),
                 "pinky": ("pinky", "little", "small"), "ring": ("ring",),
                 "thumb": ("thumb",)}
_SEGMENTS = {"1": 1, "2": 2, "3": 3, "proximal": 1, "intermediate": 2, "distal": 3}


def tokens(name: str) -> list[str]:
    """Lower-case words of a bone name (camelCase, digits and separators split)."""
    parts = []
    for chunk in _SEP.split(bare_name(name)):
        parts.extend(p for p in _CAMEL.split(chunk) if p)
    return [p.lower() for p in parts]


def _describe(name: str):
    """(side, core word, finger, segment) of a bone name, or None for bones to skip."""
    words = tokens(name)
    if not words or any(w in _SKIP for w in words):
        return None
    side = None
    rest = []
    after_prefix = False
    for w in words:
        if w in _SIDE_TOKENS and side is None:
            side = _SIDE_TOKENS[w]
        elif w in _PREFIXES or (after_prefix and w.isdigit()):  # "Bip01": a prefix and its number
            after_prefix = w in _PREFIXES
            continue
        else:
            rest.append(w)
        after_prefix = False
    finger = next((f for f, ws in _FINGER_WORDS.items() if any(w in ws for w in rest)), None)
    if finger is not None:
        seg = None
        for w in rest:
            key = w.lstrip("0") or "0"
            if key in _SEGMENTS:
                seg = _SEGMENTS[key]
            elif w in _SEGMENTS:
                seg = _SEGMENTS[w]
        return side, "", finger, seg
    core = "".join(w for w in rest if not w.isdigit())
    digits = "".join(w.lstrip("0") or "0" for w in rest if w.isdigit())
    return side, core, None, digits


def auto_fill(bones, parents=None, keep=None) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Guess the map from name similarity: ``(joints, ambiguity messages)``.

    ``bones``: bone names; ``parents``: ``{bone: parent bone or None}`` (lets the spine be
    found as the bones between pelvis and neck); ``keep``: joints already set, kept as they
    are (the panel's auto-fill fills only what is missing).
    """
    out: dict[str, tuple[str, ...]] = dict(keep or {})
    used = {b for chain in out.values() for b in chain}
    problems: list[str] = []
    cands: dict[str, list[tuple[int, str]]] = {}
    for bone in bones:
        if bone in used:
            continue
        d = _describe(bone)
        if d is None:
            continue
        side, core, finger, seg = d
        if finger is not None:
            if side is not None and seg is not None:
                cands.setdefault(f"{side}_{finger}{seg}", []).append((3, bone))
            continue
        if side is None:
            for joint, syns in _CENTRE_SYNONYMS.items():
                if core in syns and (joint != "neck" or seg in ("", "1")):
                    score = 3 - syns.index(core) if seg == "" else 2
                    cands.setdefault(joint, []).append((score, bone))
        else:
            for part, syns in _SIDED_SYNONYMS.items():
                if core in syns and seg in ("", "0", "1"):
                    cands.setdefault(f"{side}_{part}", []).append((3 if seg == "" else 2, bone))
    for joint in MAPPABLE:
        if joint in out or joint not in cands:
            continue
        ranked = sorted(cands[joint], key=lambda c: -c[0])
        best = [b for s, b in ranked if s == ranked[0][0]]
        if len(best) > 1:
            problems.append(_ambiguous(joint, best))
            continue
        out[joint] = (best[0],)
    if parents is not None and "pelvis" in out and not any(
            j in out for j in ("spine1", "spine2", "spine3")):
        top = out.get("neck", out.get("head"))
        if top:
            chain = _between(parents, out["pelvis"][-1], top[0])
            if chain is not None:
                out.update(_spread_chain(chain))
    return out, problems


def _between(parents, low: str, high: str) -> list[str] | None:
    """Bones strictly between ``low`` and its descendant ``high`` (parent first)."""
    chain = []
    b = parents.get(high)
    while b is not None and b != low:
        chain.append(b)
        b = parents.get(b)
    return chain[::-1] if b == low else None


# ---- detection ---------------------------------------------------------------------------------
def detect(bones, parents=None, rig_name: str | None = None) -> BoneMap:
    """The bone map of a rig with these bone names; raises :class:`BoneMapError` when no
    humanoid is found (naming the missing essential joints) or the map is ambiguous."""
    bones = list(bones)
    best = None
    for scheme in SCHEMES:
        joints, problems = match_scheme(scheme, bones)
        if missing_essential(joints):
            continue
        if problems:
            raise BoneMapError(problems[0])
        if best is None or len(joints) > len(best[1]):
            best = (scheme, joints)
    if best is not None:
        return BoneMap(best[1], best[0])
    joints, problems = auto_fill(bones, parents)
    missing = missing_essential(joints)
    if problems and (missing or any(_problem_joint(p) in _essential_joints() for p in problems)):
        raise BoneMapError(problems[0])
    if missing:
        raise BoneMapError(missing_message(rig_name, missing))
    return BoneMap(joints, "similarity", tuple(problems))


def _essential_joints() -> set[str]:
    return {j for _, group in ESSENTIAL for j in group}


def _problem_joint(message: str) -> str:
    m = re.search(r"\(([a-z0-9_]+)\): pick one", message)
    return m.group(1) if m else ""


def check(bone_map: BoneMap, bones, rig_name: str | None = None) -> None:
    """Raise :class:`BoneMapError` when ``bone_map`` names bones the rig lacks, uses one
    bone for two joints, or leaves essential joints unmapped."""
    present = set(bones)
    seen: dict[str, str] = {}
    for joint, chain in bone_map.joints.items():
        if joint not in MAPPABLE:
            raise BoneMapError(f"The bone map names '{joint}', which is not an SMPL-X joint")
        for bone in chain:
            if bone not in present:
                raise BoneMapError(
                    f"The bone map sets the {_words(joint)} to '{bone}', but "
                    f"{repr(rig_name) if rig_name else 'the armature'} has no such bone: fix it in the "
                    "Bone Map panel")
            if bone in seen:
                raise BoneMapError(
                    f"The bone map uses '{bone}' for both the {_words(seen[bone])} "
                    f"and the {_words(joint)}: each bone can play one joint only")
            seen[bone] = joint
    missing = missing_essential(bone_map.joints)
    if missing:
        raise BoneMapError(missing_message(rig_name, missing))


# ---- JSON presets ------------------------------------------------------------------------------
def to_json(bone_map: BoneMap) -> str:
    joints = {j: (list(c) if len(c) > 1 else c[0]) for j, c in bone_map.joints.items() if c}
    ordered = {j: joints[j] for j in MAPPABLE if j in joints}
    return json.dumps({"format": PRESET_FORMAT, "format_version": PRESET_VERSION,
                       "scheme": bone_map.scheme, "joints": ordered}, indent=1)


def from_json(text: str, source: str = "the preset") -> BoneMap:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError, OverflowError) as exc:  # RecursionError: nested too deep
        why = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise BoneMapError(f"{source} is not a bone-map preset (not JSON: {why})") from None
    if not isinstance(data, dict) or data.get("format") != PRESET_FORMAT:
        raise BoneMapError(f"{source} is not a bone-map preset (no \"format\": "
                           f"\"{PRESET_FORMAT}\")")
    if data.get("format_version") != PRESET_VERSION:
        raise BoneMapError(f"{source} has bone-map format_version {data.get('format_version')!r}; "
                           f"this add-on reads version {PRESET_VERSION}")
    raw = data.get("joints")
    if not isinstance(raw, dict):
        raise BoneMapError(f"{source} has no \"joints\" object")
    joints = {}
    for joint, value in raw.items():
        if joint not in MAPPABLE:
            raise BoneMapError(f"{source} maps '{joint}', which is not an SMPL-X joint name "
                               "(pelvis, spine1, ..., left_shoulder, ..., right_thumb3)")
        chain = (value,) if isinstance(value, str) else value
        if not isinstance(chain, (list, tuple)) or not all(isinstance(b, str) and b for b in chain):
            raise BoneMapError(f"{source}: the bone of '{joint}' must be a name or a list of names")
        if chain:
            joints[joint] = tuple(chain)
    return BoneMap(joints, "custom")


MAX_PRESET_BYTES = 4 * 1024 * 1024  # a preset of every joint, each with a long chain, is a few kB


def read_preset(path, option: str = "") -> BoneMap:
    """The bone map of the preset file at ``path``; :class:`BoneMapError` naming the file (and
    ``option``, the command-line option that gave it, e.g. ``--bone-map``) when it cannot."""
    from .files import read_text

    named = f"{option} '{path}'" if option else f"'{path}'"
    # missing, a folder, unreadable, not UTF-8 text (a binary file), absurdly large: one sentence
    text = read_text(path, BoneMapError, f"Cannot read the bone-map preset {named}", MAX_PRESET_BYTES)
    return from_json(text, named)


def write_preset(bone_map: BoneMap, path) -> None:
    from .files import atomic_write

    data = (to_json(bone_map) + "\n").encode("utf-8")
    atomic_write(path, lambda f: f.write(data))
