"""core/prior.py and generate's priors and intensity, with random-weight models (numpy only)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from core.generate import Pin, ResampleRange, generate
from core.model_file import V2_FIELDS, ModelFileError, load_model, random_model, save_model
from core.network import Network
from core.noise import filtered_noise
from core.prior import (
    FADE,
    PRIORS,
    SEGMENT,
    PriorError,
    RetrievalPrior,
    fit_gaussian,
    kernel_for_correlation,
    retrieval_arrays,
)
from core.rotations import sixd_to_matrix
from tests.core.conftest import N_FRAMES  # noqa: E402

T = N_FRAMES  # the shared features' length (tests/core/conftest.py)


def _autocorr(x: np.ndarray, lag: int) -> float:
    x = x - x.mean(0)
    return float(np.sum(x[:-lag] * x[lag:]) / np.sum(x * x))


# ---- fitting ----------------------------------------------------------------------------------
def test_gaussian_fit_recovers_covariance_and_temporal_correlation():
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((4, 4))
    kernel = np.hanning(21)
    kernel /= np.sqrt(np.sum(kernel * kernel))
    codes = [2.0 + filtered_noise(rng, 4000, 4, kernel) @ mix.T for _ in range(3)]
    fitted = fit_gaussian(codes, max_lag=40)
    np.testing.assert_allclose(fitted["prior_mean"], 2.0, atol=0.25)
    cov = fitted["prior_chol"] @ fitted["prior_chol"].T
    np.testing.assert_allclose(cov, mix @ mix.T, rtol=0.2, atol=0.2 * np.abs(mix @ mix.T).max())
    # samples have the data's lag correlation (Hann taper: slightly below at long lags)
    from core.prior import GaussianPrior
    sample = GaussianPrior(fitted).sample(20000, np.random.default_rng(1))
    data = np.concatenate(codes)
    for lag in (3, 6, 10):
        assert abs(_autocorr(sample, lag) - _autocorr(data, lag)) < 0.08, lag


def test_kernel_for_correlation_has_that_correlation():
    acf = np.exp(-np.arange(31) / 8.0) * np.hanning(64)[32:63]
    k = kernel_for_correlation(acf)
    assert k.size == 61 and abs(np.sum(k * k) - 1) < 1e-12
    realised = [np.sum(k[: k.size - lag] * k[lag:]) for lag in range(31)]
    np.testing.assert_allclose(realised, acf / acf[0], atol=0.03)


def test_retrieval_arrays_refuse_short_or_mismatched_clips():
    with pytest.raises(PriorError, match=f"{SEGMENT} frames"):
        retrieval_arrays([np.zeros((SEGMENT - 1, 4))], [np.zeros((SEGMENT - 1, 2))])
    with pytest.raises(PriorError, match="audio frames"):
        retrieval_arrays([np.zeros((SEGMENT + 10, 4))], [np.zeros((SEGMENT, 2))])


# ---- sampling through generate -----------------------------------------------------------------
@pytest.mark.parametrize("prior", PRIORS)
def test_each_prior_is_deterministic_per_seed_and_seeds_differ(net, feats, prior):
    a = generate(net, feats, 4, prior=prior)
    np.testing.assert_array_equal(a, generate(Network(random_model(seed=11)), feats.copy(), 4, prior=prior))
    assert a.shape == (T, 22, 3, 3) and np.isfinite(a).all()
    assert np.abs(a - generate(net, feats, 5, prior=prior)).max() > 1e-3


def test_priors_differ_from_each_other(net, feats):
    outs = {p: generate(net, feats, 4, prior=p) for p in PRIORS}
    for i, p in enumerate(PRIORS):
        for q in PRIORS[i + 1:]:
            assert np.abs(outs[p] - outs[q]).max() > 1e-3, (p, q)


def test_default_prior_is_the_configs(feats):
    loaded = random_model(seed=11)
    retrieval = dataclasses.replace(loaded, config=dataclasses.replace(loaded.config, code_prior="retrieval"))
    np.testing.assert_array_equal(generate(retrieval, feats, 2),
                                  generate(loaded, feats, 2, prior="retrieval"))


@pytest.mark.parametrize("prior", PRIORS)
@pytest.mark.parametrize("span", [(0, 40), (100, 160), (200, T)])
def test_resample_outside_is_bit_identical_with_each_prior(net, feats, prior, span):
    base = generate(net, feats, 7, prior=prior, intensity=1.3)
    out = generate(net, feats, 7, resamples=[ResampleRange(*span, seed=9)], prior=prior, intensity=1.3)
    a, b = span
    np.testing.assert_array_equal(out[:a], base[:a])
    np.testing.assert_array_equal(out[b:], base[b:])
    assert np.abs(out[a:b] - base[a:b]).max() > 1e-3


@pytest.mark.parametrize("prior", PRIORS)
def test_pins_work_with_each_prior(net, feats, prior):
    clip = sixd_to_matrix(np.random.default_rng(2).standard_normal((30, 22, 6))).astype(np.float32)
    base = generate(net, feats, 7, prior=prior)
    pinned = generate(net, feats, 7, pins=[Pin(100, 130, clip)], prior=prior)
    assert np.abs(pinned[100:130] - base[100:130]).max() > 1e-3
    np.testing.assert_array_equal(pinned[:20], base[:20])  # beyond the decoder's reach: untouched


def _code_deviation(net, feats, prior, intensity):
    """How far the sampled code strays from the prior's mean (what intensity scales)."""
    from core.generate import _Sampler
    s = _Sampler(net, prior, intensity)
    shared = net.audio_encode(net.normalise_features(feats))
    _, code = s.sample(len(feats), shared, np.random.default_rng(0))
    return float(np.abs(code - s.centre).mean())


