"""BVH takes for the tests: SMPL-X motion retargeted onto a synthetic rig (``tests.core.rigs``)
with ``core.retarget.to_target`` and written as a BVH file, as a mocap exporter would."""

from __future__ import annotations

import numpy as np

from core.bvh import write_bvh
from core.retarget import build, pose_globals, to_target
from core.rotations import quat_to_matrix
from core.timeline import resample_rotations
from tests.core.rigs import MIXAMO, a_pose_joints, build_rig

#: Mixamo's names as its exports spell them (with the ``mixamorig:`` namespace).
MIXAMO_PREFIXED = {joint: f"mixamorig:{bone}" for joint, bone in MIXAMO.items()}


#: Rokoko's names: Mixamo's body, fingers numbered 1 (thumb) to 5 (pinky).
ROKOKO = {j: b for j, b in MIXAMO.items()
          if not any(f in j for f in ("index", "middle", "ring", "pinky", "thumb"))}
for _s, _S in (("left", "Left"), ("right", "Right")):
    for _f, _n in (("thumb", 1), ("index", 2), ("middle", 3), ("ring", 4), ("pinky", 5)):
        _segs = ("Metacarpal", "Proximal", "Distal") if _f == "thumb" else ("Proximal", "Medial", "Distal")
        for _k, _seg in zip((1, 2, 3), _segs, strict=True):
            ROKOKO[f"{_s}_{_f}{_k}"] = f"{_S}Finger{_n}{_seg}"


def write_take(path, local_rot, fps: float = 30.0, out_fps: float | None = None, a_pose: float | None = 40.0,
               scale: float = 100.0, rolls: float = np.pi, fingers: bool = True, trans=None,
               to_armature=None, seed: int = 0, names=None):
    """Write SMPL-X ``local_rot`` (T, 55, 3, 3) at ``fps`` as a BVH take of a Mixamo-named rig
    (A-pose at ``a_pose`` degrees, or T-pose for None; ``scale`` units per metre: 100 = cm;
    random bone rolls; an extra root bone and unmapped twist bones under the upper arms; other
    ``names``: ``{joint: bone}``),
    resampled to ``out_fps``. ``trans`` (T, 3) moves the root (metres). Returns the path."""
    joints = a_pose_joints(a_pose) if a_pose else None
    rig, joint_bones = build_rig(MIXAMO_PREFIXED if names is None else names, joints, scale=scale,
                                 rolls=rolls, seed=seed, fingers=fingers, to_armature=to_armature)
    rt = build(rig, joint_bones, n_joints=55)
    rot = np.asarray(local_rot, dtype=np.float64)
    out_fps = fps if out_fps is None else out_fps
    if out_fps != fps:
        rot = quat_to_matrix(resample_rotations(rot, fps, out_fps))
    glob, _ = pose_globals(rt, to_target(rt, rot))
    index = {n: i for i, n in enumerate(rt.names)}
    n = len(rig.bone_names)
    world = np.empty((len(rot), n, 3, 3))  # the BVH's world rotations: pose @ rest^T
    for b in range(n):
        name, parent = rig.bone_names[b], rig.parents[b]
        if name in index:
            world[:, b] = glob[:, index[name]] @ rig.rest[b, :3, :3].T
        else:  # an unmapped bone (twist) follows its parent
            world[:, b] = world[:, parent]
    local = np.empty_like(world)
    for b, p in enumerate(rig.parents):
        local[:, b] = world[:, b] if p < 0 else np.swapaxes(world[:, p], -1, -2) @ world[:, b]
    heads = rig.rest[:, :3, 3]
    offsets = np.array([heads[b] - (heads[p] if p >= 0 else 0.0) for b, p in enumerate(rig.parents)])
    ends = rig.rest[:, :3, 1] * 0.05 * scale  # a 5 cm tip along each leaf bone's axis
    root = np.repeat(heads[:1], len(local), axis=0)
    if trans is not None:
        t = np.asarray(trans, dtype=np.float64)
        if out_fps != fps:
            idx = np.minimum(np.round(np.arange(len(local)) * fps / out_fps).astype(int), len(t) - 1)
            t = t[idx]
        root = root + (t - t[:1]) @ (np.eye(3) if to_armature is None else np.asarray(to_armature)).T * scale
    return write_bvh(path, rig.bone_names, rig.parents, offsets, local, root, out_fps, ends)
