"""Where sound plays on the scene timeline, and the audio heard there.

A sound strip plays from ``frame_final_start`` to ``frame_final_end`` (exclusive; trims
already applied). Measured in Blender: the source time heard at scene frame F is
``(F - frame_start) / fps - sound_offset`` with ``fps = render.fps / render.fps_base``.
A frame F "sounds" when it lies inside the strip and that source time lies inside the file.

:func:`mix` lays the heard audio of one or more strips onto one 16 kHz buffer whose sample 0
is scene frame ``first`` and which ends at frame ``end`` (exclusive), so that the model's
motion frame k (time k / 30 s) falls at scene frame ``first + k * fps / 30``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_EPS = 1e-9


@dataclass(frozen=True)
class StripTiming:
    """The timing of one sound strip, copied out of Blender (plain numbers)."""

    frame_start: float
    frame_final_start: int
    frame_final_end: int
    sound_offset: float = 0.0  # seconds
    volume: float = 1.0


def source_time(frame, strip: StripTiming, fps: float):
    """Source time (s) heard at scene frame(s) ``frame``."""
    return (np.asarray(frame, dtype=np.float64) - strip.frame_start) / fps - strip.sound_offset


def sounding_frames(strip: StripTiming, duration: float, fps: float) -> tuple[int, int]:
    """Integer scene frames ``[first, end)`` at which the strip plays its source.

    ``duration`` is the source length in seconds. Empty ranges come back as ``first == end``.
    """
    start_src = strip.frame_start + strip.sound_offset * fps  # frame where source time 0 plays
    end_src = start_src + duration * fps  # frame where the source ends
    first = max(int(strip.frame_final_start), math.ceil(start_src - _EPS))
    end = min(int(strip.frame_final_end), math.ceil(end_src - _EPS))
    return first, max(first, end)


def _sample_at(frame_delta: float, fps: float, rate: int) -> int:
    return int(round(frame_delta / fps * rate))


def _placements(clips, fps: float, rate: int):
    """``(first, end, n_buffer, [(strip, samples, s0, s1, offset), ...])``: where each clip's
    source lands on the mixed buffer (buffer sample s hears source sample s + offset, for
    s0 <= s < s1). Raises ValueError when nothing sounds."""
    ranges = []
    for strip, samples in clips:
        first, end = sounding_frames(strip, len(samples) / rate, fps)
        if end > first:
            ranges.append((strip, samples, first, end))
    if not ranges:
        raise ValueError("no sound plays on the timeline")
    first = min(r[2] for r in ranges)
    end = max(r[3] for r in ranges)
    n = _sample_at(end - first, fps, rate)
    placed = []
    for strip, samples, a, b in ranges:
        offset = int(round(float(source_time(first, strip, fps)) * rate))
        s0 = max(_sample_at(a - first, fps, rate), -offset, 0)
        s1 = min(_sample_at(b - first, fps, rate), len(samples) - offset, n)
        placed.append((strip, samples, s0, s1, offset))
    return first, end, n, placed


def mix(clips, fps: float, rate: int) -> tuple[int, int, np.ndarray]:
    """Mix strips onto one mono buffer covering their sounding frames.

    ``clips``: sequence of ``(StripTiming, samples)`` with ``samples`` the whole source as
    mono float32 at ``rate`` Hz. Returns ``(first, end, buffer)``: the sounding frames
    ``[first, end)`` of all strips together (gaps between strips are silence) and the
    buffer of ``round((end - first) / fps * rate)`` samples starting at frame ``first``.
    Raises ValueError when nothing sounds.
    """
    first, end, n, placed = _placements(clips, fps, rate)
    buf = np.zeros(n, dtype=np.float32)
    for strip, samples, s0, s1, offset in placed:
        if s1 > s0:
            chunk = samples[s0 + offset:s1 + offset]
            if strip.volume != 1.0:
                chunk = chunk * np.float32(strip.volume)
            buf[s0:s1] += chunk
    return first, end, buf


def heard(clips, fps: float, rate: int) -> np.ndarray:
    """Which samples of :func:`mix`'s buffer hold source audio (bool, same length): the rest
    is padding (a strip rounded up to whole frames, gaps between strips)."""
    _, _, n, placed = _placements(clips, fps, rate)
    mask = np.zeros(n, dtype=bool)
    for _, _, s0, s1, _ in placed:
        if s1 > s0:
            mask[s0:s1] = True
    return mask


def file_frames(n_samples: int, rate: int, frame_start: int, fps: float) -> tuple[int, int]:
    """Scene frames ``[first, end)`` of a whole file played from ``frame_start``."""
    return frame_start, frame_start + max(1, math.ceil(n_samples / rate * fps - _EPS))
