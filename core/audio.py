"""WAV reading, mono mixdown, resampling and input checks, in numpy only.

Numpy only: this module is copied into the Blender extension and must never import bpy,
torch, scipy or librosa. Other formats (mp3, flac, ...) are decoded by Blender's ``aud``
elsewhere; this module reads WAV (RIFF) files only.

Conventions: audio is float32 in [-1, 1] (full scale = 1.0). Multi-channel audio is
``(n_samples, n_channels)``; mono audio is ``(n_samples,)``. Rates are integers in Hz.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from . import parallel
from .errors import UserError
from .features import SAMPLE_RATE

# WAVE format tags.
WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE

SILENCE_DBFS = -60.0  # audio whose peak is below this is treated as silent
MIN_SECONDS = 0.5  # shortest audio check_audio accepts by default

_BLOCK = 1 << 20  # samples converted / resampled per block (bounds temporaries)


class AudioError(UserError):
    """An audio file or buffer that cannot be used; the message says why and what to do."""


# ----------------------------------------------------------------------------- reading

def _parse_fmt(label, body: bytes) -> tuple[int, int, int, int, int]:
    """Parse a ``fmt `` chunk -> (format tag, channels, rate, block_align, bits)."""
    if len(body) < 16:
        raise AudioError(f"{label}: 'fmt ' chunk too short ({len(body)} bytes); "
                         "the file is damaged")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == WAVE_FORMAT_EXTENSIBLE:
        if len(body) < 40:
            raise AudioError(f"{label}: WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk too short "
                             f"({len(body)} bytes); the file is damaged")
        tag = struct.unpack("<H", body[24:26])[0]  # first two bytes of the sub-format GUID
    return tag, channels, rate, block_align, bits


def _sample_dtype(label, tag: int, bits: int, block_align: int, channels: int) -> str:
    """Numpy dtype string of one stored sample ("<i3" stands for packed 24-bit)."""
    if channels < 1:
        raise AudioError(f"{label}: WAV header says {channels} channels; the file is damaged")
    if block_align != channels * ((bits + 7) // 8):
        raise AudioError(f"{label}: inconsistent WAV header (block_align {block_align} for "
                         f"{channels} channel(s) of {bits} bits); the file is damaged")
    if tag == WAVE_FORMAT_PCM:
        kinds = {8: "u1", 16: "<i2", 24: "<i3", 32: "<i4"}
        if bits in kinds:
            return kinds[bits]
        raise AudioError(f"{label}: unsupported PCM sample size {bits} bits "
                         "(supported: 8, 16, 24, 32); convert the file to 16-bit WAV")
    if tag == WAVE_FORMAT_IEEE_FLOAT:
        if bits in (32, 64):
            return "<f4" if bits == 32 else "<f8"
        raise AudioError(f"{label}: unsupported float sample size {bits} bits "
                         "(supported: 32, 64); convert the file to 16-bit WAV")
    raise AudioError(f"{label}: unsupported WAV encoding (format tag 0x{tag:04x}; supported: "
                     "PCM 8/16/24/32-bit and IEEE float 32/64-bit); convert the file to "
                     "16-bit PCM WAV or import it through Blender's sound strip")


def _to_float32(raw: np.ndarray, kind: str) -> np.ndarray:
    """Convert stored samples (flat) to float32 full scale 1.0, block by block."""
    if kind == "<i3":
        n = raw.size // 3
    else:
        n = raw.size
    out = np.empty(n, dtype=np.float32)
    for a in range(0, n, _BLOCK):
        b = min(n, a + _BLOCK)
        if kind == "u1":
            out[a:b] = (raw[a:b].astype(np.float32) - 128.0) / 128.0
        elif kind == "<i2":  # times 2**-15: exact, one pass, no temporary
            np.multiply(raw[a:b], np.float32(1.0 / 32768.0), out=out[a:b])
        elif kind == "<i3":
            trip = raw[3 * a:3 * b].reshape(-1, 3).astype(np.int32)
            val = trip[:, 0] | (trip[:, 1] << 8) | (trip[:, 2] << 16)
            val -= (val & 0x800000) << 1  # sign-extend 24 -> 32 bits
            out[a:b] = val.astype(np.float64) / 8388608.0
        elif kind == "<i4":
            out[a:b] = raw[a:b].astype(np.float64) / 2147483648.0
        else:  # float32 / float64
            out[a:b] = raw[a:b]
    return out


def _truncated_message(label, declared: int, present: int) -> str:
    return (f"{label}: truncated WAV file (its header declares {declared} bytes of audio, only "
            f"{present} are in the file): the file was cut short; export or copy it again")


def _open(path: str, label: str):
    """``path`` opened for reading bytes, or :class:`AudioError` saying why it cannot be."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise AudioError(f"{label}: cannot open file ({exc.strerror})") from exc