@pytest.mark.parametrize("prior", PRIORS)
def test_intensity_scales_the_code(net, feats, prior):
    """The code's deviation from the prior's mean (the paper prior: its own mean) scales exactly
    with intensity (that the motion then grows with it is a property of a trained decoder:
    tests/core/test_bundled_model.py)."""
    devs = [_code_deviation(net, feats, prior, k) for k in (0.5, 1.0, 1.5)]
    np.testing.assert_allclose(devs, [0.5 * devs[1], devs[1], 1.5 * devs[1]], rtol=1e-5)
    assert np.abs(generate(net, feats, 4, prior=prior, intensity=0.5)
                  - generate(net, feats, 4, prior=prior)).max() > 1e-3
    np.testing.assert_array_equal(generate(net, feats, 4, prior=prior, intensity=1.0),
                                  generate(net, feats, 4, prior=prior))


@pytest.mark.parametrize("bad", [0, -1.0, 3.5, float("nan"), "1", True])
def test_intensity_validation(net, feats, bad):
    with pytest.raises(ValueError, match="intensity"):
        generate(net, feats, 0, intensity=bad)


def test_unknown_prior_is_refused(net, feats):
    with pytest.raises(ValueError, match="unknown code prior 'flow'"):
        generate(net, feats, 0, prior="flow")


def test_missing_prior_arrays_are_named(feats):
    loaded = dataclasses.replace(random_model(seed=11), prior={})
    with pytest.raises(PriorError, match="no 'retrieval' prior.*paper"):
        generate(loaded, feats, 0, prior="retrieval")
    assert np.isfinite(generate(loaded, feats, 0, prior="paper")).all()


# ---- retrieval: real segments, no reuse within a take ---------------------------------------
def _toy_store(n_clips=4, frames=800, seed=0):
    """Stored codes (random walks) and audio codes (white) of ``n_clips`` clips."""
    rng = np.random.default_rng(seed)
    codes = [rng.standard_normal((frames, 3)).cumsum(0) * 0.1 for _ in range(n_clips)]
    shared = [rng.standard_normal((frames, 2)) for _ in range(n_clips)]
    arrays = {k: np.asarray(v, np.float32) for k, v in retrieval_arrays(codes, shared).items()}
    return RetrievalPrior(arrays), arrays["prior_shared"]


def test_retrieval_copies_real_segments_and_never_reuses_one_within_a_take():
    prior, _ = _toy_store()
    n = 1200  # 9 segments; the store has 4 * 800 frames (about 20 disjoint segments)
    target = np.random.default_rng(5).standard_normal((n, 2)).astype(np.float32)
    code = prior.sample(n, np.random.default_rng(1), target)
    hop = SEGMENT - FADE
    starts = []
    for k in range(0, n - SEGMENT, hop):  # each segment's unfaded middle is a stored stretch
        middle = code[k + FADE:k + SEGMENT - FADE]
        d = [np.abs(prior.codes[s:s + len(middle)] - middle).max()
             for s in range(len(prior.codes) - len(middle))]
        best = int(np.argmin(d))
        assert d[best] < 1e-5
        starts.append(best - FADE)
    assert np.all(np.diff(np.sort(starts)) >= SEGMENT)  # no stored segment (or part of one) used twice


def test_retrieval_follows_the_audio_code():
    """Asked for audio that is a stored stretch's own audio, retrieval returns that stretch's
    code for a good share of the seeds (a pick is drawn with probability exp(-cost /
    TEMPERATURE): the exact match costs 0; its neighbours, shifted by a frame or two, share
    most of its audio code and cost little more, every other stretch far more)."""
    prior, shared = _toy_store()
    start = int(prior.starts[40])
    hits = 0
    for seed in range(30):
        code = prior.sample(SEGMENT, np.random.default_rng(seed), shared[start:start + SEGMENT])
        hits += bool(np.abs(code - prior.codes[start:start + SEGMENT]).max() < 1e-5)
    assert hits >= 6  # 10 of 30 measured; a random pick among ~2,400 candidates would almost never hit it


