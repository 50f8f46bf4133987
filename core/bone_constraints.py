"""What a rig's bone constraints do to rotations, in numpy: a rig's pose from its keys, and the
keys that give its keyed bones wanted rotations, without evaluating the rig frame by frame.

A rig is read once (``a2g_blender/rigio/rig_eval.py``) into a :class:`BoneChain`: the bones that
matter (keyed bones, their ancestors and the bones their constraints follow, recursively),
evaluation order first, each with its parent, rest rotation (``bone.matrix_local``, armature
space), whether it inherits its parent's rotation, its constant pose rotation when it is not
keyed, and its constraints. Blender's pose evaluation is then reproduced for rotations:

    base_b = P_parent @ M_parent^T @ M_b     (M_b alone when the bone does not inherit rotation)
    P_b    = base_b @ Q_b                    (Q_b: the key, or the constant pose rotation)

followed by each constraint in order, blended by its influence as Blender blends (quaternion
slerp between the matrix before and after it). The constraints understood (:data:`KINDS`):

- ``COPY_ROTATION`` / ``COPY_TRANSFORMS`` in world (or pose) space on both sides: the target's
  rotation; local to local: the target's rotation away from its own rest in parent
  (``base_t^T P_t``) applied on the owner's base (no target: one that stays at rest, so the
  owner's base);
- ``ARMATURE``: ``polar(sum_i w_i P_ti M_ti^T) @ P_b``;
- ``ROTATION_FREE``: constraints that leave rotations alone at unit scale (copy location or
  scale, limits on location, distance and scale, maintain volume).

Keyed bones are solved parents first: once everything a keyed bone hangs from is known, its
key is ``Q_b = base_b^T @ wanted_b`` (exact, one pass, any depth of constraint-driven parents).
Which constraints a rig holds, and whether the result matches Blender, is the reader's and the
checker's business (``rig_eval.check`` compares sample frames with the evaluated rig).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rotations import matrix_to_quat, quat_slerp, quat_to_matrix

#: constraints whose effect on rotations is reproduced here
COPY_WORLD = "copy_world"  # COPY_ROTATION / COPY_TRANSFORMS, world (or pose) space both sides
COPY_LOCAL = "copy_local"  # COPY_TRANSFORMS (or COPY_ROTATION, all axes), local to local
ARMATURE = "armature"
KINDS = (COPY_WORLD, COPY_LOCAL, ARMATURE)
#: Blender constraint types that do not change a bone's rotation when every scale is 1
ROTATION_FREE = frozenset({"COPY_LOCATION", "COPY_SCALE", "LIMIT_LOCATION", "LIMIT_DISTANCE",
                           "LIMIT_SCALE", "MAINTAIN_VOLUME", "TRANSFORM_CACHE"})


@dataclass(frozen=True)
class Constraint:
    """One constraint's effect on rotations: ``kind`` (:data:`KINDS`), the bones it follows
    (indices into the chain's bones, earlier than its owner) with their weights (ARMATURE), and
    its influence (0..1)."""

    kind: str
    targets: tuple[int, ...]
    influence: float = 1.0
    weights: tuple[float, ...] = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown constraint kind {self.kind!r}")


@dataclass(frozen=True)
class BoneChain:
    """A rig's bones that matter for some keyed bones, in evaluation order (a bone comes after
    its parent and after every bone its constraints follow)."""

    names: tuple[str, ...]
    parent: np.ndarray  # (B,) index of each bone's parent in names, -1: none
    rest: np.ndarray  # (B, 3, 3) rest rotations in armature space (bone.matrix_local)
    inherit: np.ndarray  # (B,) bool: the bone inherits its parent's rotation
    pose: np.ndarray  # (B, 3, 3) constant pose rotation of bones that are not keyed
    constraints: tuple[tuple[Constraint, ...], ...]  # per bone, in evaluation order
    keyed: np.ndarray  # (K,) index in names of each keyed bone

    def __post_init__(self):
        n = len(self.names)
        for what, shape in (("parent", (n,)), ("rest", (n, 3, 3)), ("inherit", (n,)),
                            ("pose", (n, 3, 3))):
            if np.shape(getattr(self, what)) != shape:
                raise ValueError(f"BoneChain.{what} must be {shape}, got {np.shape(getattr(self, what))}")
        if len(self.constraints) != n:
            raise ValueError("BoneChain.constraints needs one tuple per bone")
        for i in range(n):
            later = [t for c in self.constraints[i] for t in c.targets if t >= i]
            if self.parent[i] >= i or later:
                raise ValueError(f"'{self.names[i]}' comes before its parent or a bone it follows")
        keyed = [int(k) for k in self.keyed]
        if any(self.constraints[k] for k in keyed):
            raise ValueError("keyed bones with constraints of their own cannot be solved")


def _blend(before, after, influence: float) -> np.ndarray:
    """Blender's influence: the rotation slerped from ``before`` to ``after`` by ``influence``."""
    if influence >= 1.0:
        return after
    q = quat_slerp(matrix_to_quat(before), matrix_to_quat(after), influence)
    return quat_to_matrix(q)


