"""core/network.py without torch: a naive reference, chunking, lengths, determinism, memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from core.config import ModelConfig
from core.model_file import random_model
from core.network import Network

SMALL = ModelConfig(audio_channels=(12, 12, 8), motion_channels=(16, 8, 8), decoder_channels=(8, 16, 16),
                    dilations=(1, 2, 4), decoder_head_hidden=24, audio_head_hidden=10)


# ---- a slow, obviously-correct reference (explicit zero padding, loop over time) -------------
def _ref_conv(x, w, b, d):
    """x (C_in, T), w (C_out, C_in, k): out[:, t] = b + sum_j w[:, :, j] @ x[:, t + (j - h) d]."""
    k = w.shape[2]
    h = (k - 1) // 2
    T = x.shape[1]
    xp = np.pad(x.astype(np.float64), ((0, 0), (h * d, h * d)))
    out = np.empty((w.shape[0], T))
    for t in range(T):
        out[:, t] = b + sum(w[:, :, j] @ xp[:, t + j * d] for j in range(k))
    return out


def _ref_blocks(x, wts, net, config):
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    for i, d in enumerate(config.dilations):
        p = f"{net}.blocks.{i}"
        h = relu(_ref_conv(x, wts[f"{p}.conv1.weight"], wts[f"{p}.conv1.bias"], d))
        h = relu(_ref_conv(h, wts[f"{p}.conv2.weight"], wts[f"{p}.conv2.bias"], d))
        skip = f"{p}.skip.weight"
        res = x if skip not in wts else _ref_conv(x, wts[skip], wts[f"{p}.skip.bias"], 1)
        x = relu(h + res)
    return x


def _ref_decoder(shared, specific, wts, config):
    x = np.concatenate([shared, specific], axis=1).T
    h = _ref_blocks(x, wts, "decoder", config)
    h = np.maximum(wts["decoder.fc1.weight"] @ h + wts["decoder.fc1.bias"][:, None], 0)
    return (wts["decoder.fc2.weight"] @ h + wts["decoder.fc2.bias"][:, None]).T


def _ref_mapping(noise, wts, config):
    h = noise.T
    for i in range(config.mapping_layers):
        h = np.maximum(_ref_conv(h, wts[f"mapping.convs.{i}.weight"], wts[f"mapping.convs.{i}.bias"], 1), 0)
    y = (wts["mapping.head.weight"] @ h + wts["mapping.head.bias"][:, None]).T
    return y[:, : config.specific_dim], y[:, config.specific_dim:]


@pytest.mark.parametrize("T", [1, 2, 5, 9, 40])
def test_matches_naive_reference(T):
    m = random_model(SMALL, seed=4)
    net = Network(m)
    rng = np.random.default_rng(T)
    s = rng.standard_normal((T, 16)).astype(np.float32)
    i = rng.standard_normal((T, 16)).astype(np.float32)
    np.testing.assert_allclose(net.decode(s, i), _ref_decoder(s, i, m.weights, SMALL), atol=2e-5, rtol=1e-4)
    for a, b in zip(net.map_noise(i), _ref_mapping(i, m.weights, SMALL), strict=True):
        np.testing.assert_allclose(a, b, atol=2e-5, rtol=1e-4)


# ---- chunking --------------------------------------------------------------------------------
def _all_nets(net: Network, T: int, seed: int = 0):
    c = net.config
    rng = np.random.default_rng(seed)
    out = [net.audio_encode(rng.standard_normal((T, c.n_mels)))]
    out += list(net.motion_encode(rng.standard_normal((T, c.motion_dim))))
    out += list(net.map_noise(rng.standard_normal((T, c.specific_dim))))
    out.append(net.decode(rng.standard_normal((T, c.shared_dim)), rng.standard_normal((T, c.specific_dim))))
    return out


@pytest.mark.parametrize("chunk", [3, 64, 125, 299])
def test_chunked_equals_one_pass(chunk):
    model = random_model(seed=7)
    T = 300
    whole = _all_nets(Network(model, chunk_frames=10_000), T)
    chunked = _all_nets(Network(model, chunk_frames=chunk), T)
    for a, b in zip(whole, chunked, strict=True):
        assert a.shape == b.shape and a.shape[0] == T
        scale = max(1.0, float(np.max(np.abs(a))))
        assert float(np.max(np.abs(a - b))) <= 1e-5 * scale


def test_chunk_halo_is_necessary():
    """Sanity check of the test above: a halo smaller than the receptive radius is wrong."""
    model = random_model(seed=7)
    net = Network(model, chunk_frames=50)
    rng = np.random.default_rng(0)
    s, i = rng.standard_normal((200, 16)), rng.standard_normal((200, 16))
    x = np.concatenate([s, i], axis=1).astype(np.float32)
    full = net.decode(s, i)
    short_halo = net._chunked(net._decoder, x, radius=10, out_channels=132)
    assert np.max(np.abs(full - short_halo)) > 1e-3


# ---- lengths, dtypes, determinism ------------------------------------------------------------
def test_every_length_works_and_is_causal_free_of_length_effects():
    """Lengths 1..N run; a prefix longer than the radius matches the full run there."""
    model = random_model(SMALL, seed=1)
    net = Network(model)
    rng = np.random.default_rng(3)
    N = 60
    s, i = rng.standard_normal((N, 16)), rng.standard_normal((N, 16))
    full = net.decode(s, i)
    r = SMALL.receptive_radius("decoder")
    for T in range(1, N + 1):
        out = net.decode(s[:T], i[:T])
        assert out.shape == (T, SMALL.motion_dim) and out.dtype == np.float32
        assert np.all(np.isfinite(out))
        if T > r:  # frames further than r from the cut see the same inputs
            np.testing.assert_allclose(out[: T - r], full[: T - r], atol=1e-5)


def test_shapes_and_dtypes_default_config():
    net = Network(random_model())
    outs = _all_nets(net, 17)
    assert [o.shape for o in outs] == [(17, 16)] * 7 + [(17, 132)]
    assert all(o.dtype == np.float32 for o in outs)


def test_deterministic():
    a = _all_nets(Network(random_model(seed=2)), 150, seed=5)
    b = _all_nets(Network(random_model(seed=2)), 150, seed=5)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_normalise_features():
    m = random_model()
    net = Network(m)
    raw = np.random.default_rng(0).standard_normal((10, 64)) * 20 - 30
    np.testing.assert_allclose(net.normalise_features(raw), (raw - m.feature_mean) / m.feature_std,
                               rtol=1e-5, atol=1e-5)
    assert net.normalise_features(raw).dtype == np.float32


def test_no_split_and_no_mapping_models():
    c = ModelConfig(specific_dim=0, use_mapping=False)
    net = Network(random_model(c))
    s = np.zeros((5, 16), np.float32)
    assert net.decode(s).shape == (5, 132)
    sm, slv, im, ilv = net.motion_encode(np.zeros((5, 132)))
    assert sm.shape == (5, 16) and im.shape == (5, 0) and ilv.shape == (5, 0)
    with pytest.raises(ValueError, match="mapping"):
        net.map_noise(np.zeros((5, 0)))
    with pytest.raises(ValueError, match="specific code"):
        Network(random_model()).decode(s)


@pytest.mark.parametrize("bad", [np.zeros((0, 64)), np.zeros((5, 63)), np.zeros(64), np.zeros((1, 5, 64))])
def test_bad_shapes(bad):
    with pytest.raises(ValueError, match="shape"):
        Network(random_model()).audio_encode(bad)


def test_decode_length_mismatch():
    with pytest.raises(ValueError, match="frames"):
        Network(random_model()).decode(np.zeros((5, 16)), np.zeros((6, 16)))


def test_memory_is_bounded_by_the_chunk():
    """A long sequence costs memory for its inputs/outputs plus one chunk, not T x 256 channels."""
    net = Network(random_model(), chunk_frames=1024)
    T = 20_000
    rng = np.random.default_rng(0)
    s = rng.standard_normal((T, 16)).astype(np.float32)
    i = rng.standard_normal((T, 16)).astype(np.float32)
    tracemalloc.start()
    out = net.decode(s, i)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    io_bytes = out.nbytes + 2 * (s.nbytes + i.nbytes)  # output + the concatenated input
    one_pass = T * 256 * 4 * 3  # a few full-length 256-channel activations
    assert peak < io_bytes + 16e6, peak
    assert peak < one_pass / 2
