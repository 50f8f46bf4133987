"""core.audio: WAV reading against soundfile, resampling against scipy, errors, checks."""

import struct
from pathlib import Path

import numpy as np
import pytest

from core import audio as A
from core.audio import AudioError

sf = pytest.importorskip("soundfile")

BEAT2 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "beat2"
WAVS = {"2_scott_0_1_1.wav": "FLOAT", "2_scott_0_2_2.wav": "PCM_16"}

needs_beat2 = pytest.mark.skipif(
    not all((BEAT2 / w).exists() for w in WAVS),
    reason=f"BEAT2 sample WAVs not found in {BEAT2} (the repo's sibling ../shared folder)")


def _signal(n=4000, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    x = 0.5 * rng.standard_normal((n, channels))
    x[:3] = [[-1.0], [0.999], [0.0]] if channels == 1 else x[:3]
    return np.clip(x, -1.0, 0.999)


def _write_raw_wav(path, fmt_body, data, extra_chunks=(), data_size=None):
    """A hand-made RIFF file: fmt chunk, optional extra chunks, then data."""
    chunks = b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body
    for cid, body in extra_chunks:
        chunks += cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")
    size = len(data) if data_size is None else data_size
    chunks += b"data" + struct.pack("<I", size) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)
    return path


# ------------------------------------------------------------------------- read_wav

@needs_beat2
@pytest.mark.parametrize("name", sorted(WAVS))
def test_read_beat2_matches_soundfile(name):
    assert sf.info(BEAT2 / name).subtype == WAVS[name]
    ours, rate = A.read_wav(BEAT2 / name)
    ref, ref_rate = sf.read(BEAT2 / name, dtype="float32", always_2d=True)
    assert rate == ref_rate == 16000
    assert ours.dtype == np.float32 and ours.shape == ref.shape and ours.shape[1] == 1
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("subtype,fmt,tol", [
    ("PCM_U8", "WAV", 0), ("PCM_16", "WAV", 0), ("PCM_24", "WAV", 0), ("PCM_32", "WAV", 1e-7),
    ("FLOAT", "WAV", 0), ("DOUBLE", "WAV", 0),
    ("PCM_16", "WAVEX", 0), ("PCM_24", "WAVEX", 0), ("FLOAT", "WAVEX", 0), ("DOUBLE", "WAVEX", 0),
])
@pytest.mark.parametrize("channels", [1, 2])
def test_read_written_wavs_matches_soundfile(tmp_path, subtype, fmt, tol, channels):
    path = tmp_path / f"x_{subtype}_{fmt}_{channels}.wav"
    rate = 44100 if channels == 2 else 22050
    sf.write(path, _signal(3001, channels), rate, subtype=subtype, format=fmt)
    ours, our_rate = A.read_wav(path)
    ref, _ = sf.read(path, dtype="float32", always_2d=True)
    assert our_rate == rate
    assert ours.shape == ref.shape == (3001, channels)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=tol)
    if fmt == "WAVEX":
        tag = struct.unpack("<H", path.read_bytes()[20:22])[0]
        assert tag == A.WAVE_FORMAT_EXTENSIBLE


def test_float64_precision_and_stereo_layout(tmp_path):
    x = np.stack([np.linspace(-1, 1, 1000), -np.linspace(-1, 1, 1000) * 0.25], axis=1)
    sf.write(tmp_path / "d.wav", x, 8000, subtype="DOUBLE")
    ours, rate = A.read_wav(tmp_path / "d.wav")
    assert rate == 8000 and ours.shape == (1000, 2)
    np.testing.assert_array_equal(ours, x.astype(np.float32))


def test_hand_made_pcm24_with_odd_chunk_and_unset_data_size(tmp_path):
    vals = np.array([0, 1, -1, 8388607, -8388608, 4194304], dtype=np.int64)
    data = b"".join(int(v & 0xFFFFFF).to_bytes(3, "little") for v in vals)
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 16000 * 3, 3, 24)
    path = _write_raw_wav(tmp_path / "h.wav", fmt, data, extra_chunks=[(b"LIST", b"abc")],
                          data_size=0xFFFFFFFF)
    ours, rate = A.read_wav(path)
    assert rate == 16000
    np.testing.assert_array_equal(ours[:, 0], (vals / 8388608.0).astype(np.float32))


# ----------------------------------------------------------------------- read errors

