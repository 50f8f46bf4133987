"""Rotation conversions, numpy only, vectorised over any leading shape.

Conventions (see docs/DESIGN.md):

- Rotation matrices ``(..., 3, 3)`` act on column vectors (``v' = R @ v``).
- Axis-angle ``(..., 3)``: unit axis times angle in radians.
- Quaternions ``(..., 4)`` are ``(w, x, y, z)`` (Blender order). Conversions that
  produce quaternions from matrices or axis-angles return ``w >= 0``.
- 6D (Zhou et al. 2019) ``(..., 6)``: the first two **columns** of the matrix laid out
  ``[R00, R10, R20, R01, R11, R21]``; back to a matrix by Gram-Schmidt.

Every function accepts float32 or float64 and returns the same dtype (integer or other
input is treated as float64). Computation is done in float64 internally.
"""

from __future__ import annotations

import numpy as np

from .parallel import for_each_span

__all__ = [
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "quat_to_matrix",
    "matrix_to_quat",
    "axis_angle_to_quat",
    "quat_to_axis_angle",
    "matrix_to_sixd",
    "sixd_to_matrix",
    "quat_multiply",
    "quat_conjugate",
    "quat_normalize",
    "quat_make_continuous",
    "quat_slerp",
    "geodesic_angle",
    "euler_to_quat",
    "angle_axis_to_quat",
    "channel_quaternions",
]

_SMALL = 1e-6  # below this angle (rad) Taylor expansions are used
_SPAN = 32768  # matrices per piece when a large conversion is spread over the cores


def _prepare(x, last_shape: tuple[int, ...], name: str) -> tuple[np.ndarray, np.dtype]:
    """Return (float64 array, output dtype) after checking the trailing shape."""
    a = np.asarray(x)
    out_dtype = a.dtype if a.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    n = len(last_shape)
    if a.ndim < n or tuple(a.shape[a.ndim - n :]) != last_shape:
        want = "(..., " + ", ".join(str(s) for s in last_shape) + ")"
        raise ValueError(f"{name}: expected an array of shape {want}, got shape {a.shape}")
    return a.astype(np.float64, copy=False), out_dtype