def _polar(m) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    flip = np.linalg.det(r) < 0
    if np.any(flip):
        u[flip, :, -1] *= -1
        r = u @ vt
    return r


def _base(chain: BoneChain, pose: np.ndarray, i: int, n: int) -> np.ndarray:
    p = int(chain.parent[i])
    if p < 0 or not chain.inherit[i]:
        return np.broadcast_to(chain.rest[i], (n, 3, 3))
    return pose[:, p] @ (chain.rest[p].T @ chain.rest[i])


def _constrain(chain: BoneChain, pose: np.ndarray, i: int, base: np.ndarray) -> None:
    for c in chain.constraints[i]:
        if c.influence <= 0.0:
            continue
        before = pose[:, i]
        if c.kind == COPY_WORLD:
            after = pose[:, c.targets[0]]
        elif c.kind == COPY_LOCAL and not c.targets:  # a target at rest: the owner's rest
            after = base
        elif c.kind == COPY_LOCAL:
            t = c.targets[0]
            t_base = _base(chain, pose, t, pose.shape[0])
            after = base @ (np.swapaxes(t_base, -1, -2) @ pose[:, t])
        else:  # ARMATURE
            deform = sum(w * (pose[:, t] @ chain.rest[t].T)
                         for t, w in zip(c.targets, c.weights, strict=True))
            if isinstance(deform, int):  # no target with weight: no effect
                continue
            after = _polar(deform) @ before
        pose[:, i] = _blend(before, after, c.influence)


def _run(chain: BoneChain, n: int, keys=None, wanted=None) -> tuple[np.ndarray, np.ndarray]:
    pose = np.empty((n, len(chain.names), 3, 3))
    slot = {int(b): k for k, b in enumerate(chain.keyed)}
    solved = np.empty((n, len(slot), 3, 3))
    for i in range(len(chain.names)):
        base = _base(chain, pose, i, n)
        if i in slot:
            k = slot[i]
            if wanted is not None:
                solved[:, k] = np.swapaxes(base, -1, -2) @ wanted[:, k]
                pose[:, i] = wanted[:, k]
            else:
                solved[:, k] = keys[:, k]
                pose[:, i] = base @ keys[:, k]
            continue
        pose[:, i] = base @ chain.pose[i]
        _constrain(chain, pose, i, base)
    return pose, solved


def evaluate(chain: BoneChain, keys) -> np.ndarray:
    """Armature-space rotations (T, B, 3, 3) of every bone of ``chain`` with the keyed bones'
    pose rotations ``keys`` (T, K, 3, 3)."""
    keys = np.asarray(keys, dtype=np.float64)
    if keys.ndim != 4 or keys.shape[1:] != (len(chain.keyed), 3, 3):
        raise ValueError(f"keys must be (T, {len(chain.keyed)}, 3, 3), got {keys.shape}")
    return _run(chain, keys.shape[0], keys=keys)[0]


def solve(chain: BoneChain, wanted) -> np.ndarray:
    """Pose rotations (T, K, 3, 3) of the keyed bones that make them show the armature-space
    rotations ``wanted`` (T, K, 3, 3), whatever their constraint-driven parents do."""
    wanted = np.asarray(wanted, dtype=np.float64)
    if wanted.ndim != 4 or wanted.shape[1:] != (len(chain.keyed), 3, 3):
        raise ValueError(f"wanted must be (T, {len(chain.keyed)}, 3, 3), got {wanted.shape}")
    return _run(chain, wanted.shape[0], wanted=wanted)[1]
