"""Shared fixtures of the training tests: the committed BEAT2 excerpt and a tiny architecture."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from core.config import ModelConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
#: Two short BEAT2 excerpts committed with the tests (see its README.md).
EXCERPT = ROOT / "tests" / "data" / "beat2_excerpt"
#: The full BEAT2 sample shared beside the repository (optional).
SHARED_BEAT2 = ROOT.parent / "shared" / "data" / "beat2"

#: A small network with the real interfaces (64 mel bands, 22 joints, 16-dim codes).
TINY = ModelConfig(audio_channels=(8, 8), motion_channels=(8, 8), decoder_channels=(8, 8), dilations=(1, 2),
                   audio_head_hidden=8, decoder_head_hidden=16)


@pytest.fixture(autouse=True)
def _one_thread():
    """The CI machine is small and shared: one torch thread per test process."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def excerpt() -> Path:
    assert EXCERPT.is_dir(), f"committed test data missing: {EXCERPT}"
    return EXCERPT


@pytest.fixture
def shared_beat2() -> Path:
    if not (SHARED_BEAT2 / "2_scott_0_2_2.npz").is_file():
        pytest.skip(f"the shared BEAT2 sample is not at {SHARED_BEAT2}")
    return SHARED_BEAT2
