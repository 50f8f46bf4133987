import numpy as np
import pytest

from core import features, parallel
from core.rotations import axis_angle_to_matrix, matrix_to_quat


def test_for_each_span_covers_every_item_once_and_reraises():
    seen = np.zeros(1000, dtype=int)

    def work(a, b):
        seen[a:b] += 1

    parallel.for_each_span(work, 1000, 64)
    assert np.all(seen == 1)
    parallel.for_each_span(work, 0, 64)  # nothing to do
    assert np.all(seen == 1)

    def fails(a, b):
        if a >= 500:
            raise ValueError(f"span {a}")

    with pytest.raises(ValueError, match="span"):
        parallel.for_each_span(fails, 1000, 100)


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_results_do_not_depend_on_the_number_of_threads(monkeypatch, workers):
    rng = np.random.default_rng(0)
    audio = rng.standard_normal(16000 * 12).astype(np.float32) * 0.1
    rot = axis_angle_to_matrix(rng.standard_normal((2000, 30, 3)))
    monkeypatch.setattr(parallel, "_MAX_WORKERS", 1)
    feats, quats = features.features_for_motion(audio), matrix_to_quat(rot)
    monkeypatch.setattr(parallel, "_MAX_WORKERS", workers)
    monkeypatch.setattr(parallel, "worker_count", lambda: workers)
    np.testing.assert_array_equal(features.features_for_motion(audio), feats)
    np.testing.assert_array_equal(matrix_to_quat(rot), quats)


def test_nested_spans_run_in_the_calling_thread():
    seen = np.zeros((8, 100), dtype=int)

    def outer(a, b):
        for row in range(a, b):
            parallel.for_each_span(lambda c, d, row=row: seen[row, c:d].__iadd__(1), 100, 10)

    parallel.for_each_span(outer, 8, 1)  # would wait forever on a full pool if nested spans queued
    assert np.all(seen == 1)