def test_retrieval_picks_survive_a_perturbation_far_below_the_audio_code_s_variation():
    """The same seed and an audio code 1e-4 off give the same picks (issue #21 item 6): a pick
    is the cheapest candidate after adding seed-drawn Gumbel noise, so only a near-tie of the two
    best can flip, and nothing cascades from a reordering of equal candidates."""
    prior, _ = _toy_store()
    n = 1200
    target = np.random.default_rng(5).standard_normal((n, 2)).astype(np.float32)
    nudged = target + np.random.default_rng(6).uniform(-1e-4, 1e-4, target.shape).astype(np.float32)
    for seed in range(5):
        a = prior.sample(n, np.random.default_rng(seed), target)
        b = prior.sample(n, np.random.default_rng(seed), nudged)
        np.testing.assert_array_equal(a, b)
    other = prior.sample(n, np.random.default_rng(1), target)
    assert np.abs(other - prior.sample(n, np.random.default_rng(0), target)).max() > 0.1  # seeds differ


# ---- the model file ---------------------------------------------------------------------------
def _saved(tmp_path, loaded):
    return save_model(tmp_path / "m.json", loaded.weights, loaded.config, loaded.feature_mean,
                      loaded.feature_std, loaded.code_mean, loaded.code_std, {"t": 1}, loaded.prior)


def test_priors_round_trip_through_the_model_file(tmp_path, feats):
    loaded = random_model(seed=11)
    back = load_model(_saved(tmp_path, loaded))
    assert set(back.prior) == set(loaded.prior)
    for prior in PRIORS:
        np.testing.assert_array_equal(generate(back, feats, 1, prior=prior),
                                      generate(loaded, feats, 1, prior=prior))


def test_version_1_file_loads_with_the_paper_prior(tmp_path, feats):
    loaded = dataclasses.replace(random_model(seed=11), prior={})
    path = _saved(tmp_path, loaded)
    doc = json.loads(path.read_text())
    doc["format_version"] = 1
    for name in V2_FIELDS:  # the fields a version 1 file never had
        del doc["config"][name]
    path.write_text(json.dumps(doc))
    old = load_model(path)
    assert old.config.code_prior == "paper" and not old.config.hands and old.prior == {}
    np.testing.assert_array_equal(generate(old, feats, 1), generate(loaded, feats, 1))


@pytest.mark.parametrize("version", [1, 2])
def test_missing_config_field_is_refused_naming_it(tmp_path, version):
    path = _saved(tmp_path, dataclasses.replace(random_model(seed=11), prior={}))
    doc = json.loads(path.read_text())
    doc["format_version"] = version
    del doc["config"]["output_smoothing"]
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=r"lacks field\(s\) \['output_smoothing'\]"):
        load_model(path)


def test_version_2_file_must_state_the_new_fields(tmp_path):
    path = _saved(tmp_path, random_model(seed=11))
    doc = json.loads(path.read_text())
    del doc["config"]["code_prior"]
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="code_prior"):
        load_model(path)


def test_incomplete_or_absent_default_prior_is_refused(tmp_path):
    loaded = random_model(seed=11)
    broken = dict(loaded.prior)
    del broken["prior_shared"]
    with pytest.raises(ModelFileError, match="'retrieval' prior is incomplete"):
        _saved(tmp_path, dataclasses.replace(loaded, prior=broken))
    no_gauss = {k: v for k, v in loaded.prior.items() if k not in ("prior_chol", "prior_kernel")}
    cfg = dataclasses.replace(loaded.config, code_prior="gaussian")
    with pytest.raises(ModelFileError, match="code_prior is 'gaussian' but the file has no arrays"):
        _saved(tmp_path, dataclasses.replace(loaded, prior=no_gauss, config=cfg))


def test_scale_about_scales_the_angle_from_the_mean_pose():
    from core.generate import mean_pose, scale_about
    from core.rotations import axis_angle_to_matrix, geodesic_angle
    rng = np.random.default_rng(4)
    base = axis_angle_to_matrix(rng.standard_normal((1, 5, 3)))
    wiggle = axis_angle_to_matrix(0.2 * rng.standard_normal((50, 5, 3)))
    rot = base @ wiggle
    mean = mean_pose(rot)
    for factor in (0.5, 1.5):
        scaled = scale_about(rot, mean, factor).astype(np.float64)
        np.testing.assert_allclose(geodesic_angle(scaled, mean[None]),
                                   factor * geodesic_angle(rot, mean[None]), atol=1e-5)
    np.testing.assert_allclose(scale_about(rot, mean, 1.0), rot, atol=1e-6)