def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="not found") as err:
        A.read_wav(tmp_path / "nope.wav")
    assert "nope.wav" in str(err.value)


def test_text_file_renamed_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio, just some text that is long enough\n")
    with pytest.raises(AudioError, match="not a WAV file") as err:
        A.read_wav(path)
    assert "notes.wav" in str(err.value)
    (tmp_path / "tiny.wav").write_bytes(b"RIF")
    with pytest.raises(AudioError, match="not a WAV file"):
        A.read_wav(tmp_path / "tiny.wav")


def test_truncated_file(tmp_path):
    path = tmp_path / "full.wav"
    sf.write(path, _signal(8000), 16000, subtype="PCM_16")
    raw = path.read_bytes()
    (tmp_path / "cut.wav").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(AudioError, match="truncated") as err:
        A.read_wav(tmp_path / "cut.wav")
    assert "cut.wav" in str(err.value)
    (tmp_path / "head.wav").write_bytes(raw[:30])  # ends inside the fmt chunk
    with pytest.raises(AudioError, match="truncated"):
        A.read_wav(tmp_path / "head.wav")
    (tmp_path / "nodata.wav").write_bytes(raw[:36])  # fmt complete, no data chunk
    with pytest.raises(AudioError, match="no 'data' chunk"):
        A.read_wav(tmp_path / "nodata.wav")


def test_unsupported_encodings(tmp_path):
    alaw = struct.pack("<HHIIHH", 6, 1, 8000, 8000, 1, 8)
    with pytest.raises(AudioError, match="unsupported WAV encoding"):
        A.read_wav(_write_raw_wav(tmp_path / "alaw.wav", alaw, b"\0" * 10))
    pcm12 = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 12)
    with pytest.raises(AudioError, match="unsupported PCM sample size"):
        A.read_wav(_write_raw_wav(tmp_path / "p12.wav", pcm12, b"\0" * 10))
    path = tmp_path / "rf64.wav"
    path.write_bytes(b"RF64" + b"\xff" * 4 + b"WAVE" + b"\0" * 40)
    with pytest.raises(AudioError, match="RF64"):
        A.read_wav(path)


# ---------------------------------------------------------------------- to_mono, load

def test_to_mono():
    x = np.array([[1.0, 0.0], [0.5, -0.5], [-1.0, -1.0]], np.float32)
    np.testing.assert_array_equal(A.to_mono(x), np.array([0.5, 0.0, -1.0], np.float32))
    assert A.to_mono(x[:, :1]).shape == (3,)
    assert A.to_mono(x[:, 0]).dtype == np.float32


def test_load_audio_16k_mono(tmp_path):
    scipy_signal = pytest.importorskip("scipy.signal")
    x = _signal(44100, 2)
    sf.write(tmp_path / "s.wav", x, 44100, subtype="FLOAT")
    out = A.load_audio_16k_mono(tmp_path / "s.wav")
    ref = scipy_signal.resample_poly(x.astype(np.float32).mean(axis=1), 160, 441)
    assert out.dtype == np.float32 and out.shape == ref.shape == (16000,)
    np.testing.assert_allclose(out, ref, atol=1e-5)


# ------------------------------------------------------------------------- resample