def _skew(v: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3) cross-product matrix."""
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    o = np.zeros_like(x)
    return np.stack([np.stack([o, -z, y], -1), np.stack([z, o, -x], -1), np.stack([-y, x, o], -1)], -2)


def _angles(a: np.ndarray):
    """Of axis-angle vectors: (angle^2, angle, angle < _SMALL, angle with 1 where small)."""
    th2 = np.sum(a * a, axis=-1)
    th = np.sqrt(th2)
    small = th < _SMALL
    return th2, th, small, np.where(small, 1.0, th)


def axis_angle_to_matrix(aa) -> np.ndarray:
    """Axis-angle (..., 3) -> rotation matrix (..., 3, 3) (Rodrigues, stable near 0)."""
    a, dt = _prepare(aa, (3,), "axis_angle_to_matrix")
    th2, th, small, safe = _angles(a)
    # A = sin(t)/t, B = (1 - cos(t))/t^2 with Taylor series near 0
    A = np.where(small, 1.0 - th2 / 6.0, np.sin(safe) / safe)
    B = np.where(small, 0.5 - th2 / 24.0, (1.0 - np.cos(safe)) / (safe * safe))
    K = _skew(a)
    R = np.eye(3) + A[..., None, None] * K + B[..., None, None] * (K @ K)
    return R.astype(dt, copy=False)


def quat_normalize(q) -> np.ndarray:
    """Scale quaternions (..., 4) to unit length (zero quaternions become identity)."""
    a, dt = _prepare(q, (4,), "quat_normalize")
    return _qnorm(a).astype(dt, copy=False)


def _qnorm(q: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    zero = n[..., 0] == 0.0
    out = q / np.where(n == 0.0, 1.0, n)
    if np.any(zero):
        out[zero] = (1.0, 0.0, 0.0, 0.0)
    return out


def quat_to_matrix(q) -> np.ndarray:
    """Quaternion (..., 4) (w, x, y, z), normalised first -> rotation matrix (..., 3, 3)."""
    a, dt = _prepare(q, (4,), "quat_to_matrix")
    a = _qnorm(a)
    w, x, y, z = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    R = np.stack(
        [
            np.stack([1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy)], -1),
            np.stack([2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx)], -1),
            np.stack([2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy)], -1),
        ],
        -2,
    )
    return R.astype(dt, copy=False)


def _matrix_to_quat64(m: np.ndarray) -> np.ndarray:
    """Shepperd's method, float64 (..., 3, 3) -> (..., 4) unit, w >= 0.

    Most rotations (every one under 90 degrees, nearly all of a gesture's local rotations)
    pivot on w; those take a short path with the same operations (bit-identical), the rest
    go through :func:`_shepperd64`."""
    lead = m.shape[:-2]
    c = np.ascontiguousarray(m.reshape(-1, 9).T)  # (9, n): each matrix entry contiguous
    m00, m11, m22 = c[0], c[4], c[8]
    dw = 1.0 + m00 + m11 + m22
    by_w = (dw >= 1.0 + m00 - m11 - m22) & (dw >= 1.0 - m00 + m11 - m22) & (dw >= 1.0 - m00 - m11 + m22)
    if not by_w.all():
        flat = m.reshape(-1, 3, 3)
        out = np.empty((flat.shape[0], 4), dtype=np.float64)
        out[by_w] = _matrix_to_quat64(flat[by_w])
        out[~by_w] = _shepperd64(flat[~by_w])
        return out.reshape(lead + (4,))
    s = 2.0 * np.sqrt(np.maximum(dw, 1e-300))
    q = np.stack([s * s / 4.0, c[7] - c[5], c[2] - c[6], c[3] - c[1]]) / s  # (4, n)
    n = np.sqrt(((q[0] * q[0] + q[1] * q[1]) + q[2] * q[2]) + q[3] * q[3])  # as np.linalg.norm
    q /= np.where(n == 0.0, 1.0, n)
    return np.ascontiguousarray(q.T).reshape(lead + (4,))  # w = s / (4 n) > 0 already


def _shepperd64(m: np.ndarray) -> np.ndarray:
    """Shepperd's method with all four pivots, float64 (..., 3, 3) -> (..., 4) unit, w >= 0."""
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4*c^2 for c = w, x, y, z; pick the largest to divide by.
    d = np.stack(
        [
            1.0 + m00 + m11 + m22,
            1.0 + m00 - m11 - m22,
            1.0 - m00 + m11 - m22,
            1.0 - m00 - m11 + m22,
        ],
        -1,
    )
    k = np.argmax(d, axis=-1)
    s = 2.0 * np.sqrt(np.maximum(np.take_along_axis(d, k[..., None], -1)[..., 0], 1e-300))
    # rows: the quaternion (times s) for each choice of pivot
    cand = np.stack(
        [
            np.stack([s * s / 4.0, m21 - m12, m02 - m20, m10 - m01], -1),
            np.stack([m21 - m12, s * s / 4.0, m01 + m10, m02 + m20], -1),
            np.stack([m02 - m20, m01 + m10, s * s / 4.0, m12 + m21], -1),
            np.stack([m10 - m01, m02 + m20, m12 + m21, s * s / 4.0], -1),
        ],
        -2,
    )
    q = np.take_along_axis(cand, k[..., None, None], -2)[..., 0, :] / s[..., None]
    q = _qnorm(q)
    return np.where(q[..., :1] < 0.0, -q, q)


def matrix_to_quat(R) -> np.ndarray:
    """Rotation matrix (..., 3, 3) -> unit quaternion (..., 4) (w, x, y, z) with w >= 0."""
    m, dt = _prepare(R, (3, 3), "matrix_to_quat")
    if m.size < 9 * _SPAN:
        return _matrix_to_quat64(m).astype(dt, copy=False)
    flat = m.reshape(-1, 3, 3)
    out = np.empty((flat.shape[0], 4), dtype=dt)

    def span(a: int, b: int) -> None:
        out[a:b] = _matrix_to_quat64(flat[a:b])

    for_each_span(span, flat.shape[0], _SPAN)  # spans of matrices on the cores, as one pass
    return out.reshape(m.shape[:-2] + (4,))


def axis_angle_to_quat(aa) -> np.ndarray:
    """Axis-angle (..., 3) -> unit quaternion (..., 4) (w, x, y, z) with w >= 0."""
    a, dt = _prepare(aa, (3,), "axis_angle_to_quat")
    th2, th, small, safe = _angles(a)
    s = np.where(small, 0.5 - th2 / 48.0, np.sin(0.5 * safe) / safe)  # sin(t/2)/t
    q = np.concatenate([np.cos(0.5 * th)[..., None], a * s[..., None]], -1)
    q = np.where(q[..., :1] < 0.0, -q, q)  # angles > pi
    return q.astype(dt, copy=False)


def _quat_to_axis_angle64(q: np.ndarray) -> np.ndarray:
    q = _qnorm(q)
    q = np.where(q[..., :1] < 0.0, -q, q)  # angle in [0, pi]
    w = q[..., 0]
    v = q[..., 1:]
    sn = np.linalg.norm(v, axis=-1)
    angle = 2.0 * np.arctan2(sn, w)
    small = sn < _SMALL
    # angle / sin(angle/2); near 0 this is 2/w * (1 + sn^2/(6 w^2)) ~ 2/w
    f = np.where(small, 2.0 / np.maximum(w, 1e-12), angle / np.where(small, 1.0, sn))
    return v * f[..., None]


def quat_to_axis_angle(q) -> np.ndarray:
    """Quaternion (..., 4) (w, x, y, z) -> axis-angle (..., 3) with angle in [0, pi]."""
    a, dt = _prepare(q, (4,), "quat_to_axis_angle")
    return _quat_to_axis_angle64(a).astype(dt, copy=False)


def matrix_to_axis_angle(R) -> np.ndarray:
    """Rotation matrix (..., 3, 3) -> axis-angle (..., 3), angle in [0, pi].

    Goes through the quaternion (Shepperd + atan2), which is robust near 0 and near pi.
    """
    m, dt = _prepare(R, (3, 3), "matrix_to_axis_angle")
    return _quat_to_axis_angle64(_matrix_to_quat64(m)).astype(dt, copy=False)


def matrix_to_sixd(R) -> np.ndarray:
    """Rotation matrix (..., 3, 3) -> 6D (..., 6) = [R00, R10, R20, R01, R11, R21]."""
    m, dt = _prepare(R, (3, 3), "matrix_to_sixd")
    return np.concatenate([m[..., :, 0], m[..., :, 1]], -1).astype(dt, copy=False)


def sixd_to_matrix(d6) -> np.ndarray:
    """6D (..., 6) -> rotation matrix (..., 3, 3) by Gram-Schmidt.

    b1 = normalise(a1), b2 = normalise(a2 - (b1 . a2) b1), b3 = b1 x b2; the columns of
    the result are (b1, b2, b3), so any (non-degenerate) input gives a proper rotation.
    Computed component by component on (...,)-shaped arrays (float64), which is several
    times faster than vector operations over a trailing axis of 3 and gives the same bits.
    """
    x, dt = _prepare(d6, (6,), "sixd_to_matrix")
    eps = 1e-12
    ax, ay, az, bx, by, bz = (x[..., i] for i in range(6))
    n1 = np.maximum(np.sqrt(ax * ax + ay * ay + az * az), eps)
    b1 = (ax / n1, ay / n1, az / n1)
    dot = b1[0] * bx + b1[1] * by + b1[2] * bz
    u = (bx - dot * b1[0], by - dot * b1[1], bz - dot * b1[2])
    n2 = np.maximum(np.sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]), eps)
    b2 = (u[0] / n2, u[1] / n2, u[2] / n2)
    b3 = (b1[1] * b2[2] - b1[2] * b2[1], b1[2] * b2[0] - b1[0] * b2[2], b1[0] * b2[1] - b1[1] * b2[0])
    out = np.empty(x.shape[:-1] + (3, 3), dtype=dt)
    for col, b in enumerate((b1, b2, b3)):
        for row in range(3):
            out[..., row, col] = b[row]
    return out


