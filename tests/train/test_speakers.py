"""Speakers as styles: two recordings labelled as two speakers; the exported model generates in
the style of either (its retrieval library cut to that speaker's clips, core/speakers.py)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from core.generate import generate  # noqa: E402
from core.model_file import load_model  # noqa: E402
from core.network import Network  # noqa: E402
from core.speakers import SpeakerError, model_speakers, speaker_arrays  # noqa: E402
from tests.train.conftest import TINY  # noqa: E402
from train.config import TrainConfig  # noqa: E402
from train.export import MODEL_NAME  # noqa: E402
from train.fit import fit  # noqa: E402


@pytest.fixture(scope="module")
def two_speakers(tmp_path_factory):
    """The excerpt's takes as speaker 1 (300 frames) and speaker 7 (180 frames), trained briefly."""
    from tests.train.conftest import EXCERPT

    root = tmp_path_factory.mktemp("speakers")
    data = root / "data"
    data.mkdir()
    for name, source in (("1_anna_0_1_1", "2_scott_0_1_1_excerpt"), ("7_bob_0_1_1", "2_scott_0_2_2_excerpt")):
        for suffix in (".npz", ".flac"):
            os.symlink(EXCERPT / f"{source}{suffix}", data / f"{name}{suffix}")
    config = TrainConfig(data_dir=str(data), out_dir=str(root / "run"), crop_frames=16, batch_size=2, steps=2,
                         log_every=1, val_every=2, ckpt_every=2, val_fraction=0.1)
    fit(config, TINY)
    return load_model(root / "run" / MODEL_NAME)


def test_the_library_records_each_clips_speaker(two_speakers):
    meta = two_speakers.metadata
    assert meta["speakers"] == ["1", "7"]
    assert meta["prior_clip_speakers"] == ["1", "7"] and meta["default_speaker"] == "1"  # 270 vs 162 frames
    assert model_speakers(meta) == ("1", "7")
    assert list(two_speakers.prior["prior_clip_ends"]) == [270, 270 + 162]


def test_generating_as_a_speaker_draws_from_that_speakers_clips(two_speakers):
    feats = np.random.default_rng(0).normal(-30, 15, (200, 64)).astype(np.float32)
    net = Network(two_speakers)
    as_bob = generate(net, feats, seed=3, speaker="7")
    as_anna = generate(net, feats, seed=3, speaker="1")
    assert not np.allclose(as_bob, as_anna, atol=1e-3)
    np.testing.assert_array_equal(generate(net, feats, seed=3), as_anna)  # the default speaker
    # the same as a model whose library holds only speaker 7's clip
    labels = ("prior_clip_speakers", "default_speaker")
    plain = {k: v for k, v in two_speakers.metadata.items() if k not in labels}
    only_bob = dataclasses.replace(two_speakers, metadata=plain, prior=speaker_arrays(
        two_speakers.prior, two_speakers.metadata["prior_clip_speakers"], "7"))
    assert len(only_bob.prior["prior_codes"]) == 162
    np.testing.assert_array_equal(generate(only_bob, feats, seed=3), as_bob)
    with pytest.raises(SpeakerError, match="no speaker '4'; its speakers: 1, 7"):
        generate(net, feats, seed=3, speaker="4")


def test_a_one_speaker_model_is_unchanged(excerpt, tmp_path):
    fit(TrainConfig(data_dir=str(excerpt), out_dir=str(tmp_path), crop_frames=16, batch_size=2, steps=1,
                    log_every=1, val_every=1, ckpt_every=1), TINY)
    model = load_model(tmp_path / MODEL_NAME)
    assert "prior_clip_speakers" not in model.metadata and "default_speaker" not in model.metadata
    with pytest.raises(SpeakerError, match="trained without speaker labels"):
        generate(model, np.zeros((60, 64), np.float32) - 30, seed=0, speaker="2")
