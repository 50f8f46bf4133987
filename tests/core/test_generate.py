"""core/generate.py with random-weight models (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import ModelConfig
from core.generate import FADE_FRAMES, Pin, ResampleRange, _crossfade, fade_weights, generate
from core.model_file import random_model
from core.network import Network
from core.rotations import geodesic_angle, matrix_to_sixd, sixd_to_matrix
from tests.core.conftest import N_FRAMES  # noqa: E402

T = N_FRAMES  # the shared features' length (tests/core/conftest.py)


@pytest.fixture(scope="module")
def base(net, feats):
    return generate(net, feats, seed=5)


def _pose_clip(n, seed=0):
    rng = np.random.default_rng(seed)
    return sixd_to_matrix(rng.standard_normal((n, 22, 6))).astype(np.float32)


def _angles(a, b):
    """Per-frame max joint angle (rad) between two (n, 22, 3, 3) motions."""
    return geodesic_angle(a.astype(np.float64), b.astype(np.float64)).max(axis=1)


# ---- basics --------------------------------------------------------------------------------
def test_shape_dtype_and_valid_rotations(base):
    assert base.shape == (T, 22, 3, 3) and base.dtype == np.float32
    eye = np.einsum("...ji,...jk->...ik", base, base)
    np.testing.assert_allclose(eye, np.broadcast_to(np.eye(3), eye.shape), atol=1e-5)
    np.testing.assert_allclose(np.linalg.det(base), 1.0, atol=1e-5)


def test_deterministic(net, feats, base):
    np.testing.assert_array_equal(generate(net, feats, seed=5), base)
    pins = [Pin(30, 50, _pose_clip(20))]
    ranges = [ResampleRange(100, 140, 3)]
    a = generate(net, feats, 5, pins, ranges)
    b = generate(Network(random_model(seed=11)), feats.copy(), 5, pins, ranges)
    np.testing.assert_array_equal(a, b)


def test_check_cancel_is_called_between_stages_and_can_stop(net, feats, base):
    """``check_cancel`` runs between the stages (4, plus one per resample range), leaves the
    result as it was, and whatever it raises stops the generation (the extension's Esc)."""
    calls = []
    out = generate(net, feats, seed=5, check_cancel=lambda: calls.append(1),
                   resamples=[ResampleRange(5, 15, 1), ResampleRange(20, 30, 2)])
    assert len(calls) == 6
    np.testing.assert_array_equal(generate(net, feats, seed=5, check_cancel=lambda: None), base)
    np.testing.assert_array_equal(out[:3], base[:3])  # before the first range's context

    class Stop(Exception):
        pass

    for stage in range(4):
        seen = []

        def check(stage=stage, seen=seen):
            seen.append(1)
            if len(seen) > stage:
                raise Stop()

        with pytest.raises(Stop):
            generate(net, feats, seed=5, check_cancel=check)
        assert len(seen) == stage + 1


def test_loaded_model_is_accepted(feats, base):
    np.testing.assert_array_equal(generate(random_model(seed=11), feats, 5), base)


def test_different_seeds_differ(net, feats, base):
    other = generate(net, feats, seed=6)
    assert np.median(_angles(base, other)) > 0.05  # rad, over most frames


def test_follows_the_documented_sampling_recipe(net, feats, base):
    """Recompute DESIGN.md's recipe by hand from the Network's four functions."""
    rng = np.random.default_rng(5)
    k = rng.integers(net.code_mean.shape[0])
    noise = net.code_mean[k] + net.code_std[k] * rng.standard_normal((T, 16))
    mu, logvar = net.map_noise(noise.astype(np.float32))
    code = mu + np.exp(0.5 * logvar) * rng.standard_normal((T, 16))
    shared = net.audio_encode((feats - net.feature_mean) / net.feature_std)
    expected = sixd_to_matrix(net.decode(shared, code).reshape(T, 22, 6))
    np.testing.assert_allclose(base, expected, atol=1e-5)


def test_single_frame(net, feats):
    out = generate(net, feats[:1], seed=0, pins=[Pin(0, 1, _pose_clip(1))],
                   resamples=[ResampleRange(0, 1, 2)])
    assert out.shape == (1, 22, 3, 3)


@pytest.mark.parametrize("config", [ModelConfig(use_mapping=False),
                                    ModelConfig(specific_dim=0, use_mapping=False)],
                         ids=["no-mapping", "no-split"])
def test_ablation_models(config, feats):
    net = Network(random_model(config, seed=1))
    a = generate(net, feats, 1, resamples=[ResampleRange(50, 90, 4)])
    assert a.shape == (T, 22, 3, 3)
    np.testing.assert_array_equal(a, generate(net, feats, 1, resamples=[ResampleRange(50, 90, 4)]))
    if config.specific_dim == 0:
        # No specific code: the seed has no effect and pins cannot work.
        np.testing.assert_array_equal(generate(net, feats, 1), generate(net, feats, 2))
        with pytest.raises(ValueError, match="specific"):
            generate(net, feats, 1, pins=[Pin(0, 5, _pose_clip(5))])
    else:
        assert np.median(_angles(generate(net, feats, 1), generate(net, feats, 2))) > 0.05


# ---- resample ranges -------------------------------------------------------------------------
@pytest.mark.parametrize("span", [(100, 140), (0, 30), (200, T), (120, 121), (60, 63), (0, T)])
def test_resample_outside_is_bit_identical(net, feats, base, span):
    a, b = span
    out = generate(net, feats, 5, resamples=[ResampleRange(a, b, 99)])
    np.testing.assert_array_equal(out[:a], base[:a])
    np.testing.assert_array_equal(out[b:], base[b:])
    assert _angles(out[a:b], base[a:b]).max() > 0.05  # something did change inside


def test_resample_ranges_are_independent(net, feats, base):
    r1, r2 = ResampleRange(20, 60, 1), ResampleRange(60, 61, 2)
    r3 = ResampleRange(150, 200, 3)
    both = generate(net, feats, 5, resamples=[r3, r1, r2])
    only1 = generate(net, feats, 5, resamples=[r1])
    only3 = generate(net, feats, 5, resamples=[r3])
    np.testing.assert_array_equal(both[20:60], only1[20:60])
    np.testing.assert_array_equal(both[150:200], only3[150:200])
    mask = np.ones(T, bool)
    mask[20:61] = mask[150:200] = False
    np.testing.assert_array_equal(both[mask], base[mask])


def test_resample_seed_matters_and_global_seed_gives_context(net, feats):
    a = generate(net, feats, 5, resamples=[ResampleRange(100, 160, 1)])
    b = generate(net, feats, 5, resamples=[ResampleRange(100, 160, 2)])
    assert np.median(_angles(a[110:150], b[110:150])) > 0.05
    np.testing.assert_array_equal(a[:100], b[:100])


def test_resample_middle_is_new_motion_and_edges_fade(net, feats, base):
    """Deep inside the range the output is the new decode; at the edges it is a blend."""
    a, b = 80, 160
    out = generate(net, feats, 5, resamples=[ResampleRange(a, b, 7)])
    w = fade_weights(b - a)
    assert np.all(w[FADE_FRAMES: b - a - FADE_FRAMES] == 1.0)
    step_in = _angles(out[a - 1: a], out[a: a + 1])[0]  # seam step
    jump = _angles(base[a: a + 1], out[a + FADE_FRAMES: a + FADE_FRAMES + 1])[0]
    assert step_in < jump  # the first frame moved only part of the way


def test_fade_weights():
    for n in (1, 2, 3, 7, 16, 17, 100):
        w = fade_weights(n)
        assert w.shape == (n,)
        assert np.all(w > 0) and np.all(w <= 1)
        np.testing.assert_allclose(w, w[::-1])
        half = w[: (n + 1) // 2]
        assert np.all(np.diff(half) >= 0)
        assert w[0] < 0.6
    assert fade_weights(100)[0] < 0.05 and np.sum(fade_weights(100) < 1) == 2 * FADE_FRAMES


def test_crossfade_is_slerp():
    rng = np.random.default_rng(2)
    n = 12
    old = sixd_to_matrix(rng.standard_normal((n, 22, 6))).astype(np.float32)
    new = sixd_to_matrix(rng.standard_normal((n, 22, 6))).astype(np.float32)
    out = _crossfade(old, new)
    w = fade_weights(n)
    total = geodesic_angle(old.astype(np.float64), new.astype(np.float64))
    part = geodesic_angle(old.astype(np.float64), out.astype(np.float64))
    rest = geodesic_angle(out.astype(np.float64), new.astype(np.float64))
    np.testing.assert_allclose(part, w[:, None] * total, atol=2e-3)
    np.testing.assert_allclose(part + rest, total, atol=2e-3)  # on the geodesic


# ---- pins ------------------------------------------------------------------------------------
def test_pin_uses_the_reference_specific_code(net, feats):
    a, b = 100, 130
    clip = _pose_clip(b - a, seed=3)
    out = generate(net, feats, 5, pins=[Pin(a, b, clip)])
    # Expected: the sampled code with frames [a, b) replaced by f_M(clip)'s specific mean.
    rng = np.random.default_rng(5)
    k = rng.integers(net.code_mean.shape[0])
    noise = net.code_mean[k] + net.code_std[k] * rng.standard_normal((T, 16))
    mu, logvar = net.map_noise(noise.astype(np.float32))
    code = (mu + np.exp(0.5 * logvar) * rng.standard_normal((T, 16))).astype(np.float32)
    # blended from the sampled code into the pin's over FADE_FRAMES at each edge
    w = fade_weights(b - a)[:, None].astype(np.float32)
    pinned = net.motion_encode(matrix_to_sixd(clip).reshape(b - a, 132))[2]
    code[a:b] = w * pinned + (1 - w) * code[a:b]
    assert np.all(w[FADE_FRAMES:-FADE_FRAMES] == 1.0)  # the pin's middle is exactly its code
    shared = net.audio_encode(net.normalise_features(feats))
    expected = sixd_to_matrix(net.decode(shared, code).reshape(T, 22, 6))
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_pin_changes_only_its_neighbourhood(net, feats, base):
    a, b = 100, 130
    out = generate(net, feats, 5, pins=[Pin(a, b, _pose_clip(b - a, seed=3))])
    r = net.config.receptive_radius("decoder")
    assert np.median(_angles(out[a:b], base[a:b])) > 0.05
    far = np.r_[0: a - r, b + r: T]
    np.testing.assert_allclose(out[far], base[far], atol=1e-6)


def test_pins_survive_inside_a_resample_range(net, feats):
    pin = Pin(105, 135, _pose_clip(30, seed=4))
    ranges = [ResampleRange(90, 170, 8)]
    with_pin = generate(net, feats, 5, pins=[pin], resamples=ranges)
    # Redrawing with another range seed changes the unpinned frames, not the pinned code:
    other = generate(net, feats, 5, pins=[pin], resamples=[ResampleRange(90, 170, 9)])
    assert _angles(with_pin[116:124], other[116:124]).max() < _angles(with_pin[145:160], other[145:160]).max()


# ---- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(pins=[Pin(10, 20, np.tile(np.eye(3), (10, 22, 1, 1))),
                    Pin(15, 25, np.tile(np.eye(3), (10, 22, 1, 1)))]),
         "overlap"),
        (dict(pins=[Pin(T - 5, T + 5, np.tile(np.eye(3), (10, 22, 1, 1)))]), "ends after"),
        (dict(pins=[Pin(0, 5, np.tile(np.eye(3), (5, 21, 1, 1)))]), "joints"),
        (dict(resamples=[ResampleRange(T - 1, T + 1, 0)]), "ends after"),
        (dict(resamples=[ResampleRange(10, 30, 0), ResampleRange(29, 40, 1)]), "overlap"),
        (dict(resamples=[(10, 20, 0)]), "ResampleRange"),
        (dict(pins=[ResampleRange(10, 20, 0)]), "Pin"),
        (dict(seed=-1), "seed"),
        (dict(seed=1.5), "seed"),
        (dict(seed=True), "seed"),
        (dict(check_cancel=5), "check_cancel"),
    ],
)
def test_generate_validation(net, feats, kwargs, match):
    args = dict(seed=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        generate(net, feats, **args)


@pytest.mark.parametrize("bad", [np.zeros((0, 64)), np.zeros((10, 65)), np.zeros(64)])
def test_bad_features(net, bad):
    with pytest.raises(ValueError, match="features"):
        generate(net, bad, 0)


def test_non_finite_features(net, feats):
    f = feats.copy()
    f[3, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        generate(net, f, 0)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ResampleRange(10, 10, 0), "empty"),
        (lambda: ResampleRange(10, 5, 0), "empty"),
        (lambda: ResampleRange(-1, 5, 0), ">= 0"),
        (lambda: ResampleRange(0, 5, -3), "seed"),
        (lambda: ResampleRange(0.5, 5, 1), "ints"),
        (lambda: Pin(3, 3, np.zeros((0, 22, 3, 3))), "empty"),
        (lambda: Pin(0, 4, np.zeros((5, 22, 3, 3))), "shape"),
        (lambda: Pin(0, 4, np.zeros((4, 22, 6))), "shape"),
        (lambda: Pin(0, 1, np.full((1, 22, 3, 3), np.inf)), "finite"),
    ],
)
def test_span_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ---- sampling options: smoothed noise and output low-pass ------------------------------------
@pytest.fixture(scope="module")
def smooth_net():
    config = ModelConfig(noise_smoothing=4, output_smoothing=1)
    return Network(random_model(config, seed=11))


def test_output_smoothing_lowers_jerk_and_keeps_resample_identity(smooth_net, feats):
    raw = Network(random_model(ModelConfig(noise_smoothing=4), seed=11))
    a, b = generate(raw, feats, 5), generate(smooth_net, feats, 5)

    def jerk(rot):
        return np.abs(np.diff(matrix_to_sixd(rot.astype(np.float64)), 3, axis=0)).mean()

    assert jerk(b) < 0.5 * jerk(a)
    # the filter is a low-pass of the same motion, not new motion
    assert np.median(_angles(a, b)) < np.median(_angles(a, generate(raw, feats, 6)))
    out = generate(smooth_net, feats, 5, resamples=[ResampleRange(100, 140, 99)])
    np.testing.assert_array_equal(out[:100], b[:100])
    np.testing.assert_array_equal(out[140:], b[140:])
    np.testing.assert_array_equal(generate(smooth_net, feats, 5), b)  # deterministic
