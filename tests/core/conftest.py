"""Fixtures shared by the sampling tests: a random-weight model of the real architecture (with
every code prior, core.model_file.random_model) and raw log-mel-like features; and the bundled
model with the bundled sample speech's features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.audio import read_wav, resample, to_mono
from core.features import SAMPLE_RATE, features_for_motion
from core.model_file import load_model, random_model
from core.network import Network

ROOT = Path(__file__).resolve().parents[2]
#: The bundled model (models/).
BUNDLED_MODEL = ROOT / "models" / "audio2gestures-beat2-scott.json"

#: Frames of the shared features (8 s at 30 fps).
N_FRAMES = 240


@pytest.fixture(scope="module")
def net():
    return Network(random_model(seed=11))


@pytest.fixture(scope="module")
def feats():
    return (np.random.default_rng(0).standard_normal((N_FRAMES, 64)) * 12 - 40).astype(np.float32)


@pytest.fixture(scope="module")
def bundled():
    """The bundled model, loaded once per test module."""
    return Network(load_model(BUNDLED_MODEL))


@pytest.fixture(scope="module")
def sample_speech():
    """The bundled sample's features (samples/speech_sample.wav: speech of 2_scott_0_4_4, which
    has no motion in the bundled model's clips)."""
    samples, rate = read_wav(ROOT / "samples" / "speech_sample.wav")
    return features_for_motion(resample(to_mono(samples), rate, SAMPLE_RATE))
