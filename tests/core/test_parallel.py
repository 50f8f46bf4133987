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


needs_openblas = pytest.mark.skipif(not parallel.blas_is_held(),
                                    reason="numpy's BLAS here is not an OpenBLAS this module can reach")


@needs_openblas
def test_blas_is_held_to_one_thread_inside_and_given_back_after():
    set_threads, get_threads = parallel._openblas()
    before = get_threads()
    seen = []
    with parallel.one_blas_thread():
        seen.append(get_threads())
        with parallel.one_blas_thread():  # nested: still one, and the outer one restores
            seen.append(get_threads())
        seen.append(get_threads())
    assert seen == [1, 1, 1] and get_threads() == before
    with parallel.one_blas_thread(active=False):
        assert get_threads() == before

    def work(a, b):
        seen.append(get_threads())

    seen.clear()
    parallel.for_each_span(work, 4, 1)  # pieces run with BLAS on one thread
    assert seen == [1, 1, 1, 1] and get_threads() == before


@needs_openblas
def test_long_inputs_split_over_the_cores_give_the_one_pass_result(monkeypatch):
    from core.audio import resample
    from core.model_file import random_model
    from core.network import SPLIT_FRAMES, Network

    rng = np.random.default_rng(4)
    net = Network(random_model(seed=2))
    feats = rng.standard_normal((SPLIT_FRAMES + 300, net.config.n_mels)).astype(np.float32)
    audio = rng.standard_normal(48000 * 3).astype(np.float32) * 0.1
    split_codes, split_audio = net.audio_encode(feats), resample(audio, 48000, 16000)
    monkeypatch.setattr(parallel, "blas_is_held", lambda: False)  # one pass, BLAS threads its own
    one_codes, one_audio = net.audio_encode(feats), resample(audio, 48000, 16000)
    np.testing.assert_allclose(split_codes, one_codes, rtol=0, atol=1e-5 * np.abs(one_codes).max())
    np.testing.assert_allclose(split_audio, one_audio, rtol=0, atol=1e-6)
    assert not np.array_equal(split_codes, np.zeros_like(split_codes))


def test_product_spans_run_in_this_thread_where_blas_cannot_be_held(monkeypatch):
    import threading

    seen = []
    monkeypatch.setattr(parallel, "blas_is_held", lambda: False)
    parallel.for_each_product_span(lambda a, b: seen.append((a, b, threading.current_thread())), 10, 4)
    assert [(a, b) for a, b, _ in seen] == [(0, 4), (4, 8), (8, 10)]
    assert all(t is threading.current_thread() for *_, t in seen)
