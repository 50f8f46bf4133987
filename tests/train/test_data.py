"""Data pipeline: reading recordings, resampling, split, mirror augmentation, crops, sharding."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

torch = pytest.importorskip("torch")

from core.features import features_for_motion  # noqa: E402
from core.rotations import (  # noqa: E402
    axis_angle_to_matrix,
    matrix_to_sixd,
    quat_to_axis_angle,
    sixd_to_matrix,
)
from core.skeleton import JOINT_INDEX, MIRROR_MATRIX  # noqa: E402
from core.timeline import resample_rotations  # noqa: E402
from train.data import (  # noqa: E402
    DataError,
    FeatureStats,
    InMemoryCrops,
    Pair,
    StreamingCrops,
    batch_crops,
    find_pairs,
    load_recording,
    mirror_motion,
    read_audio,
    read_motion,
    tile_crops,
)

L_WRIST, R_WRIST = JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]


@pytest.fixture
def recordings(excerpt):
    return [load_recording(p) for p in find_pairs(excerpt)]


def test_find_pairs_pairs_motion_with_audio(excerpt, tmp_path):
    pairs = find_pairs(excerpt)
    assert [p.name for p in pairs] == ["2_scott_0_1_1_excerpt", "2_scott_0_2_2_excerpt"]
    assert all(p.audio_path.suffix == ".flac" for p in pairs)
    (tmp_path / "speech_only.wav").write_bytes(b"")
    with pytest.raises(DataError, match="no motion file"):
        find_pairs(tmp_path)


def test_excerpt_loads_as_6d_body_rotations_and_core_features(excerpt):
    pair = find_pairs(excerpt)[0]
    rec = load_recording(pair, keep_audio=True)
    assert rec.motion.shape == (300, 132) and rec.features.shape == (300, 64)
    assert rec.motion.dtype == np.float32 and rec.features.dtype == np.float32
    poses = np.load(pair.motion_path)["poses"]
    expected = matrix_to_sixd(axis_angle_to_matrix(poses[:, :66].reshape(-1, 22, 3))).reshape(300, 132)
    np.testing.assert_allclose(rec.motion, expected, atol=1e-6)
    np.testing.assert_array_equal(rec.features, features_for_motion(rec.audio)[:300])


def test_shared_beat2_take_is_cropped_to_the_motion(shared_beat2):
    take = shared_beat2 / "2_scott_0_2_2"
    rec = load_recording(Pair(take.name, take.with_suffix(".npz"), take.with_suffix(".wav")))
    # 1804 motion frames; the audio runs on to 62.0 s (1860 frames) and is cropped to the motion.
    assert rec.motion.shape == (1804, 132) and rec.features.shape == (1804, 64)
    assert np.isfinite(rec.features).all()


def test_audio_of_any_rate_and_channels_becomes_16k_mono(excerpt, tmp_path):
    mono = read_audio(excerpt / "2_scott_0_2_2_excerpt.flac")
    import scipy.signal

    at_44k = scipy.signal.resample_poly(mono, 441, 160)
    path = tmp_path / "stereo44k.wav"
    soundfile.write(path, np.stack([at_44k, at_44k], axis=1), 44100, subtype="FLOAT")
    back = read_audio(path)
    assert abs(back.shape[0] - mono.shape[0]) <= 1
    n = min(back.shape[0], mono.shape[0])
    assert np.corrcoef(back[:n], mono[:n])[0, 1] > 0.99


def test_motion_at_60_fps_is_slerped_to_30(excerpt, tmp_path):
    src = np.load(excerpt / "2_scott_0_2_2_excerpt.npz")
    rot30 = axis_angle_to_matrix(src["poses"][:, :66].reshape(-1, 22, 3).astype(np.float64))
    n60 = 2 * rot30.shape[0] - 1
    poses60 = np.zeros((n60, 165), np.float32)
    poses60[:, :66] = quat_to_axis_angle(resample_rotations(rot30, 30, 60, n_out=n60)).reshape(n60, 66)
    np.savez(tmp_path / "take.npz", poses=poses60, mocap_framerate=np.float64(60))
    rot = read_motion(tmp_path / "take.npz")
    assert rot.shape == rot30.shape
    np.testing.assert_allclose(rot, rot30, atol=1e-5)


def test_bad_motion_files_raise_clear_errors(tmp_path):
    np.savez(tmp_path / "a.npz", poses=np.zeros((10, 165), np.float32))
    with pytest.raises(DataError, match="frame rate"):
        read_motion(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", poses=np.zeros((10, 30), np.float32), mocap_frame_rate=30)
    with pytest.raises(DataError, match="poses"):
        read_motion(tmp_path / "b.npz")


def test_time_split_holds_out_the_tail(recordings):
    rec = recordings[0]
    n_train = rec.n_train(0.15)
    assert n_train == 300 - 45
    val = tile_crops([rec], FeatureStats.from_recordings([rec], 0.15), 32, 0.15, "val")
    np.testing.assert_array_equal(val[0][0], rec.motion[n_train:n_train + 32])
    train = tile_crops([rec], FeatureStats.from_recordings([rec], 0.15), 32, 0.15, "train")
    assert len(train) == n_train // 32


def test_feature_stats_normalise_the_training_split(recordings):
    stats = FeatureStats.from_recordings(recordings, 0.15)
    train = np.concatenate([stats.normalise(r.features[: r.n_train(0.15)]) for r in recordings])
    np.testing.assert_allclose(train.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(train.std(0), 1.0, atol=1e-3)


def test_mirror_is_an_involution_that_swaps_the_arms(recordings):
    motion = recordings[0].motion
    mirrored = mirror_motion(motion)
    np.testing.assert_allclose(mirror_motion(mirrored), motion, atol=1e-6)
    rot, rot_m = (sixd_to_matrix(m.reshape(-1, 22, 6)) for m in (motion, mirrored))
    reflect = MIRROR_MATRIX
    np.testing.assert_allclose(rot_m[:, L_WRIST], reflect @ rot[:, R_WRIST] @ reflect, atol=1e-6)
    np.testing.assert_allclose(rot_m[:, R_WRIST], reflect @ rot[:, L_WRIST] @ reflect, atol=1e-6)
    assert not np.allclose(rot_m[:, L_WRIST], rot[:, L_WRIST], atol=1e-3)


def _find_window(haystack: np.ndarray, crop: np.ndarray) -> int:
    """Start index of ``crop`` inside ``haystack`` (frames), or -1."""
    hits = np.flatnonzero(np.abs(haystack - crop[0]).max(1) < 1e-6)
    for h in hits:
        if h + len(crop) <= len(haystack) and np.allclose(haystack[h:h + len(crop)], crop, atol=1e-6):
            return int(h)
    return -1


@pytest.mark.parametrize("mirror_prob", [0.0, 1.0])
def test_in_memory_crops_come_from_the_training_part(recordings, mirror_prob):
    stats = FeatureStats.from_recordings(recordings, 0.15)
    crops = InMemoryCrops(recordings, stats, 24, 0.15, mirror_prob)
    motion, features = crops.sample(6, torch.Generator().manual_seed(0))
    assert motion.shape == (6, 24, 132) and features.shape == (6, 24, 64)
    for m, f in zip(motion.numpy(), features.numpy(), strict=True):
        source = m if mirror_prob == 0.0 else mirror_motion(m)
        found = [(r, _find_window(r.motion[: r.n_train(0.15)], source)) for r in recordings]
        rec, start = next((r, s) for r, s in found if s >= 0)
        np.testing.assert_allclose(f, stats.normalise(rec.features[start:start + 24]), atol=1e-5)


def test_streaming_crops_shard_recordings_across_ranks(excerpt, recordings):
    pairs = find_pairs(excerpt)
    stats = FeatureStats.from_recordings(recordings, 0.15)
    shards = [StreamingCrops(pairs, stats, 16, 0.15, rank=r, world_size=2).shard() for r in range(2)]
    assert [[p.name for p in s] for s, _ in shards] == [[pairs[0].name], [pairs[1].name]]
    # more shards than recordings: every shard reads everything with its own random stream
    crowded = [StreamingCrops(pairs, stats, 16, 0.15, rank=r, world_size=3).shard() for r in range(3)]
    assert all(len(s) == 2 for s, _ in crowded) and [i for _, i in crowded] == [0, 1, 2]


def test_streaming_crops_yield_normalised_training_windows(excerpt, recordings):
    stats = FeatureStats.from_recordings(recordings, 0.15)
    dataset = StreamingCrops(find_pairs(excerpt), stats, 16, 0.15, mirror_prob=0.0, buffer_size=8)
    loader = torch.utils.data.DataLoader(dataset, batch_size=4)
    motion, features = next(iter(loader))
    assert motion.shape == (4, 16, 132) and features.shape == (4, 16, 64)
    for m in motion.numpy():
        assert any(_find_window(r.motion[: r.n_train(0.15)], m) >= 0 for r in recordings)


def test_batch_crops_groups_equal_lengths():
    crops = [(np.zeros((n, 132), np.float32), np.zeros((n, 64), np.float32)) for n in (8, 8, 8, 5)]
    batches = batch_crops(crops, 2)
    assert sorted(tuple(m.shape) for m, _ in batches) == [(1, 5, 132), (1, 8, 132), (2, 8, 132)]