def check_sound_file(path, name: str | None = None) -> None:
    """Refuse a sound file that no decoder should be handed, the same way on every path.

    Raises :class:`AudioError` for a missing file, a folder, an empty (0-byte) file, and a
    RIFF/WAVE file whose ``data`` chunk declares more bytes than the file holds (a decoder
    would silently use part of it). Other files pass: their format is the decoder's business.
    The message starts with ``name`` (how the caller names the file, e.g. ``Sound strip 'S':
    path``), by default the path.
    """
    path = os.fspath(path)
    label = path if name is None else name
    if not os.path.exists(path):
        raise AudioError(f"{label}: file not found")
    if os.path.isdir(path):
        raise AudioError(f"{label}: is a folder, not a sound file")
    f = _open(path, label)
    with f:
        file_size = os.fstat(f.fileno()).st_size
        if file_size == 0:
            raise AudioError(f"{label}: the file is empty (0 bytes); choose a sound file with "
                             "speech in it")
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        for cid, size, pos in _chunks(f):
            if cid == b"data":
                if size != 0xFFFFFFFF and size > file_size - pos:
                    raise AudioError(_truncated_message(label, size, file_size - pos))
                return


def _chunks(f):
    """``(id, size, offset of its body)`` of each RIFF chunk from the file's position on. The
    file is at the chunk's body when one is yielded (the caller may read it); the next chunk is
    found from the offset and size (chunks are padded to an even size)."""
    while True:
        header = f.read(8)
        if len(header) < 8:
            return
        cid, size = struct.unpack("<4sI", header)
        pos = f.tell()
        yield cid, size, pos
        f.seek(pos + size + (size & 1))


def read_wav(path, name: str | None = None) -> tuple[np.ndarray, int]:
    """Read a WAV file -> ``(samples, sample_rate)``.

    ``samples`` is float32 ``(n_samples, n_channels)`` (always 2-D, even for mono) with full
    scale 1.0: PCM is divided by 2**(bits-1) (8-bit PCM is unsigned, offset 128), float
    data is returned as stored (float64 is rounded to float32). ``sample_rate`` is in Hz.

    Supports RIFF/WAVE with PCM 8/16/24/32-bit, IEEE float 32/64-bit, and
    WAVE_FORMAT_EXTENSIBLE wrapping either. Unknown chunks are skipped. A data chunk whose
    size field is 0xFFFFFFFF (left unset by a streaming writer) runs to the end of the file;
    a trailing partial sample frame is dropped. Raises :class:`AudioError` (naming the file) for
    a missing, unreadable, truncated, non-WAV or unsupported file (``name``: as
    :func:`check_sound_file`).
    """
    raw, kind, n_frames, channels, rate = _read_stored(path, name)
    return _to_float32(raw, kind).reshape(n_frames, channels), rate


