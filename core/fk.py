"""Forward kinematics: local joint rotations + rest offsets -> global positions/rotations.

Conventions: rotation matrices act on column vectors; the local rotation of joint j is
relative to its parent; ``parents`` must be topologically ordered (parent index < child
index, root -1 first), as SMPL-X order is.

    global_j = global_parent @ local_j
    p_j      = p_parent + global_parent @ offset_j
    p_root   = offset_root (+ root_translation),  global_root = local_root

Works for any J (22 body joints or all 55 SMPL-X joints).
"""

from __future__ import annotations

import numpy as np

__all__ = ["forward_kinematics", "check_parents"]


def check_parents(parents, num_joints: int | None = None) -> np.ndarray:
    """Validate a parent table (J,) and return it as an int array.

    Raises ValueError unless parents[0] == -1 and 0 <= parents[j] < j for j > 0.
    """
    p = np.asarray(parents)
    if p.ndim != 1 or p.size == 0 or not np.issubdtype(p.dtype, np.integer):
        raise ValueError(f"parents must be a non-empty 1-D integer array, got {p.dtype} {p.shape}")
    if num_joints is not None and p.shape[0] != num_joints:
        raise ValueError(f"parents has {p.shape[0]} entries but there are {num_joints} joints")
    if p[0] != -1:
        raise ValueError(f"parents[0] must be -1 (the root), got {p[0]}")
    j = np.arange(1, p.shape[0])
    bad = (p[1:] < 0) | (p[1:] >= j)
    if np.any(bad):
        k = int(j[np.argmax(bad)])
        raise ValueError(
            f"parents must be topologically ordered (0 <= parents[j] < j): parents[{k}] = {p[k]}"
        )
    return p.astype(np.int64)


def forward_kinematics(local_rot, offsets, parents, root_translation=None):
    """Global joint positions and rotations from local rotations.

    Args:
        local_rot: (..., J, 3, 3) local rotation matrices.
        offsets: (J, 3) rest offset of each joint from its parent, root row = absolute
            rest position of the root (see ``skeleton.rest_offsets``); may also carry
            leading dims broadcastable to ``local_rot``'s.
        parents: (J,) parent indices, -1 for the root, topologically ordered.
        root_translation: optional (..., 3) translation added to the root position
            (SMPL-X ``transl``), broadcastable to the leading shape.

    Returns:
        positions (..., J, 3) and global_rot (..., J, 3, 3), in the dtype of ``local_rot``
        (float32 or float64; anything else gives float64).
    """
    r = np.asarray(local_rot)
    if r.ndim < 3 or r.shape[-2:] != (3, 3):
        raise ValueError(f"forward_kinematics: local_rot must be (..., J, 3, 3), got {r.shape}")
    num_joints = r.shape[-3]
    dt = r.dtype if r.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    off = np.asarray(offsets, dtype=np.float64)
    if off.ndim < 2 or off.shape[-2:] != (num_joints, 3):
        raise ValueError(
            f"forward_kinematics: offsets must be ({num_joints}, 3) to match local_rot "
            f"{r.shape}, got {off.shape}"
        )
    par = check_parents(parents, num_joints)
    lead = np.broadcast_shapes(r.shape[:-3], off.shape[:-2])
    if root_translation is not None:
        t = np.asarray(root_translation, dtype=np.float64)
        if t.ndim < 1 or t.shape[-1] != 3:
            raise ValueError(f"forward_kinematics: root_translation must be (..., 3), got {t.shape}")
        lead = np.broadcast_shapes(lead, t.shape[:-1])

    r64 = np.broadcast_to(r.astype(np.float64, copy=False), lead + r.shape[-3:])
    off = np.broadcast_to(off, lead + (num_joints, 3))
    glob = np.empty(lead + (num_joints, 3, 3))
    pos = np.empty(lead + (num_joints, 3))
    glob[..., 0, :, :] = r64[..., 0, :, :]
    pos[..., 0, :] = off[..., 0, :]
    if root_translation is not None:
        pos[..., 0, :] += t
    for j in range(1, num_joints):
        p = par[j]
        glob[..., j, :, :] = glob[..., p, :, :] @ r64[..., j, :, :]
        pos[..., j, :] = pos[..., p, :] + (glob[..., p, :, :] @ off[..., j, :, None])[..., 0]
    return pos.astype(dt, copy=False), glob.astype(dt, copy=False)
