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


@pytest.fixture(autouse=True, scope="session")
def _own_cache(tmp_path_factory):
    """The preprocessed-recordings cache (train.cache) of these tests lives in a temporary folder."""
    import os

    old = os.environ.get("A2G_CACHE")
    os.environ["A2G_CACHE"] = str(tmp_path_factory.mktemp("a2g_cache"))
    yield
    if old is None:
        os.environ.pop("A2G_CACHE", None)
    else:
        os.environ["A2G_CACHE"] = old


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


#: The small BEAT2-layout tree ``beat2_tree`` builds: id -> (split type, excerpt it copies).
BEAT2_ROWS = {
    "2_scott_0_1_1": ("train", "2_scott_0_1_1_excerpt"),
    "2_scott_0_2_2": ("val", "2_scott_0_2_2_excerpt"),
    "2_scott_0_3_3": ("test", "2_scott_0_1_1_excerpt"),
    "2_scott_0_4_4": ("additional", "2_scott_0_2_2_excerpt"),
    "4_lawrence_0_1_1": ("train", "2_scott_0_2_2_excerpt"),
    "4_lawrence_0_2_2": ("test", "2_scott_0_1_1_excerpt"),
}


def build_beat2_tree(root: Path, rows: dict = BEAT2_ROWS) -> Path:
    """BEAT2 as its authors publish it, from the committed excerpt: ``<root>/beat_english_v2.0.0/``
    with ``train_test_split.csv`` (``id,type``), ``smplxflame_30/<id>.npz`` and
    ``wave16k/<id>.wav`` (16 kHz PCM16); returns the ``beat_english_v2.0.0`` folder."""
    import shutil

    import soundfile

    base = root / "beat_english_v2.0.0"
    (base / "smplxflame_30").mkdir(parents=True)
    (base / "wave16k").mkdir()
    lines = ["id,type"]
    for rec_id, (kind, source) in rows.items():
        shutil.copy(EXCERPT / f"{source}.npz", base / "smplxflame_30" / f"{rec_id}.npz")
        audio, rate = soundfile.read(str(EXCERPT / f"{source}.flac"), dtype="int16")
        soundfile.write(str(base / "wave16k" / f"{rec_id}.wav"), audio, rate, subtype="PCM_16")
        lines.append(f"{rec_id},{kind}")
    (base / "train_test_split.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return base


@pytest.fixture(scope="session")
def beat2_tree(tmp_path_factory) -> Path:
    return build_beat2_tree(tmp_path_factory.mktemp("beat2"))