@needs_beat2
@pytest.mark.parametrize("src", [44100, 48000, 22050])
def test_resample_matches_scipy_on_speech(src):
    scipy_signal = pytest.importorskip("scipy.signal")
    speech = sf.read(BEAT2 / "2_scott_0_2_2.wav", dtype="float32")[0][: 16000 * 20]
    g = np.gcd(src, 16000)
    x = scipy_signal.resample_poly(speech, src // g, 16000 // g).astype(np.float32)
    ref = scipy_signal.resample_poly(x.astype(np.float64), 16000 // g, src // g)
    out = A.resample(x, src, 16000)
    assert out.dtype == np.float32 and out.shape == ref.shape
    rel_rms = np.sqrt(np.mean((out - ref) ** 2) / np.mean(ref ** 2))
    assert rel_rms < 1e-5  # same filter design: float32 rounding only (brief allows 1-2 %)


@pytest.mark.parametrize("n", [1, 2, 5, 440, 441, 1000])
@pytest.mark.parametrize("src,dst", [(44100, 16000), (48000, 16000), (96000, 16000), (32000, 16000),
                                     (8000, 16000), (16000, 44100), (3, 2)])
def test_resample_lengths_and_edges_match_scipy(n, src, dst):
    scipy_signal = pytest.importorskip("scipy.signal")
    x = np.random.default_rng(n).standard_normal(n)
    g = np.gcd(src, dst)
    ref = scipy_signal.resample_poly(x, dst // g, src // g)
    out = A.resample(x, src, dst)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_resample_preserves_a_tone_and_removes_aliases():
    t = np.arange(48000) / 48000.0
    low = np.sin(2 * np.pi * 1000.0 * t)
    high = np.sin(2 * np.pi * 12000.0 * t)  # above the 8 kHz Nyquist of the output
    out_low = A.resample(low, 48000, 16000)[1000:-1000]
    out_high = A.resample(high, 48000, 16000)[1000:-1000]
    assert np.sqrt(np.mean(out_low ** 2)) == pytest.approx(np.sqrt(0.5), rel=1e-3)
    assert np.sqrt(np.mean(out_high ** 2)) < 1e-2


def test_resample_misc():
    x = np.ones((10, 2))
    assert A.resample(x, 16000, 16000).dtype == np.float32
    assert A.resample(np.zeros(0), 44100, 16000).shape == (0,)
    assert A.resample(np.ones((441, 2)), 44100, 16000).shape == (160, 2)
    with pytest.raises(AudioError):
        A.resample(x, 0, 16000)


# --------------------------------------------------------------------- check_audio

def test_check_audio_accepts_speech_like_audio():
    x = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    assert A.check_audio(x, 16000) is x


@pytest.mark.parametrize("audio,match", [
    (np.zeros(0, np.float32), "empty"),
    (np.full(7999, 0.5, np.float32), "too short"),
    (np.zeros(16000, np.float32), "silent"),
    (np.full(16000, 0.0009, np.float32), "silent"),
    (np.array([0.5, np.nan] * 8000, np.float32), "NaN"),
    (np.array([0.5, np.inf] * 8000, np.float32), "NaN or infinite"),
    (np.zeros((16000, 2), np.float32), "mono"),
])
def test_check_audio_errors(audio, match):
    with pytest.raises(AudioError, match=match):
        A.check_audio(audio, 16000)


def test_check_audio_min_seconds():
    x = np.full(4000, 0.5, np.float32)
    assert A.check_audio(x, 16000, min_seconds=0.25) is x
    with pytest.raises(AudioError, match="at least 0.5 s"):
        A.check_audio(x, 16000)


def test_load_audio_16k_mono_pcm16_stereo_is_read_wav_then_to_mono(tmp_path):
    # the 16-bit stereo short path mixes the integers: the same floats as the general path
    x = np.random.default_rng(5).integers(-32768, 32768, size=(4801, 2)).astype(np.int16)
    x[:3] = [[-32768, -32768], [32767, 32767], [-32768, 32767]]
    sf.write(tmp_path / "s.wav", x, 48000, subtype="PCM_16")
    samples, rate = A.read_wav(tmp_path / "s.wav")
    expected = A.resample(A.to_mono(samples), rate, 16000)
    np.testing.assert_array_equal(A.load_audio_16k_mono(tmp_path / "s.wav"), expected)


# ---------------------------------------------------------------- how the caller names the file
def test_messages_name_the_file_as_the_caller_does(tmp_path):
    missing = tmp_path / "gone.wav"
    with pytest.raises(AudioError) as info:
        A.read_wav(missing, name=f"Sound strip 'S': {missing}")
    assert str(info.value) == f"Sound strip 'S': {missing}: file not found"
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError) as info:
        A.check_sound_file(empty, "Sound strip 'S': empty.wav")
    assert str(info.value).startswith("Sound strip 'S': empty.wav: the file is empty (0 bytes)")
    with pytest.raises(AudioError) as info:
        A.load_audio_16k_mono(missing)  # by default, the path
    assert str(info.value) == f"{missing}: file not found"


def test_check_audio_names_where_the_audio_is_from():
    with pytest.raises(AudioError) as info:
        A.check_audio(np.zeros(16000, dtype=np.float32), where="talk.wav")
    assert str(info.value).startswith("talk.wav: the audio is silent (peak -inf dBFS")
    with pytest.raises(AudioError, match=r"^the audio is too short \(0\.100 s"):
        A.check_audio(np.full(1600, 0.5, dtype=np.float32))
