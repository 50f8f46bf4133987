"""core/framing.py: the preview's framing box, its stills and the strip of them."""

from __future__ import annotations

import numpy as np

from core.framing import bounding_box, side_by_side, still_frames


def test_bounding_box_lowest_and_highest_corner():
    low, high = bounding_box([(1.0, -2.0, 0.5), (-1.0, 3.0, 0.25), (0.0, 0.0, 2.0)])
    np.testing.assert_array_equal(low, [-1.0, -2.0, 0.25])
    np.testing.assert_array_equal(high, [1.0, 3.0, 2.0])


def test_still_frames_spread_over_the_range_each_once():
    assert still_frames(1, 100, 4) == [1, 34, 67, 100]
    assert still_frames(10, 12, 6) == [10, 11, 12]  # fewer frames than stills asked for
    assert still_frames(5, 50, 0) == [5]  # at least one
    assert still_frames(7, 7, 3) == [7]


def test_side_by_side_lays_tiles_left_to_right():
    a = np.zeros((2, 3, 4), dtype=np.float32)
    b = np.ones((2, 1, 4), dtype=np.float32)
    sheet = side_by_side([a, b])
    assert sheet.shape == (2, 4, 4) and sheet.dtype == np.float32
    np.testing.assert_array_equal(sheet[:, :3], a)
    np.testing.assert_array_equal(sheet[:, 3:], b)