def test_finger_gain_scales_only_the_fingers_and_keeps_resample_identity(feats):
    from core.config import ModelConfig
    from core.generate import mean_pose
    from core.rotations import geodesic_angle

    config = ModelConfig(hands=True, n_joints=52)
    loaded = random_model(config, seed=3)
    gained = dataclasses.replace(loaded, config=dataclasses.replace(config, finger_gain=2.0))

    plain, more = generate(loaded, feats, 2), generate(gained, feats, 2)
    np.testing.assert_array_equal(more[:, :22], plain[:, :22])  # the body is untouched
    mean = mean_pose(plain)[None, 22:]  # the fingers turn twice as far from the take's mean pose
    before = geodesic_angle(plain[:, 22:].astype(np.float64), mean)
    after = geodesic_angle(more[:, 22:].astype(np.float64), mean)
    small = before < np.radians(80)  # (doubling a larger angle wraps past 180 degrees)
    assert small.mean() > 0.5
    np.testing.assert_allclose(after[small], 2 * before[small], atol=2e-4)
    with_range = generate(gained, feats, 2, resamples=[ResampleRange(100, 160, 4)])
    np.testing.assert_array_equal(with_range[:100], more[:100])
    np.testing.assert_array_equal(with_range[160:], more[160:])


@pytest.mark.parametrize("bad", [0.1, 5.0, "2", True])
def test_finger_gain_validation(bad):
    from core.config import ModelConfig

    with pytest.raises(ValueError, match="finger_gain"):
        ModelConfig(hands=True, n_joints=52, finger_gain=bad)


# ---- the one check of an intensity the user gave ------------------------------------------------
def test_check_intensity_accepts_the_range_and_returns_a_float():
    from core.generate import MAX_INTENSITY, check_intensity

    assert check_intensity(1) == 1.0 and isinstance(check_intensity(1), float)
    assert check_intensity(0.25) == 0.25
    assert check_intensity(MAX_INTENSITY) == MAX_INTENSITY


@pytest.mark.parametrize("value", [0.0, -1.0, 3.5, float("nan"), float("inf")])
def test_check_intensity_names_the_setting_the_range_and_the_value(value):
    from core.errors import UserError
    from core.generate import check_intensity

    with pytest.raises(UserError) as info:
        check_intensity(value, "--intensity")
    assert str(info.value) == ("--intensity must be above 0 and at most 3 (1: as the model samples, "
                               f"0.5: calmer, 1.5: livelier), got {value:g}")
    with pytest.raises(UserError, match=r"^Intensity must be above 0 and at most 3 "):
        check_intensity(value)



def test_inaudible_dither_leaves_the_retrieval_take_as_it_was():
    """Issue #21 item 6: the same speech with noise far below hearing (here 1e-3 dB on the
    log-mel, far less than dither at -96 dBFS moves quiet bands) and the same seed give the same
    take with the default (retrieval) prior: at most 5 % of frames move by more than 2 degrees."""
    from core.rotations import geodesic_angle

    net = Network(random_model(seed=11))
    feats = (np.random.default_rng(0).standard_normal((600, 64)) * 12 - 40).astype(np.float32)
    nudged = feats + np.random.default_rng(1).uniform(-1e-3, 1e-3, feats.shape).astype(np.float32)
    for seed in range(3):
        a = generate(net, feats, seed, prior="retrieval").astype(np.float64)
        b = generate(net, nudged, seed, prior="retrieval").astype(np.float64)
        moved = np.degrees(geodesic_angle(a, b)).max(axis=1) > 2.0
        assert moved.mean() <= 0.05


def test_retrieval_joins_segments_where_their_codes_are_close(monkeypatch):
    """Consecutive segments overlap where the stored codes are close: the code distance over
    each cross-fade is well below what the same draws give without the join term (no
    averaging of unrelated codes into a code no real motion had)."""
    import core.prior as prior_module

    prior, _ = _toy_store()
    n = 1200
    target = np.random.default_rng(5).standard_normal((n, 2)).astype(np.float32)
    hop = SEGMENT - FADE
    picks: list[int] = []
    original = RetrievalPrior._assemble
    monkeypatch.setattr(RetrievalPrior, "_assemble",
                        staticmethod(lambda values, p, m: picks.extend(p) or original(values, p, m)))

    def join_distance(weight: float) -> float:
        monkeypatch.setattr(prior_module, "JOIN_WEIGHT", weight)
        out = []
        for seed in range(4):
            picks.clear()
            prior.sample(n, np.random.default_rng(seed), target)
            out += [np.abs(prior.z[a + hop:a + SEGMENT] - prior.z[b:b + FADE]).mean()
                    for a, b in zip(picks, picks[1:], strict=False)]
        return float(np.mean(out))

    assert join_distance(prior_module.JOIN_WEIGHT) < 0.7 * join_distance(0.0)
