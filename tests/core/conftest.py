"""Fixtures shared by the sampling tests: a random-weight model of the real architecture (with
every code prior, core.model_file.random_model) and raw log-mel-like features."""

from __future__ import annotations

import numpy as np
import pytest

from core.model_file import random_model
from core.network import Network

#: Frames of the shared features (8 s at 30 fps).
N_FRAMES = 240


@pytest.fixture(scope="module")
def net():
    return Network(random_model(seed=11))


@pytest.fixture(scope="module")
def feats():
    return (np.random.default_rng(0).standard_normal((N_FRAMES, 64)) * 12 - 40).astype(np.float32)