def quat_multiply(q1, q2) -> np.ndarray:
    """Hamilton product q1 * q2 of (..., 4) quaternions (broadcasting); rotates by q2 first."""
    a, dt1 = _prepare(q1, (4,), "quat_multiply")
    b, dt2 = _prepare(q2, (4,), "quat_multiply")
    w1, x1, y1, z1 = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    w2, x2, y2, z2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    q = np.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        -1,
    )
    return q.astype(np.promote_types(dt1, dt2), copy=False)


def quat_conjugate(q) -> np.ndarray:
    """Conjugate (w, -x, -y, -z) of (..., 4) quaternions (the inverse for unit ones)."""
    a, dt = _prepare(q, (4,), "quat_conjugate")
    return (a * np.array([1.0, -1.0, -1.0, -1.0])).astype(dt, copy=False)


def quat_make_continuous(q, axis: int = 0) -> np.ndarray:
    """Flip quaternion signs so consecutive ones along ``axis`` lie in the same hemisphere.

    ``q`` is (..., 4); ``axis`` indexes a leading dimension (time, usually 0). The first
    quaternion keeps its sign; each later one is negated where its dot product with the
    (already fixed) previous one would be negative. Rotations are unchanged.
    """
    a, dt = _prepare(q, (4,), "quat_make_continuous")
    if a.ndim < 2:
        raise ValueError(f"quat_make_continuous: need (..., 4) with a time axis, got {a.shape}")
    lead = a.ndim - 1
    if not -lead <= axis < lead:
        raise ValueError(f"quat_make_continuous: axis {axis} out of range for shape {a.shape}")
    a = np.moveaxis(a, axis % lead, 0)
    if a.shape[0] > 1:
        d = np.sum(a[1:] * a[:-1], axis=-1)
        step = np.where(d < 0.0, -1.0, 1.0)
        sign = np.concatenate([np.ones_like(step[:1]), np.cumprod(step, axis=0)], 0)
        a = a * sign[..., None]
    return np.moveaxis(a, 0, axis % lead).astype(dt, copy=False)


