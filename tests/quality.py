"""Quality figures the tests measure motions by: how closely a pin is followed, whether seams pop.

numpy + core only (the Blender tests use them too, in the bpy venvs without torch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.fk import forward_kinematics
from core.skeleton import NUM_BODY_JOINTS, PARENTS, body_rest_offsets
from core.timeline import MODEL_FPS


def joint_positions(local_rot) -> np.ndarray:
    """Body joint positions (T, 22, 3) in metres (rest skeleton, pelvis fixed) from local
    rotation matrices (T, >=22, 3, 3)."""
    r = np.asarray(local_rot, dtype=np.float64)[:, :NUM_BODY_JOINTS]
    pos, _ = forward_kinematics(r, body_rest_offsets(), PARENTS[:NUM_BODY_JOINTS])
    return pos


def position_error_cm(rot_a, rot_b) -> float:
    """Mean joint-position error (cm) between two motions (T, J, 3, 3) over all body joints."""
    pa, pb = joint_positions(rot_a), joint_positions(rot_b)
    return float(100.0 * np.linalg.norm(pa - pb, axis=-1).mean())


def frame_speeds(local_rot, fps: float = MODEL_FPS) -> np.ndarray:
    """Fastest body joint's speed (cm/s) between consecutive frames, (T - 1,)."""
    p = joint_positions(local_rot)
    return 100.0 * fps * np.linalg.norm(np.diff(p, axis=0), axis=-1).max(axis=1)


@dataclass(frozen=True)
class SeamSpeeds:
    """Peak joint speed (cm/s) around seams against the speeds elsewhere."""

    seam_peak: float
    elsewhere_peak: float
    elsewhere_p95: float

    @property
    def ratio(self) -> float:
        """seam peak / peak elsewhere: above 1 means the seams are the fastest moment."""
        return self.seam_peak / max(self.elsewhere_peak, 1e-9)


def seam_speeds(local_rot, seams, fps: float = MODEL_FPS, window: int = 4) -> SeamSpeeds:
    """Compare joint speeds at the seams with the speeds elsewhere.

    ``seams``: frame indices s where a splice starts or ends (between frames s - 1 and s);
    the transitions within ``window`` frames of each seam count as "at the seam".
    """
    speed = frame_speeds(local_rot, fps)
    near = np.zeros(speed.shape[0], dtype=bool)
    for s in seams:
        near[max(0, int(s) - window): max(0, int(s) + window)] = True
    if not near.any() or near.all():
        raise ValueError("seams must leave frames on both sides of the comparison")
    other = speed[~near]
    return SeamSpeeds(float(speed[near].max()), float(other.max()), float(np.percentile(other, 95)))
