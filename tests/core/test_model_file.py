"""core/model_file.py: round trip and every error case (numpy only, no torch)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.config import ModelConfig
from core.model_file import (
    FORMAT,
    FORMAT_VERSION,
    LoadedModel,
    ModelFileError,
    expected_shapes,
    load_model,
    random_model,
    random_weights,
    save_model,
)


def _save(tmp_path, config=None, name="m", **overrides):
    m = random_model(config or ModelConfig(), seed=1, n_clips=5)
    args = dict(weights=m.weights, config=m.config, feature_mean=m.feature_mean,
                feature_std=m.feature_std, code_mean=m.code_mean, code_std=m.code_std,
                metadata={"dataset": "unit-test", "steps": 3})
    args.update(overrides)
    return save_model(tmp_path / f"{name}.json", **args), m


def _arrays(npz_path) -> dict[str, np.ndarray]:
    with np.load(npz_path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _rewrite_npz(npz_path, arrays):
    with open(npz_path, "wb") as f:
        np.savez(f, **arrays)


def _error_after(tmp_path, edit) -> str:
    """The load error of a saved model whose arrays ``edit(arrays)`` changed in place."""
    path, _ = _save(tmp_path)
    arrays = _arrays(tmp_path / "m.npz")
    edit(arrays)
    _rewrite_npz(tmp_path / "m.npz", arrays)
    return _error(path)


def _error(path) -> str:
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    return str(info.value)


# ---- round trip ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "config",
    [ModelConfig(), ModelConfig(specific_dim=0, use_mapping=False), ModelConfig(use_mapping=False),
     ModelConfig(audio_channels=(8, 8), motion_channels=(8, 4), decoder_channels=(4, 8),
                 dilations=(1, 3), kernel_size=5, mapping_layers=1)],
    ids=["default", "no-split", "no-mapping", "small-k5"],
)
def test_round_trip(tmp_path, config):
    path, m = _save(tmp_path, config)
    assert path == tmp_path / "m.json"
    assert (tmp_path / "m.npz").is_file()
    doc = json.loads(path.read_text())
    assert doc["format"] == FORMAT and doc["format_version"] == FORMAT_VERSION
    assert doc["arrays"] == "m.npz"
    for target in (path, tmp_path / "m.npz", str(path)):
        loaded = load_model(target)
        assert isinstance(loaded, LoadedModel)
        assert loaded.config == config
        assert loaded.metadata == {"dataset": "unit-test", "steps": 3}
        assert list(loaded.weights) == list(expected_shapes(config))
        for k, v in m.weights.items():
            assert loaded.weights[k].dtype == np.float32
            np.testing.assert_array_equal(loaded.weights[k], v)
        for k in ("feature_mean", "feature_std", "code_mean", "code_std"):
            np.testing.assert_array_equal(getattr(loaded, k), getattr(m, k))
            assert getattr(loaded, k).dtype == np.float32
    assert set(_arrays(tmp_path / "m.npz")) == set(expected_shapes(config)) | {
        "feature_mean", "feature_std", "code_mean", "code_std"}


def test_save_casts_to_float32_and_leaves_no_temp_files(tmp_path):
    m = random_model(seed=3)
    w64 = {k: v.astype(np.float64) for k, v in m.weights.items()}
    save_model(tmp_path / "x.json", w64, m.config, m.feature_mean.astype(np.float64), m.feature_std,
               m.code_mean, m.code_std, {})
    assert all(a.dtype == np.float32 for a in _arrays(tmp_path / "x.npz").values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json", "x.npz"]


def test_expected_shapes_default():
    s = expected_shapes(ModelConfig())
    assert s["audio_encoder.blocks.0.conv1.weight"] == (128, 64, 3)
    assert s["audio_encoder.blocks.0.skip.weight"] == (128, 64, 1)
    assert "audio_encoder.blocks.1.skip.weight" not in s  # 128 -> 128: identity skip
    assert s["motion_encoder.blocks.0.conv1.weight"] == (256, 132, 3)
    assert s["motion_encoder.shared_head.weight"] == (32, 64)
    assert s["motion_encoder.specific_head.weight"] == (32, 64)
    assert s["mapping.convs.2.weight"] == (16, 16, 3)
    assert s["mapping.head.weight"] == (32, 16)
    assert s["decoder.blocks.0.conv1.weight"] == (64, 32, 3)
    assert s["decoder.fc1.weight"] == (256, 256)
    assert s["decoder.fc2.weight"] == (132, 256)
    assert 2.3e6 < sum(int(np.prod(v)) for v in s.values()) < 2.5e6


def test_random_weights_deterministic_and_nontrivial():
    a, b = random_weights(ModelConfig(), 0), random_weights(ModelConfig(), 0)
    c = random_weights(ModelConfig(), 1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["decoder.fc2.weight"], c["decoder.fc2.weight"])
    assert np.std(a["decoder.fc2.bias"]) > 0


# ---- errors: files ---------------------------------------------------------------------------
def test_missing_json(tmp_path):
    msg = _error(tmp_path / "nope.json")
    assert "nope.json" in msg and "not found" in msg


def test_missing_json_beside_npz(tmp_path):
    path, _ = _save(tmp_path)
    path.unlink()
    msg = _error(tmp_path / "m.npz")
    assert "m.json" in msg and "not found" in msg


def test_missing_npz(tmp_path):
    path, _ = _save(tmp_path)
    (tmp_path / "m.npz").unlink()
    msg = _error(path)
    assert "m.npz" in msg and "not found" in msg


def test_wrong_extension(tmp_path):
    msg = _error(tmp_path / "model.txt")
    assert "model.txt" in msg and ".json" in msg


def test_invalid_json(tmp_path):
    path, _ = _save(tmp_path)
    path.write_text('{"format": "audio2gestures-model", ')
    msg = _error(path)
    assert "m.json" in msg and "not valid JSON" in msg


def test_json_not_an_object(tmp_path):
    path, _ = _save(tmp_path)
    path.write_text("[1, 2]")
    assert "JSON object" in _error(path)


def _edit_json(path, **changes):
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


def test_wrong_format(tmp_path):
    path, _ = _save(tmp_path)
    _edit_json(path, format="something-else")
    msg = _error(path)
    assert "m.json" in msg and "something-else" in msg and FORMAT in msg


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, 0, "1", None, True])
def test_wrong_format_version(tmp_path, version):
    path, _ = _save(tmp_path)
    _edit_json(path, format_version=version)
    msg = _error(path)
    assert "m.json" in msg and "format_version" in msg
    assert f"reads format_version 1 and {FORMAT_VERSION}" in msg
    if version == FORMAT_VERSION + 1:
        assert "newer" in msg


def test_unknown_config_key(tmp_path):
    path, _ = _save(tmp_path)
    doc = json.loads(path.read_text())
    doc["config"]["n_heads"] = 4
    path.write_text(json.dumps(doc))
    msg = _error(path)
    assert "m.json" in msg and "n_heads" in msg


def test_invalid_config_value(tmp_path):
    path, _ = _save(tmp_path)
    doc = json.loads(path.read_text())
    doc["config"]["dilations"] = [1, 2]
    path.write_text(json.dumps(doc))
    assert "invalid config" in _error(path)


@pytest.mark.parametrize("key, value", [("fps", 25), ("sample_rate", 22050), ("hop_length", 512)])
def test_model_with_other_timing_is_refused(tmp_path, key, value):
    path, _ = _save(tmp_path)
    doc = json.loads(path.read_text())
    doc["config"][key] = value
    path.write_text(json.dumps(doc))
    msg = _error(path)
    assert "m.json" in msg and str(value) in msg and "this runtime" in msg


@pytest.mark.parametrize("arrays", ["../evil.npz", "sub/m.npz", "", 3])
def test_arrays_must_be_a_file_name_beside_the_json(tmp_path, arrays):
    path, _ = _save(tmp_path)
    _edit_json(path, arrays=arrays)
    assert "'arrays'" in _error(path)


def test_npz_named_differently_by_its_json(tmp_path):
    path, _ = _save(tmp_path)
    _edit_json(path, arrays="other.npz")
    msg = _error(tmp_path / "m.npz")
    assert "other.npz" in msg


def test_truncated_npz(tmp_path):
    path, _ = _save(tmp_path)
    npz = tmp_path / "m.npz"
    data = npz.read_bytes()
    npz.write_bytes(data[: len(data) // 2])
    msg = _error(path)
    assert "m.npz" in msg and ("corrupt" in msg or "truncated" in msg)


def test_corrupt_member_in_npz(tmp_path):
    path, _ = _save(tmp_path)
    npz = tmp_path / "m.npz"
    data = bytearray(npz.read_bytes())
    mid = len(data) // 3
    data[mid: mid + 64] = bytes(64)  # zero out a stretch inside some array's bytes
    npz.write_bytes(bytes(data))
    msg = _error(path)
    assert "m.npz" in msg and ("corrupt" in msg or "truncated" in msg)


def test_garbage_npz(tmp_path):
    path, _ = _save(tmp_path)
    (tmp_path / "m.npz").write_bytes(b"definitely not a zip archive" * 10)
    msg = _error(path)
    assert "m.npz" in msg and "not an .npz" in msg


def test_single_npy_instead_of_npz(tmp_path):
    path, _ = _save(tmp_path)
    with open(tmp_path / "m.npz", "wb") as f:
        np.save(f, np.zeros(3, np.float32))
    assert "single .npy" in _error(path)


def test_pickled_object_array_refused(tmp_path):
    path, _ = _save(tmp_path)
    arrays = _arrays(tmp_path / "m.npz")
    arrays["decoder.fc2.bias"] = np.array([{"a": 1}], dtype=object)
    _rewrite_npz(tmp_path / "m.npz", arrays)
    msg = _error(path)
    assert "m.npz" in msg and "pickle" in msg and "decoder.fc2.bias" in msg


# ---- errors: arrays --------------------------------------------------------------------------
def test_missing_array(tmp_path):
    path, _ = _save(tmp_path)
    arrays = _arrays(tmp_path / "m.npz")
    del arrays["decoder.blocks.2.conv2.weight"], arrays["code_std"]
    _rewrite_npz(tmp_path / "m.npz", arrays)
    msg = _error(path)
    assert "m.npz" in msg and "missing" in msg
    assert "decoder.blocks.2.conv2.weight" in msg and "code_std" in msg


def test_extra_array(tmp_path):
    path, _ = _save(tmp_path)
    arrays = _arrays(tmp_path / "m.npz")
    arrays["decoder.fc3.weight"] = np.zeros((3, 3), np.float32)
    _rewrite_npz(tmp_path / "m.npz", arrays)
    msg = _error(path)
    assert "m.npz" in msg and "unexpected" in msg and "decoder.fc3.weight" in msg


def test_extra_array_when_config_has_no_mapping(tmp_path):
    """A file whose config says use_mapping=False must not carry mapping weights."""
    path, _ = _save(tmp_path)
    _edit_json(path, config={**json.loads(path.read_text())["config"], "use_mapping": False})
    msg = _error(path)
    assert "unexpected" in msg and "mapping." in msg


@pytest.mark.parametrize(
    "name, shape",
    [("audio_encoder.blocks.0.conv1.weight", (128, 64, 5)), ("decoder.fc2.bias", (131,)),
     ("mapping.head.weight", (16, 32)), ("feature_mean", (63,)), ("code_mean", (5, 15)),
     ("code_std", (5,)), ("code_std", (4, 16))],
)
def test_misshaped_array(tmp_path, name, shape):
    msg = _error_after(tmp_path, lambda arrays: arrays.__setitem__(name, np.zeros(shape, np.float32) + 1))
    assert "m.npz" in msg and name in msg and "shape" in msg


def test_zero_clips(tmp_path):
    def no_clips(arrays):
        arrays["code_mean"] = arrays["code_std"] = np.zeros((0, 16), np.float32)

    assert "N >= 1" in _error_after(tmp_path, no_clips)


@pytest.mark.parametrize("name, value", [("decoder.fc1.weight", np.nan), ("code_std", np.inf),
                                         ("feature_mean", -np.inf)])
def test_non_finite(tmp_path, name, value):
    def spoil(arrays):
        arrays[name] = arrays[name].copy()
        arrays[name].flat[3] = value

    msg = _error_after(tmp_path, spoil)
    assert "m.npz" in msg and name in msg and "non-finite" in msg


def test_non_positive_feature_std(tmp_path):
    assert "feature_std" in _error_after(tmp_path, lambda arrays: arrays["feature_std"].__setitem__(5, 0))


def test_string_array(tmp_path):
    path, _ = _save(tmp_path)
    arrays = _arrays(tmp_path / "m.npz")
    arrays["decoder.fc2.bias"] = np.array(["x"] * 132)
    _rewrite_npz(tmp_path / "m.npz", arrays)
    assert "dtype" in _error(path)


# ---- errors: save ----------------------------------------------------------------------------
def test_save_validates_before_writing(tmp_path):
    m = random_model()
    bad = dict(m.weights)
    bad["decoder.fc2.weight"] = np.zeros((10, 10), np.float32)
    with pytest.raises(ModelFileError, match="not written.*decoder.fc2.weight"):
        save_model(tmp_path / "b.json", bad, m.config, m.feature_mean, m.feature_std, m.code_mean,
                   m.code_std, {})
    with pytest.raises(ModelFileError, match="metadata"):
        save_model(tmp_path / "b.json", m.weights, m.config, m.feature_mean, m.feature_std,
                   m.code_mean, m.code_std, {"f": object()})
    with pytest.raises(ModelFileError, match="non-finite"):
        save_model(tmp_path / "b.json", m.weights, m.config, m.feature_mean * np.nan, m.feature_std,
                   m.code_mean, m.code_std, {})
    assert list(tmp_path.iterdir()) == []


# ---- ModelConfig (stored in the .json) ------------------------------------------------------
def test_config_json_round_trip_and_receptive_fields():
    c = ModelConfig()
    d = json.loads(json.dumps(c.to_dict()))
    assert ModelConfig.from_dict(d) == c
    assert d["dilations"] == [1, 2, 4, 8, 16] and d["use_mapping"] is True
    assert ModelConfig.from_dict({"shared_dim": 8}) == ModelConfig(shared_dim=8)  # defaults fill in
    assert c.motion_dim == 132 and c.decoder_in == 32
    assert c.receptive_radius("audio_encoder") == c.receptive_radius("decoder") == 62
    assert c.receptive_field("motion_encoder") == 125
    assert c.receptive_radius("mapping") == 3
    assert c.generation_radius() == 124
    assert ModelConfig(specific_dim=0, use_mapping=False).decoder_in == 16
    np_ints = ModelConfig(shared_dim=np.int64(8), dilations=np.array([1, 2, 4, 8, 16]))
    json.dumps(np_ints.to_dict())  # numpy ints are stored as plain ints
    with pytest.raises(ValueError, match="unknown net"):
        c.receptive_radius("vocoder")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(specific_dim=0), "use_mapping"),
        (dict(kernel_size=4), "odd"),
        (dict(dilations=(1, 2)), "one channel count per temporal block"),
        (dict(shared_dim=0), "shared_dim"),
        (dict(n_mels=64.0), "int"),
        (dict(use_mapping=1), "bool"),
        (dict(audio_channels=(128, -1, 96, 96, 64)), "positive"),
        (dict(audio_channels="12345"), "sequence"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**kwargs)


def test_config_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['dropout'\]"):
        ModelConfig.from_dict({**ModelConfig().to_dict(), "dropout": 0.2})
    with pytest.raises(ValueError, match="dict"):
        ModelConfig.from_dict([1, 2])


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        ModelConfig().shared_dim = 3
