"""tests/quality.py: the figures tests measure pins and seams by."""

from __future__ import annotations

import numpy as np

from core.rotations import axis_angle_to_matrix
from tests.quality import frame_speeds, position_error_cm, seam_speeds


def test_position_error_and_speeds():
    rng = np.random.default_rng(4)
    aa = np.cumsum(rng.normal(0, 0.01, (60, 22, 3)), axis=0)
    rot = axis_angle_to_matrix(aa)
    assert position_error_cm(rot, rot) == 0.0
    assert position_error_cm(rot, axis_angle_to_matrix(aa + 0.1)) > 1.0
    calm = seam_speeds(rot, [30])
    assert 0.5 < calm.ratio <= 1.5
    jumped = aa.copy()
    jumped[30:] += 0.3  # a pop at frame 30
    popped = seam_speeds(axis_angle_to_matrix(jumped), [30])
    assert popped.ratio > 3 and popped.seam_peak == frame_speeds(axis_angle_to_matrix(jumped)).max()
