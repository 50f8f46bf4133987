"""core/strip_audio.py: where sound plays on the timeline, and the audio heard there."""

import numpy as np
import pytest

from core import strip_audio

RATE = 16000


@pytest.fixture(scope="module")
def timing():
    return strip_audio


def test_sounding_frames_follow_trims_and_offset(timing):
    fps = 24.0
    strip = timing.StripTiming(frame_start=10, frame_final_start=22, frame_final_end=76)
    assert timing.sounding_frames(strip, 3.0, fps) == (22, 76)
    # the sound starts 0.5 s into the strip: frames before 22 are trimmed anyway, 22 < 10 + 12
    late = timing.StripTiming(10, 10, 82, sound_offset=0.5)
    assert timing.sounding_frames(late, 3.0, fps) == (22, 82)
    # a negative offset skips the first second of the source; it runs out 1 s early
    early = timing.StripTiming(10, 10, 82, sound_offset=-1.0)
    assert timing.sounding_frames(early, 3.0, fps) == (10, 58)
    # trimmed past the end of the source: nothing sounds
    gone = timing.StripTiming(10, 90, 100)
    first, end = timing.sounding_frames(gone, 3.0, fps)
    assert first == end


def test_mix_places_source_time_at_the_measured_frame(timing):
    fps = 30 / 1.001
    src = np.zeros(3 * RATE, dtype=np.float32)
    marks = np.arange(0, 3 * RATE, 4000)
    src[marks] = 1.0  # a click every quarter second of source time
    strip = timing.StripTiming(frame_start=5, frame_final_start=9, frame_final_end=80,
                               sound_offset=0.1, volume=0.5)
    first, end, buf = timing.mix([(strip, src)], fps, RATE)
    assert (first, end) == (9, 80)
    assert len(buf) == round((end - first) / fps * RATE)
    heard = np.flatnonzero(buf)
    # each click heard at scene frame F with source time (F - frame_start) / fps - offset
    frames = first + heard / RATE * fps
    source_times = (frames - 5) / fps - 0.1
    np.testing.assert_allclose(source_times * RATE, marks[(marks >= source_times[0] * RATE - 1)
                                                         & (marks <= source_times[-1] * RATE + 1)],
                               atol=1.0)
    assert np.allclose(buf[heard], 0.5)


def test_mix_of_two_strips_spans_both_with_silence_between(timing):
    fps = 24.0
    one = np.full(RATE, 0.25, dtype=np.float32)
    a = timing.StripTiming(1, 1, 25)
    b = timing.StripTiming(49, 49, 73)
    first, end, buf = timing.mix([(a, one), (b, one)], fps, RATE)
    assert (first, end) == (1, 73)
    gap = buf[round(24 / fps * RATE) + 1:round(48 / fps * RATE) - 1]
    assert not gap.any() and buf[:100].all() and buf[-100:].all()


def test_mix_refuses_when_nothing_sounds(timing):
    with pytest.raises(ValueError):
        timing.mix([(timing.StripTiming(10, 90, 100), np.ones(RATE, np.float32))], 24.0, RATE)
