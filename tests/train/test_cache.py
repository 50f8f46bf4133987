"""The preprocessed-recordings cache: decoded once (in parallel), memory-mapped, reused, rebuilt
when the files or the feature settings change; the export fits on bounded windows."""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from core import features  # noqa: E402
from tests.train.conftest import TINY  # noqa: E402
from train.cache import FeatureCache  # noqa: E402
from train.config import TrainConfig  # noqa: E402
from train.data import Recordings, TrainingWindows, find_pairs, load_recording  # noqa: E402
from train.fit import fit  # noqa: E402


@pytest.fixture
def corpus(excerpt, tmp_path):
    """Six recordings: links to the two excerpt takes (each link is a recording of its own)."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(6):
        src = excerpt / ("2_scott_0_1_1_excerpt" if i % 2 == 0 else "2_scott_0_2_2_excerpt")
        for suffix in (".npz", ".flac"):
            os.symlink(src.with_suffix(suffix), folder / f"take{i}{suffix}")
    return folder


def test_entries_are_built_once_in_parallel_and_memory_mapped(corpus, tmp_path):
    pairs = find_pairs(corpus)
    cache = FeatureCache(tmp_path / "cache")
    report = cache.build(pairs, workers=2, progress=False)
    assert report["built"] == 6 and report["frames_built"] == 3 * (300 + 180)
    assert cache.build(pairs, workers=2, progress=False)["built"] == 0  # reused
    rec = cache.load(pairs[0])
    assert isinstance(rec.motion, np.memmap) and isinstance(rec.features, np.memmap)
    fresh = load_recording(pairs[0])
    np.testing.assert_array_equal(rec.motion, fresh.motion)
    np.testing.assert_array_equal(rec.features, fresh.features)
    assert rec.role == "split" and cache.n_frames(pairs[0]) == 300


def test_a_changed_file_or_setting_is_rebuilt(corpus, tmp_path, monkeypatch):
    pairs = find_pairs(corpus)
    cache = FeatureCache(tmp_path / "cache")
    cache.build(pairs, progress=False)
    link = pairs[0].audio_path
    target = os.readlink(link)
    os.unlink(link)
    os.symlink(pairs[1].audio_path.resolve(), link)  # another audio file under the same name
    assert not cache.has(pairs[0]) and cache.has(pairs[1])
    assert cache.build(pairs, progress=False)["built"] == 1
    os.unlink(link)
    os.symlink(target, link)
    assert cache.has(pairs[0])  # the old entry is still valid for the old file
    assert not FeatureCache(tmp_path / "cache", hands=True).has(pairs[0])  # other joints, other entry
    monkeypatch.setattr(features, "TOP_DB", 70.0)
    assert not FeatureCache(tmp_path / "cache").has(pairs[0])  # another feature setting: rebuilt


def test_training_windows_are_bounded_and_spread(corpus):
    recordings = Recordings(find_pairs(corpus))
    everything = list(TrainingWindows(recordings, 0.15, max_frames=10_000))
    assert [w.name for w in everything] == [f"take{i}" for i in range(6)]  # all fits: whole training parts
    assert sum(w.n_frames for w in everything) == sum(r.n_train(0.15) for r in recordings)
    bounded = list(TrainingWindows(recordings, 0.15, max_frames=600, window=64))
    assert sum(w.n_frames for w in bounded) == 9 * 64 and all(w.role == "train" for w in bounded)
    assert {w.name.split("[")[0] for w in bounded} == {f"take{i}" for i in range(6)}  # spread over all
    # a corpus ten times larger keeps the same bound
    tenfold = list(TrainingWindows(Recordings(find_pairs(corpus) * 10), 0.15, max_frames=600, window=64))
    assert sum(w.n_frames for w in tenfold) == 9 * 64


def test_a_second_run_reads_the_cache(corpus, tmp_path):
    settings = dict(data_dir=str(corpus), crop_frames=16, batch_size=2, steps=2, log_every=1, val_every=2,
                    ckpt_every=2, data_mode="stream", cache_dir=str(tmp_path / "cache"))
    fit(TrainConfig(out_dir=str(tmp_path / "a"), **settings), TINY)
    cache = FeatureCache(tmp_path / "cache")
    assert all(cache.has(p) for p in find_pairs(corpus))
    before = sorted(p.stat().st_mtime_ns for p in (tmp_path / "cache").glob("*/*.npy"))
    fit(TrainConfig(out_dir=str(tmp_path / "b"), **settings), TINY)
    after = sorted(p.stat().st_mtime_ns for p in (tmp_path / "cache").glob("*/*.npy"))
    assert before == after  # nothing decoded again