def _read_stored(path, name: str | None = None) -> tuple[np.ndarray, str, int, int, int]:
    """The samples of a WAV file as stored: ``(flat raw array, kind, n_frames, channels,
    sample_rate)``; the checks and errors of :func:`read_wav`."""
    path = os.fspath(path)
    label = path if name is None else name
    check_sound_file(path, label)  # missing, folder, empty, truncated: the same words as every path
    f = _open(path, label)
    with f:
        file_size = os.fstat(f.fileno()).st_size
        head = f.read(12)
        if len(head) < 12:
            raise AudioError(f"{label}: not a WAV file (only {len(head)} bytes long)")
        magic, _riff_size, wave = struct.unpack("<4sI4s", head)
        if magic in (b"RF64", b"BW64"):
            raise AudioError(f"{label}: RF64/BW64 (WAV over 4 GB) is not supported; "
                             "split the audio or convert it to a plain WAV")
        if magic == b"RIFX":
            raise AudioError(f"{label}: big-endian WAV (RIFX) is not supported; "
                             "convert it to a standard little-endian WAV")
        if magic != b"RIFF" or wave != b"WAVE":
            raise AudioError(f"{label}: not a WAV file (no RIFF/WAVE header); convert it to "
                             "WAV or import it through Blender's sound strip")
        fmt = None
        data_offset = data_size = None
        for cid, size, pos in _chunks(f):
            if cid == b"fmt ":
                body = f.read(size)
                if len(body) < size:
                    raise AudioError(f"{label}: truncated WAV file (ends inside the "
                                     "'fmt ' chunk)")
                fmt = _parse_fmt(label, body)
            elif cid == b"data":
                data_offset = pos
                remaining = file_size - pos
                if size == 0xFFFFFFFF:
                    size = remaining
                elif size > remaining:
                    raise AudioError(_truncated_message(label, size, remaining))
                data_size = size
                if fmt is not None:
                    break
        if fmt is None:
            raise AudioError(f"{label}: damaged WAV file (no 'fmt ' chunk"
                             + (")" if data_offset is None else " before the end)"))
        if data_offset is None:
            raise AudioError(f"{label}: damaged or truncated WAV file (no 'data' chunk)")
        tag, channels, rate, block_align, bits = fmt
        kind = _sample_dtype(label, tag, bits, block_align, channels)
        if rate <= 0:
            raise AudioError(f"{label}: WAV header says sample rate {rate} Hz; "
                             "the file is damaged")
        n_frames = data_size // block_align
        f.seek(data_offset)
        if kind == "<i3":
            raw = np.fromfile(f, dtype=np.uint8, count=n_frames * block_align)
        else:
            raw = np.fromfile(f, dtype=np.dtype(kind), count=n_frames * channels)
    expected = n_frames * (block_align if kind == "<i3" else channels)
    if raw.size < expected:
        raise AudioError(f"{label}: truncated WAV file (could read {raw.size} of "
                         f"{expected} values)")
    return raw, kind, n_frames, channels, int(rate)


def to_mono(samples) -> np.ndarray:
    """Average the channels: ``(n, channels)`` -> ``(n,)`` float32; ``(n,)`` passes through
    (as float32)."""
    samples = np.asarray(samples)
    if samples.ndim == 1:
        return samples.astype(np.float32, copy=False)
    if samples.ndim != 2:
        raise AudioError(f"audio must have shape (n,) or (n, channels), got {samples.shape}")
    if samples.shape[1] == 1:
        return samples[:, 0].astype(np.float32)
    if samples.shape[1] == 2 and samples.dtype == np.float32:
        # (a + b) / 2 rounded once in float32 is the float64 mean rounded to float32 (halving
        # commutes with rounding), ten times faster than mean(axis=1)
        out = np.add(samples[:, 0], samples[:, 1])
        out *= np.float32(0.5)
        return out
    return samples.mean(axis=1, dtype=np.float64).astype(np.float32)


# -------------------------------------------------------------------------- resampling

_filter_cache: dict = {}