def quat_slerp(q0, q1, t) -> np.ndarray:
    """Spherical linear interpolation, shortest path, vectorised with broadcasting.

    q0, q1: (..., 4) quaternions (normalised first); t: scalar or array broadcastable to
    the leading shape. t = 0 gives q0, t = 1 gives +-q1 (same hemisphere as q0). Falls back
    to normalised lerp when q0 ~= q1. The result is not forced to w >= 0 (so that a sequence
    stays continuous).
    """
    a, dt0 = _prepare(q0, (4,), "quat_slerp")
    b, dt1 = _prepare(q1, (4,), "quat_slerp")
    tt = np.asarray(t, dtype=np.float64)[..., None]
    a, b = _qnorm(a), _qnorm(b)
    d = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(d < 0.0, -b, b)
    d = np.abs(d)
    near = d > 0.9995
    th = np.arccos(np.clip(d, -1.0, 1.0))
    sin_th = np.where(near, 1.0, np.sin(th))
    w0 = np.where(near, 1.0 - tt, np.sin((1.0 - tt) * th) / sin_th)
    w1 = np.where(near, tt, np.sin(tt * th) / sin_th)
    q = _qnorm(w0 * a + w1 * b)
    return q.astype(np.promote_types(dt0, dt1), copy=False)


def geodesic_angle(Ra, Rb) -> np.ndarray:
    """Angle in radians (...,) of the relative rotation Ra^T Rb, in [0, pi].

    Uses atan2(|vee(M - M^T)| / 2, (tr M - 1) / 2), accurate near 0 and near pi.
    """
    a, dta = _prepare(Ra, (3, 3), "geodesic_angle")
    b, dtb = _prepare(Rb, (3, 3), "geodesic_angle")
    m = np.swapaxes(a, -1, -2) @ b
    c = 0.5 * (m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2] - 1.0)
    v = np.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1)
    s = 0.5 * np.linalg.norm(v, axis=-1)
    return np.arctan2(s, c).astype(np.promote_types(dta, dtb), copy=False)


