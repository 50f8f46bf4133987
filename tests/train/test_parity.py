"""numpy runtime (core/network.py) == torch model (train/model.py), before and after export."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from core.config import ModelConfig  # noqa: E402
from core.model_file import expected_shapes, load_model  # noqa: E402
from core.network import Network  # noqa: E402
from train.export import export_model  # noqa: E402
from train.model import Audio2Gestures  # noqa: E402

TOL = 1e-4
LENGTHS = (1, 7, 300)


def _model(config: ModelConfig, seed: int = 0) -> Audio2Gestures:
    """Default (Xavier) init, then non-zero biases so the bias paths are exercised."""
    torch.manual_seed(seed)
    model = Audio2Gestures(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.normal_(0.0, 0.1)
            else:
                p.mul_(1.0 + 0.1 * torch.randn_like(p))
    return model


def _loaded_from(model: Audio2Gestures):
    from core.model_file import LoadedModel

    c = model.config
    rng = np.random.default_rng(0)
    return LoadedModel(
        config=c,
        weights={k: v.detach().numpy().copy() for k, v in model.state_dict().items()},
        feature_mean=rng.standard_normal(c.n_mels).astype(np.float32),
        feature_std=rng.uniform(0.5, 2, c.n_mels).astype(np.float32),
        code_mean=rng.standard_normal((3, c.specific_dim)).astype(np.float32),
        code_std=rng.uniform(0.5, 2, (3, c.specific_dim)).astype(np.float32),
    )


def _compare(model: Audio2Gestures, net: Network, seed: int = 1) -> float:
    """Max abs difference over all four nets and all LENGTHS (asserts each < TOL)."""
    c = model.config
    rng = np.random.default_rng(seed)
    worst = 0.0

    def check(name, a_np, b_torch):
        nonlocal worst
        b = b_torch.detach().numpy()[0]
        assert a_np.shape == b.shape, (name, a_np.shape, b.shape)
        assert a_np.dtype == np.float32
        err = float(np.max(np.abs(a_np - b))) if a_np.size else 0.0
        # Outputs must not be trivially zero, or the comparison proves nothing.
        assert a_np.size == 0 or np.std(b) > 1e-3, f"{name}: degenerate output"
        assert err < TOL, f"{name} T={a_np.shape[0]}: max abs diff {err:.3g}"
        worst = max(worst, err)

    with torch.no_grad():
        for T in LENGTHS:
            feats = rng.standard_normal((T, c.n_mels)).astype(np.float32)
            check("audio_encoder", net.audio_encode(feats),
                  model.audio_encoder(torch.from_numpy(feats)[None]))

            sixd = rng.standard_normal((T, c.motion_dim)).astype(np.float32)
            outs_np = net.motion_encode(sixd)
            outs_t = model.motion_encoder(torch.from_numpy(sixd)[None])
            for i, (a, b) in enumerate(zip(outs_np, outs_t, strict=True)):
                check(f"motion_encoder[{i}]", a, b)

            if c.use_mapping:
                noise = rng.standard_normal((T, c.specific_dim)).astype(np.float32)
                mapped = model.mapping(torch.from_numpy(noise)[None])
                for i, (a, b) in enumerate(zip(net.map_noise(noise), mapped, strict=True)):
                    check(f"mapping[{i}]", a, b)

            s = rng.standard_normal((T, c.shared_dim)).astype(np.float32)
            if c.specific_dim:
                i_code = rng.standard_normal((T, c.specific_dim)).astype(np.float32)
                out_t = model.decoder(torch.from_numpy(s)[None], torch.from_numpy(i_code)[None])
                check("decoder", net.decode(s, i_code), out_t)
            else:
                check("decoder", net.decode(s, None), model.decoder(torch.from_numpy(s)[None]))
    return worst


def test_state_dict_names_match_the_contract():
    config = ModelConfig()
    model = Audio2Gestures(config)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == expected_shapes(config)
    assert list(got) == list(expected_shapes(config))  # same order too
    # Sizes from the paper/code: ~2.4 M in all, ~1.4 M on the inference path.
    total = sum(v.numel() for v in model.state_dict().values())
    inference = sum(v.numel() for k, v in model.state_dict().items() if not k.startswith("motion_encoder"))
    assert 2.3e6 < total < 2.5e6
    assert 1.3e6 < inference < 1.45e6


def test_init_is_xavier_with_zero_biases():
    model = Audio2Gestures()
    w = model.decoder.blocks[3].conv1.weight.detach()  # (256, 128, 3)
    bound = np.sqrt(6.0 / (128 * 3 + 256 * 3))
    assert float(w.abs().max()) <= bound + 1e-6
    assert float(w.std()) > 0.5 * bound / np.sqrt(3)
    assert all(float(p.abs().max()) == 0 for n, p in model.state_dict().items() if n.endswith(".bias"))


@pytest.mark.parametrize(
    "config",
    [ModelConfig(), ModelConfig(specific_dim=0, use_mapping=False), ModelConfig(use_mapping=False)],
    ids=["default", "no-split", "no-mapping"],
)
def test_numpy_matches_torch(config):
    model = _model(config)
    worst = _compare(model, Network(_loaded_from(model)))
    print(f"max abs diff {worst:.2e}")


def test_numpy_matches_torch_when_chunked():
    model = _model(ModelConfig(), seed=3)
    # Chunks much shorter than the receptive field (125) and than T=300.
    _compare(model, Network(_loaded_from(model), chunk_frames=37))


def test_export_load_round_trip(tmp_path):
    model = _model(ModelConfig(), seed=2)
    c = model.config
    rng = np.random.default_rng(5)
    fm = rng.standard_normal(c.n_mels)
    fs = rng.uniform(1, 3, c.n_mels)
    cm = torch.randn(6, c.specific_dim)  # torch tensors are accepted too
    cs = torch.rand(6, c.specific_dim) + 0.1
    path = export_model(model, tmp_path / "m.json", fm, fs, cm, cs, {"steps": 12})
    loaded = load_model(path)
    assert loaded.metadata == {"steps": 12}
    assert loaded.config == c
    np.testing.assert_array_equal(loaded.code_mean, cm.numpy())
    np.testing.assert_allclose(loaded.feature_std, fs.astype(np.float32))
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(loaded.weights[k], v.numpy())
    worst = _compare(model, Network(loaded))
    print(f"after export/load: max abs diff {worst:.2e}")