def _polyphase_filter(up: int, down: int) -> tuple[np.ndarray, int, int]:
    """Kaiser-windowed sinc lowpass for rational resampling by up/down.

    Same design as ``scipy.signal.resample_poly`` defaults: ``2 * half_len + 1`` taps with
    ``half_len = 10 * max(up, down)``, cutoff at the lower of the two Nyquist rates,
    Kaiser window beta 5.0, unit DC gain, times ``up``. Returned as a polyphase table
    ``kernels (up, K)`` where ``kernels[r, q] = h[r + (K - 1 - q) * up]`` (zero past the
    end), plus ``half_len`` and ``K``.
    """
    key = (up, down)
    if key not in _filter_cache:
        max_rate = max(up, down)
        half_len = 10 * max_rate
        n_taps = 2 * half_len + 1
        t = np.arange(n_taps, dtype=np.float64) - half_len
        cutoff = 1.0 / max_rate  # relative to the upsampled Nyquist
        h = cutoff * np.sinc(cutoff * t) * np.kaiser(n_taps, 5.0)
        h *= up / h.sum()
        k = -(-n_taps // up)
        padded = np.zeros(k * up, dtype=np.float64)
        padded[:n_taps] = h
        kernels = padded.reshape(k, up)[::-1].T.copy()  # (up, K), taps reversed per phase
        _filter_cache[key] = (kernels, half_len, k)
    return _filter_cache[key]


_GEMM_MAX_GROUPS = 64  # the matrix-product resampler below while up * ceil(K / down) is at most this


def _resample_1d(x: np.ndarray, up: int, down: int) -> np.ndarray:
    kernels, half_len, k = _polyphase_filter(up, down)
    if up * -(-k // down) <= _GEMM_MAX_GROUPS:
        return _resample_1d_gemm(x, up, down, kernels, half_len, k)
    return _resample_1d_strided(x, up, down, kernels, half_len, k)


def _gemm_tables(up: int, down: int, kernels, half_len: int, k: int):
    """The filter laid out for :func:`_resample_1d_gemm`: ``(top, bottom, first, width)``."""
    key = ("gemm", up, down)
    if key not in _filter_cache:
        width = down * -(-k // down)  # a row of input samples, at least one window long
        groups = up * (width // down)  # outputs per row: output j + groups starts `width` later
        j = np.arange(groups)
        starts = (j * down + half_len) // up - (k - 1)  # first input of output j's window
        first = int(starts[0])
        table = np.zeros((2 * width, groups), dtype=np.float64)
        for s in range(groups):  # each window lies within two consecutive rows
            offset = int(starts[s]) - first
            table[offset:offset + k, s] = kernels[(s * down + half_len) % up]
        table = table.astype(np.float32)
        _filter_cache[key] = (table[:width].copy(), table[width:].copy(), first, width)
    return _filter_cache[key]


def _resample_1d_gemm(x: np.ndarray, up: int, down: int, kernels, half_len: int, k: int) -> np.ndarray:
    """Polyphase resampling as two matrix products (float32), for small ``up`` (integer
    decimation 48/32/96 kHz -> 16 kHz, 8 -> 16 kHz): the input, cut into rows of ``width``
    samples, times the filter laid out so that column ``s`` of a row's product is output
    ``groups * row + s``. About five times faster than :func:`_resample_1d_strided`, same
    values within float32 rounding."""
    top, bottom, first, width = _gemm_tables(up, down, kernels, half_len, k)
    groups = top.shape[1]
    n = x.shape[0]
    n_out = -(-n * up // down)
    rows = -(-n_out // groups) + 1
    padded = np.zeros(rows * width, dtype=np.float32)  # padded[t] = x[t + first], zero outside
    a, b = max(first, 0), min(n, rows * width + first)
    if b > a:
        padded[a - first:b - first] = x[a:b]
    padded = padded.reshape(rows, width)
    out = np.empty((rows - 1, groups), dtype=np.float32)
    step = max(1, _BLOCK // max(width, groups))  # rows per block (bounds temporaries)

    def block(r0: int, r1: int) -> None:
        np.matmul(padded[r0:r1], top, out=out[r0:r1])
        out[r0:r1] += padded[r0 + 1:r1 + 1] @ bottom

    parallel.for_each_product_span(block, rows - 1, step)  # blocks on the cores
    return out.reshape(-1)[:n_out]


def _resample_1d_strided(x: np.ndarray, up: int, down: int, kernels, half_len: int,
                         k: int) -> np.ndarray:
    n = x.shape[0]
    n_out = -(-n * up // down)
    out = np.empty(n_out, dtype=np.float32)
    # Output j uses inputs i_hi(j) - K + 1 .. i_hi(j), i_hi(j) = (j * down + half_len) // up,
    # with phase r(j) = (j * down + half_len) % up. Outputs j and j + up share the phase and
    # their windows are `down` inputs apart, so each phase is one strided matrix-vector
    # product. Blocks of outputs (a multiple of `up` long) bound the temporaries.
    rows_per_phase = max(1, _BLOCK // max(k, down))
    block = up * rows_per_phase
    for j0 in range(0, n_out, block):
        j1 = min(n_out, j0 + block)
        i_first = (j0 * down + half_len) // up - (k - 1)
        i_last = ((j1 - 1) * down + half_len) // up
        seg = np.zeros(i_last - i_first + 1, dtype=np.float64)
        a, b = max(i_first, 0), min(i_last + 1, n)
        if b > a:
            seg[a - i_first:b - i_first] = x[a:b]
        windows = np.lib.stride_tricks.sliding_window_view(seg, k)
        for j in range(j0, min(j1, j0 + up)):
            t = j * down + half_len
            start = t // up - (k - 1) - i_first
            count = len(range(j, j1, up))
            rows = windows[start:start + (count - 1) * down + 1:down]
            out[j:j1:up] = rows @ kernels[t % up]
    return out


def resample(audio, src_rate: int, dst_rate: int) -> np.ndarray:
    """Band-limited resampling from ``src_rate`` to ``dst_rate`` Hz (polyphase windowed sinc).

    ``audio`` is ``(n,)`` or ``(n, channels)``; returns float32 of length
    ``ceil(n * dst_rate / src_rate)`` (per channel), the same output length and alignment as
    ``scipy.signal.resample_poly(audio, up, down)`` with ``up/down = dst/src`` in lowest terms
    (sample j sits at input time ``j * src_rate / dst_rate``; the signal is zero outside).
    Computed in blocks (float32 matrix products where ``up`` is small, else float64), so memory
    beyond the output stays bounded.
    """
    src_rate, dst_rate = int(src_rate), int(dst_rate)
    if src_rate <= 0 or dst_rate <= 0:
        raise AudioError(f"sample rates must be positive, got {src_rate} -> {dst_rate} Hz")
    audio = np.asarray(audio)
    if audio.ndim not in (1, 2):
        raise AudioError(f"audio must have shape (n,) or (n, channels), got {audio.shape}")
    if src_rate == dst_rate:
        return audio.astype(np.float32, copy=True)
    g = np.gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    if audio.ndim == 1:
        return _resample_1d(audio, up, down)
    return np.stack([_resample_1d(audio[:, c], up, down) for c in range(audio.shape[1])],
                    axis=1)


def load_audio_16k_mono(path, name: str | None = None) -> np.ndarray:
    """Read a WAV file and return mono float32 ``(n,)`` at 16 kHz (``SAMPLE_RATE``).

    read_wav + to_mono + resample. WAV only; raises :class:`AudioError` on bad files (its
    message naming the file ``name``, by default its path).
    """
    raw, kind, n_frames, channels, rate = _read_stored(path, name)
    if kind == "<i2" and channels == 2:  # the common case, mixed in one pass from the integers:
        mono = np.add(raw[0::2], raw[1::2], dtype=np.float32)  # exact (17 bits), and so is
        mono *= np.float32(1.0 / 65536.0)  # the scaling: the same floats as read_wav + to_mono
    else:
        mono = to_mono(_to_float32(raw, kind).reshape(n_frames, channels))
    return resample(mono, rate, SAMPLE_RATE)


# ---------------------------------------------------------------------------- checking

def check_audio(audio, sample_rate: int = SAMPLE_RATE,
                min_seconds: float = MIN_SECONDS, where: str = "") -> np.ndarray:
    """Validate mono audio before feature extraction; return it as float32 ``(n,)``.

    Raises :class:`AudioError` with a message naming the problem and what to do, for audio
    that is not 1-D, empty, contains NaN/inf, is shorter than ``min_seconds`` or is silent
    (peak below ``SILENCE_DBFS`` = -60 dBFS, i.e. ``max |x| < 0.001``); the message starts
    with ``where: `` when given (the file or strips the audio is from).
    """
    def refuse(message: str) -> AudioError:
        return AudioError(f"{where}: {message}" if where else message)

    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise refuse(f"audio must be mono with shape (n,), got shape {audio.shape}; "
                     "mix it down to one channel first")
    if audio.size == 0:
        raise refuse("the audio is empty (0 samples); choose a sound with speech in it")
    if not np.issubdtype(audio.dtype, np.floating):
        raise refuse(f"audio must be floating point in [-1, 1], got dtype {audio.dtype}")
    if not np.all(np.isfinite(audio)):
        raise refuse("the audio contains NaN or infinite samples (a broken decode); "
                     "re-export the sound file and try again")
    seconds = audio.size / float(sample_rate)
    if seconds < min_seconds:
        raise refuse(f"the audio is too short ({seconds:.3f} s, {audio.size} samples at "
                     f"{sample_rate} Hz); at least {min_seconds:g} s of speech is needed")
    peak = float(np.max(np.abs(audio)))
    peak_db = 20.0 * np.log10(peak) if peak > 0 else -np.inf
    if peak_db < SILENCE_DBFS:
        raise refuse(f"the audio is silent (peak {peak_db:.1f} dBFS, below "
                     f"{SILENCE_DBFS:g} dBFS); check the sound file, its volume, or the "
                     "chosen time range")
    return audio.astype(np.float32, copy=False)
