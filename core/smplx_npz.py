"""Read and write AMASS/BEAT2-style SMPL-X motion files (``.npz``). numpy only, no pickle.

The exchange format of the SMPL-X Blender add-ons and of gesture research code (EMAGE,
TalkSHOW, BEAT2). One file holds:

- ``poses`` (T, 165) float32: axis-angle, 55 joints in SMPL-X order, 3 values each
  (``0:3`` pelvis / global orient, ``3:66`` body, ``66:75`` jaw and eyes, ``75:120`` left
  hand, ``120:165`` right hand). Also accepted when reading: (T, 55, 3).
- ``trans`` (T, 3): pelvis translation in metres, SMPL-X world (Y up). Optional when reading
  (zeros).
- ``mocap_frame_rate`` (AMASS SMPL+H files spell it ``mocap_framerate``): frames per second.
- ``betas`` (B,), ``gender``, ``model``, ``expressions`` (T, E): optional when reading.

Hands: with ``flat_hand_mean=False`` (the BEAT2 / SMPL-X default) the stored hand values are
offsets from the relaxed mean hand, added in axis-angle space the way the SMPL-X body model
does (``rotation = rodrigues(stored + hand_mean)``), so zeros mean "relaxed hand". With
``flat_hand_mean=True`` they are the rotations themselves (zeros mean "flat hand"). The mean
hand comes from core/assets/mannequin.npz (``hand_mean`` (30, 3): left 15, then right 15).

In memory (:class:`SmplxMotion`) a motion is local rotation matrices ``(T, 55, 3, 3)``, each
joint relative to its parent, in the SMPL-X joint frames (docs/DESIGN.md): the hand mean is
already applied.

Every problem is reported as :class:`SmplxNpzError`, whose message names the file and the
problem. Files are opened with ``allow_pickle=False`` (a file that needs pickle is refused).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UserError
from .files import atomic_write, read_npz
from .rotations import axis_angle_to_matrix, matrix_to_axis_angle
from .skeleton import NUM_JOINTS, hand_mean

__all__ = [
    "SmplxNpzError",
    "SmplxMotion",
    "HAND_SLICE",
    "NUM_BETAS",
    "NUM_EXPRESSIONS",
    "poses_to_local_rot",
    "local_rot_to_poses",
    "read_smplx_npz",
    "write_smplx_npz",
]

#: Joints 25-54 (left hand 15, right hand 15): the joints ``hand_mean`` applies to.
HAND_SLICE = slice(25, 55)
NUM_BETAS = 300  # what BEAT2 / EMAGE write
NUM_EXPRESSIONS = 100
_FPS_KEYS = ("mocap_frame_rate", "mocap_framerate")


class SmplxNpzError(UserError):
    """An SMPL-X ``.npz`` is missing, unreadable or malformed; the message says which and why."""


@dataclass
class SmplxMotion:
    """One SMPL-X motion clip in memory.

    local_rot: (T, 55, 3, 3) float32 local rotation matrices, SMPL-X order (hand mean applied).
    trans: (T, 3) float64 pelvis translation, metres, SMPL-X world (Y up).
    fps: frames per second (float).
    betas: (B,) float32 body shape; gender, model: strings ("neutral", "smplx2020").
    expressions: (T, E) float32 face expression coefficients, or None.
    """

    local_rot: np.ndarray
    trans: np.ndarray
    fps: float
    betas: np.ndarray
    gender: str = "neutral"
    model: str = "smplx2020"
    expressions: np.ndarray | None = None
    path: Path | None = None

    @property
    def n_frames(self) -> int:
        return int(self.local_rot.shape[0])

    @property
    def duration(self) -> float:
        """Seconds covered by the clip: n_frames / fps."""
        return self.n_frames / self.fps


# ---- hands -----------------------------------------------------------------------------------
def poses_to_local_rot(poses, flat_hand_mean: bool = False) -> np.ndarray:
    """Axis-angle ``poses`` (T, 165) or (T, 55, 3) -> local rotations (T, 55, 3, 3) float32."""
    aa = np.asarray(poses, dtype=np.float64)
    if aa.ndim == 2 and aa.shape[1] == 3 * NUM_JOINTS:
        aa = aa.reshape(aa.shape[0], NUM_JOINTS, 3)
    if aa.ndim != 3 or aa.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"poses must have shape (T, 165) or (T, 55, 3), got {np.shape(poses)}")
    if not flat_hand_mean:
        aa = aa.copy()
        aa[:, HAND_SLICE] += hand_mean()
    return axis_angle_to_matrix(aa).astype(np.float32)


def local_rot_to_poses(local_rot, flat_hand_mean: bool = False) -> np.ndarray:
    """Local rotations (T, 55, 3, 3) -> axis-angle ``poses`` (T, 165) float32.

    The inverse of :func:`poses_to_local_rot` (angles in [0, pi] before the hand offset).
    """
    r = np.asarray(local_rot)
    if r.ndim != 4 or r.shape[1:] != (NUM_JOINTS, 3, 3):
        raise ValueError(f"local_rot must have shape (T, 55, 3, 3), got {r.shape}")
    aa = matrix_to_axis_angle(r.astype(np.float64, copy=False))
    if not flat_hand_mean:
        aa[:, HAND_SLICE] -= hand_mean()
    return aa.reshape(r.shape[0], 3 * NUM_JOINTS).astype(np.float32)


# ---- reading ---------------------------------------------------------------------------------
def _load_arrays(path: Path, name: str) -> dict[str, np.ndarray]:
    """Every array of the npz at ``path``, or SmplxNpzError naming it ``name`` (never unpickles)."""
    return read_npz(path, SmplxNpzError, name)


def _numeric(path: str, name: str, a: np.ndarray) -> np.ndarray:
    if a.dtype.kind not in "fiu":
        raise SmplxNpzError(f"{path}: '{name}' has dtype {a.dtype}, expected numbers")
    out = a.astype(np.float64)
    if not np.all(np.isfinite(out)):
        bad = ~np.isfinite(out)
        where = ""
        if out.ndim >= 1 and out.shape[0] > 0:
            rows = np.flatnonzero(bad.reshape(out.shape[0], -1).any(axis=1))
            where = f", first at frame {int(rows[0])}" if out.ndim >= 2 else ""
        raise SmplxNpzError(
            f"{path}: '{name}' has {int(bad.sum())} non-finite value(s) (NaN or inf){where}"
        )
    return out


def _text(path: str, name: str, a: np.ndarray | None, default: str) -> str:
    if a is None:
        return default
    if a.dtype.kind in "US" and a.size == 1:
        v = a.reshape(()).item()
        return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
    raise SmplxNpzError(f"{path}: '{name}' must be a single string, got dtype {a.dtype} shape {a.shape}")


def _read_fps(path: str, arrays: dict[str, np.ndarray], fps: float | None) -> float:
    key = next((k for k in _FPS_KEYS if k in arrays), None)
    if key is None:
        if fps is None:
            raise SmplxNpzError(
                f"{path}: no frame rate ('mocap_frame_rate' or 'mocap_framerate' missing); "
                "pass the clip's frame rate explicitly"
            )
        value = fps
    else:
        a = arrays[key]
        if a.size != 1 or a.dtype.kind not in "fiu":
            raise SmplxNpzError(f"{path}: '{key}' must be a single number, got {a.dtype} {a.shape}")
        value = float(a.reshape(()))
    if not (math.isfinite(value) and value > 0):
        raise SmplxNpzError(f"{path}: frame rate must be a positive number, got {value}")
    return float(value)


def read_smplx_npz(path, flat_hand_mean: bool = False, fps: float | None = None,
                   name: str | None = None) -> SmplxMotion:
    """Read an AMASS/BEAT2-style SMPL-X ``.npz`` into a :class:`SmplxMotion`.

    flat_hand_mean: False (BEAT2, SMPL-X default) when the stored hands are offsets from the
        relaxed mean hand; True when they are absolute.
    fps: frame rate to use when the file stores none (a file's own rate always wins).

    Raises :class:`SmplxNpzError` for a missing or non-npz file, a file needing pickle,
    missing ``poses`` or frame rate, wrong shapes, non-numeric or non-finite values; its message
    starts with ``name`` (how the caller names the file, e.g. ``--pin 'wave.npz@45': wave.npz``),
    by default the path.
    """
    p = Path(path)
    label = str(p) if name is None else name
    arrays = _load_arrays(p, label)
    if "poses" not in arrays:
        have = ", ".join(sorted(arrays)) or "nothing"
        raise SmplxNpzError(f"{label}: no 'poses' array, so not an SMPL-X motion file (it holds: {have})")
    poses = _numeric(label, "poses", arrays["poses"])
    if poses.ndim == 3 and poses.shape[1:] == (NUM_JOINTS, 3):
        poses = poses.reshape(poses.shape[0], -1)
    if poses.ndim != 2 or poses.shape[1] != 3 * NUM_JOINTS:
        hint = ""
        if poses.ndim == 2 and poses.shape[1] == 156:
            hint = " (156 values per frame is SMPL+H, 52 joints: convert it to SMPL-X first)"
        elif poses.ndim == 2 and poses.shape[1] == 72:
            hint = " (72 values per frame is SMPL, 24 joints: convert it to SMPL-X first)"
        raise SmplxNpzError(f"{label}: 'poses' has shape {arrays['poses'].shape}, expected (T, 165){hint}")
    n = poses.shape[0]
    if n < 1:
        raise SmplxNpzError(f"{label}: 'poses' has no frames")
    if "trans" in arrays:
        trans = _numeric(label, "trans", arrays["trans"])
        if trans.shape != (n, 3):
            raise SmplxNpzError(f"{label}: 'trans' has shape {trans.shape}, expected ({n}, 3) to match "
                                "'poses'")
    else:
        trans = np.zeros((n, 3))
    rate = _read_fps(label, arrays, fps)
    betas = np.zeros(NUM_BETAS, dtype=np.float32)
    if "betas" in arrays:
        betas = _numeric(label, "betas", arrays["betas"])
        if betas.ndim == 2 and betas.shape[0] >= 1:  # some writers store betas per frame
            betas = betas[0]
        if betas.ndim != 1:
            raise SmplxNpzError(f"{label}: 'betas' has shape {arrays['betas'].shape}, expected (B,)")
        betas = betas.astype(np.float32)
    expressions = None
    if "expressions" in arrays:
        e = _numeric(label, "expressions", arrays["expressions"])
        if e.ndim != 2 or e.shape[0] != n:
            raise SmplxNpzError(
                f"{label}: 'expressions' has shape {e.shape}, expected ({n}, E) to match 'poses'"
            )
        expressions = e.astype(np.float32)
    return SmplxMotion(
        local_rot=poses_to_local_rot(poses, flat_hand_mean),
        trans=trans,
        fps=rate,
        betas=betas,
        gender=_text(label, "gender", arrays.get("gender"), "neutral"),
        model=_text(label, "model", arrays.get("model"), "smplx2020"),
        expressions=expressions,
        path=p,
    )


# ---- writing ---------------------------------------------------------------------------------
def _check_rotations(local_rot) -> np.ndarray:
    r = np.asarray(local_rot)
    if r.ndim != 4 or r.shape[2:] != (3, 3) or r.shape[1] not in (22, NUM_JOINTS) or r.shape[0] < 1:
        raise ValueError(
            f"local_rot must have shape (T >= 1, 55, 3, 3) or (T, 22, 3, 3), got {r.shape}"
        )
    if not np.issubdtype(r.dtype, np.number) or not np.all(np.isfinite(r)):
        raise ValueError("local_rot must be finite numbers (no NaN or inf)")
    if r.shape[1] == NUM_JOINTS:
        return r
    full = np.broadcast_to(np.eye(3, dtype=r.dtype), (r.shape[0], NUM_JOINTS, 3, 3)).copy()
    full[:, : r.shape[1]] = r
    return full


def write_smplx_npz(
    path,
    local_rot,
    trans=None,
    fps: float = 30.0,
    betas=None,
    gender: str = "neutral",
    model: str = "smplx2020",
    expressions=None,
    flat_hand_mean: bool = False,
) -> Path:
    """Write an AMASS/BEAT2-style SMPL-X ``.npz`` and return its path.

    local_rot: (T, 55, 3, 3) local rotations; (T, 22, 3, 3) body-only motion is accepted and
        the other joints (jaw, eyes, fingers) are written at rest (identity: flat hands).
    trans: (T, 3) pelvis translation (metres, Y up); default zeros.
    fps: the clip's frame rate, stored as ``mocap_frame_rate`` (an int32 when whole, as
        BEAT2 does, else a float64).
    betas: default zeros(300); expressions: default zeros((T, 100)).

    Writes ``poses`` (T, 165) float32, ``trans`` (T, 3) float64, ``betas`` float32,
    ``expressions`` float32, ``gender``, ``model``, ``mocap_frame_rate``: the keys BEAT2 files
    have, which the SMPL-X Blender add-ons and EMAGE-style code read. Hands are written as
    offsets from the mean hand unless ``flat_hand_mean``. The file is written under a temporary
    name and renamed into place. Raises ValueError on invalid input (nothing is written).
    """
    r = _check_rotations(local_rot)
    n = r.shape[0]
    t = np.zeros((n, 3)) if trans is None else np.asarray(trans, dtype=np.float64)
    if t.shape != (n, 3) or not np.all(np.isfinite(t)):
        raise ValueError(f"trans must be finite with shape ({n}, 3), got {np.shape(trans)}")
    rate = float(fps)
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    b = np.zeros(NUM_BETAS, dtype=np.float32) if betas is None else np.asarray(betas, dtype=np.float32)
    if b.ndim != 1 or not np.all(np.isfinite(b)):
        raise ValueError(f"betas must be a finite 1-D array, got shape {b.shape}")
    if expressions is None:
        e = np.zeros((n, NUM_EXPRESSIONS), dtype=np.float32)
    else:
        e = np.asarray(expressions, dtype=np.float32)
        if e.ndim != 2 or e.shape[0] != n or not np.all(np.isfinite(e)):
            raise ValueError(f"expressions must be finite with shape ({n}, E), got {e.shape}")
    fps_value = np.int32(round(rate)) if abs(rate - round(rate)) < 1e-9 else np.float64(rate)
    arrays = {
        "betas": b,
        "poses": local_rot_to_poses(r, flat_hand_mean),
        "expressions": e,
        "trans": t,
        "model": np.array(str(model)),
        "gender": np.array(str(gender)),
        "mocap_frame_rate": np.array(fps_value),
    }
    return atomic_write(path, lambda f: np.savez(f, **arrays))