# ---- Blender's rotation channels ---------------------------------------------------------------
_AXES = {"X": np.array([1.0, 0, 0]), "Y": np.array([0, 1.0, 0]), "Z": np.array([0, 0, 1.0])}


def _axis_quat(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    half = 0.5 * np.asarray(angle, dtype=np.float64)
    return np.concatenate([np.cos(half)[..., None], np.sin(half)[..., None] * axis], -1)


def euler_to_quat(angles, order: str = "XYZ") -> np.ndarray:
    """Blender Euler angles (..., 3) (radians, x y z) in rotation ``order`` -> (..., 4) (w, x, y, z).

    Order "XYZ" turns about X first, then Y, then Z (R = Rz @ Ry @ Rx), as Blender does.
    """
    a = np.asarray(angles, dtype=np.float64)
    if len(order) != 3 or sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"Euler order must be a permutation of XYZ, got {order!r}")
    index = {"X": 0, "Y": 1, "Z": 2}
    q = None
    for ax in order:
        step = _axis_quat(_AXES[ax], a[..., index[ax]])
        q = step if q is None else quat_multiply(step, q)
    return q


def angle_axis_to_quat(values) -> np.ndarray:
    """Blender's axis-angle channels (..., 4) in its order (angle, x, y, z) -> quaternions (..., 4)."""
    v = np.asarray(values, dtype=np.float64)
    axis = v[..., 1:]
    norm = np.linalg.norm(axis, axis=-1, keepdims=True)
    axis = np.where(norm > 1e-12, axis / np.maximum(norm, 1e-12), np.array([0.0, 1.0, 0.0]))
    return _axis_quat(axis, v[..., 0])


#: Quaternions shorter than this after conversion count as "no rotation" (identity).
CHANNEL_MIN_NORM = 1e-9


def channel_quaternions(kind: str, values, euler_order: str = "XYZ") -> np.ndarray:
    """Unit quaternions (..., 4) of a bone's Blender rotation channel values (..., width).

    ``kind``: ``"rotation_quaternion"`` (w, x, y, z), ``"rotation_euler"`` (x, y, z in
    ``euler_order``) or ``"rotation_axis_angle"`` (angle, x, y, z). The result is scaled to unit
    length, as Blender shows the pose; one shorter than :data:`CHANNEL_MIN_NORM` (all channels 0)
    is the identity."""
    if kind == "rotation_quaternion":
        q = np.asarray(values, dtype=np.float64)
    elif kind == "rotation_euler":
        q = euler_to_quat(values, euler_order)
    elif kind == "rotation_axis_angle":
        q = angle_axis_to_quat(values)
    else:
        raise ValueError(f"channel_quaternions: unknown rotation channel {kind!r}")
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    identity = np.array([1.0, 0.0, 0.0, 0.0])
    return np.where(norm > CHANNEL_MIN_NORM, q / np.maximum(norm, CHANNEL_MIN_NORM), identity)
