"""core/directing.py: strip time, pins and ranges on the timeline, recipes, blending, metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from core.audio import load_audio_16k_mono
from core.directing import (
    DirectingError,
    PinSpan,
    Recipe,
    StripTime,
    Timeline,
    audio_digest,
    audio_matches,
    auto_seed,
    blend_edges,
    check_pin_spans,
    continue_from,
    default_range,
    fade_length,
    is_sample_digest,
    pin_span,
    resample_span,
    sample_digest,
)
from core.generate import DEFAULT_SYNC, ResampleRange, generate
from core.model_file import random_model
from core.network import Network


# ---- NLA strip time --------------------------------------------------------------------------
def test_strip_time_plain_and_scaled():
    s = StripTime(10, 40, 1, 31)
    np.testing.assert_allclose(s.action_frames([10, 11.5, 40]), [1, 2.5, 31])
    s = StripTime(10, 70, 1, 31, scale=2.0)
    np.testing.assert_allclose(s.action_frames([10, 20, 70]), [1, 6, 31])


def test_strip_time_repeat_wraps_and_ends_on_the_last_frame():
    s = StripTime(10, 70, 1, 31, repeat=2.0)  # two 30-frame repeats
    np.testing.assert_allclose(s.action_frames([10, 39, 40, 55, 70]), [1, 30, 1, 16, 31])
    s = StripTime(10, 100, 1, 31, scale=2.0, repeat=1.5)  # measured in Blender 5.0
    np.testing.assert_allclose(s.action_frames([10, 11.5, 40, 70, 100]), [1, 1.75, 16, 1, 16])


def test_strip_time_reverse():
    s = StripTime(0, 30, 1, 31, reverse=True)
    np.testing.assert_allclose(s.action_frames([0, 10, 30]), [31, 21, 1])


# ---- pins ------------------------------------------------------------------------------------
def test_pin_span_at_30_and_24_fps():
    tl = Timeline(first=10, end=110, fps=30.0, n_model=100)
    span = pin_span("a", 20, 49, tl)
    assert (span.start, span.end) == (10, 40)
    tl24 = Timeline(first=1, end=81, fps=24.0, n_model=100)
    span = pin_span("b", 9, 17, tl24)  # model positions 10.0 .. 20.0
    assert (span.start, span.end) == (10, 21)
    np.testing.assert_allclose(tl24.scene_frames(span.start, span.end)[[0, -1]], [9, 17])


@pytest.mark.parametrize("frames, match", [
    ((200, 230), "lies outside the audio"),
    ((0, 5), "lies outside the audio"),
    ((100, 120), "extends past the audio"),
    ((5, 30), "extends past the audio"),
])
def test_pins_outside_the_audio_are_refused(frames, match):
    tl = Timeline(first=10, end=110, fps=30.0, n_model=100)
    with pytest.raises(DirectingError, match=match) as info:
        pin_span("Clip", *frames, tl)
    assert "'Clip'" in str(info.value) and "frames 10-109" in str(info.value)


def test_too_short_pin():
    tl = Timeline(first=0, end=100, fps=120.0, n_model=25)
    with pytest.raises(DirectingError, match="too short"):
        pin_span("tiny", 1, 2, tl)


def test_overlapping_pins_are_named():
    a, b = PinSpan("A", 10, 30, 10, 31), PinSpan("B", 30, 50, 30, 51)
    with pytest.raises(DirectingError, match="'A'.*'B'.*overlap"):
        check_pin_spans([b, a])
    touching = PinSpan("C", 31, 50, 31, 51)
    assert [s.label for s in check_pin_spans([touching, a])] == ["A", "C"]


# ---- resample ranges -------------------------------------------------------------------------
def test_default_range_markers_then_preview():
    assert default_range([40, 10, 25], (1, 99)).frame_start == 10
    r = default_range([40, 10], None)
    assert (r.frame_start, r.frame_end, r.source) == (10, 40, "markers")
    r = default_range([40], (5, 50))
    assert (r.frame_start, r.frame_end, r.source) == (5, 50, "preview range")
    with pytest.raises(DirectingError, match="only one marker"):
        default_range([40], None)
    with pytest.raises(DirectingError, match="preview range"):
        default_range([], None)


def test_resample_span_at_30_fps_is_the_range():
    tl = Timeline(first=10, end=110, fps=30.0, n_model=100)
    s = resample_span(30, 50, tl)
    assert (s.frame_start, s.frame_end, s.start, s.end, s.clipped) == (30, 50, 20, 41, False)


@pytest.mark.parametrize("fps", [24.0, 25.0, 30.0 / 1.001, 50.0, 60.0])
def test_keys_outside_the_range_read_no_changed_model_frame(fps):
    n_model = 300
    tl = Timeline(first=7, end=7 + int(n_model * fps / 30) - 1, fps=fps, n_model=n_model)
    s = resample_span(40, 90, tl)
    outside = np.r_[tl.first:s.frame_start, s.frame_end + 1:tl.end]
    u = tl.model_position(outside)
    read = np.unique(np.r_[np.floor(u), np.ceil(u)].astype(int))
    assert not np.any((read >= s.start) & (read < s.end))
    inside = tl.model_position(np.arange(s.frame_start + 1, s.frame_end))
    assert np.all((np.ceil(inside) >= s.start) & (np.floor(inside) < s.end))


@pytest.mark.parametrize("frames, match", [
    ((50, 50), "zero-length"),
    ((60, 50), "reversed"),
    ((200, 260), "outside the audio"),
    ((-40, 5), "outside the audio"),
])
def test_bad_ranges(frames, match):
    tl = Timeline(first=10, end=110, fps=30.0, n_model=100)
    with pytest.raises(DirectingError, match=match):
        resample_span(*frames, tl)


def test_range_past_the_audio_is_clipped():
    tl = Timeline(first=10, end=110, fps=30.0, n_model=100)
    s = resample_span(90, 500, tl)
    assert (s.frame_start, s.frame_end, s.start, s.end, s.clipped) == (90, 109, 80, 100, True)
    s = resample_span(0, 30, tl)
    assert (s.frame_start, s.start, s.clipped) == (10, 0, True)


def test_auto_seed_is_deterministic_and_varies():
    seeds = [auto_seed(3, n) for n in range(5)]
    assert seeds == [auto_seed(3, n) for n in range(5)]
    assert len(set(seeds)) == 5 and all(0 <= s < 2**31 for s in seeds)


# ---- recipe ----------------------------------------------------------------------------------
def test_recipe_round_trip():
    r = Recipe(4, "m.json", {"source": "FILE", "file": "/a.wav", "strips": [], "digest": "ab"},
               1, 91, 24.0, (ResampleRange(3, 9, 1),), take=2)
    r2 = r.with_resample(ResampleRange(5, 20, 7))
    back = Recipe.from_json(r2.to_json())
    assert back == r2 and back.resamples[-1] == ResampleRange(5, 20, 7)
    assert r.resamples == (ResampleRange(3, 9, 1),)
    with pytest.raises(DirectingError, match="unreadable"):
        Recipe.from_json("{not json")
    with pytest.raises(DirectingError, match="unreadable"):
        Recipe.from_json('{"version": 99}')


def test_recipe_intensity():
    audio = {"source": "FILE", "file": "/a.wav", "strips": [], "digest": "ab"}
    r = Recipe(4, "m.json", audio, 1, 91, 24.0, take=1, intensity=1.5)
    r2 = r.with_resample(ResampleRange(5, 20, 7))
    assert r2.intensity == 1.5 and Recipe.from_json(r2.to_json()) == r2
    old = json.loads(r.to_json())
    del old["intensity"]  # a recipe written before intensity existed
    assert Recipe.from_json(json.dumps(old)).intensity == 1.0
    for bad in (0.0, -1.0, 3.5):
        old["intensity"] = bad
        with pytest.raises(DirectingError, match="intensity"):
            Recipe.from_json(json.dumps(old))


def test_recipe_sync():
    audio = {"source": "FILE", "file": "/a.wav", "strips": [], "digest": "ab"}
    r = Recipe(4, "m.json", audio, 1, 91, 24.0, sync=0.5)
    r2 = r.with_resample(ResampleRange(5, 20, 7))
    assert r2.sync == 0.5 and Recipe.from_json(r2.to_json()) == r2
    assert Recipe(4, "m.json", audio, 1, 91, 24.0).sync == DEFAULT_SYNC == 1.0
    old = json.loads(r.to_json())
    del old["sync"]  # a recipe written before sync was recorded: made with core.generate's sync 0
    assert Recipe.from_json(json.dumps(old)).sync == 0.0
    for bad in (-0.5, 3.5, float("nan")):
        old["sync"] = bad
        with pytest.raises(DirectingError, match="sync"):
            Recipe.from_json(json.dumps(old))


def test_recipe_prior():
    audio = {"source": "FILE", "file": "/a.wav", "strips": [], "digest": "ab"}
    r = Recipe(4, "m.json", audio, 1, 91, 24.0, prior="gaussian")
    r2 = r.with_resample(ResampleRange(5, 20, 7))
    assert r2.prior == "gaussian" and Recipe.from_json(r2.to_json()) == r2
    old = json.loads(r.to_json())
    del old["prior"]  # a recipe written before the prior was recorded: the model's default
    assert Recipe.from_json(json.dumps(old)).prior == ""
    old["prior"] = "flow"
    with pytest.raises(DirectingError, match="unknown code prior 'flow'"):
        Recipe.from_json(json.dumps(old))


def test_recipe_style():
    audio = {"source": "FILE", "file": "/a.wav", "strips": [], "digest": "ab"}
    r = Recipe(4, "m.json", audio, 1, 91, 24.0, prior="retrieval", style="f00d" * 10,
               style_names=("Talking", "Explaining"))
    r2 = r.with_resample(ResampleRange(5, 20, 7))
    assert r2.style == "f00d" * 10 and r2.style_names == ("Talking", "Explaining")
    assert Recipe.from_json(r2.to_json()) == r2
    old = json.loads(r.to_json())
    del old["style"], old["style_names"]  # a recipe written before styles: the bundled library
    back = Recipe.from_json(json.dumps(old))
    assert back.style == "" and back.style_names == ()
    old["style"] = 3
    with pytest.raises(DirectingError, match="unreadable"):
        Recipe.from_json(json.dumps(old))


def test_recipe_speaker():
    audio = {"source": "FILE", "file": "/a.wav", "strips": [], "digest": "ab"}
    r = Recipe(4, "m.json", audio, 1, 91, 24.0, prior="retrieval", speaker="7")
    r2 = r.with_resample(ResampleRange(5, 20, 7))
    assert r2.speaker == "7" and Recipe.from_json(r2.to_json()) == r2
    assert Recipe.from_json(Recipe(4, "m.json", audio, 1, 91, 24.0).to_json()).speaker is None
    old = json.loads(r.to_json())
    del old["speaker"]  # a recipe written before the speaker was recorded: the model's default
    assert Recipe.from_json(json.dumps(old)).speaker is None
    old["speaker"] = 7
    with pytest.raises(DirectingError, match="speaker 7 is not a name"):
        Recipe.from_json(json.dumps(old))


@pytest.fixture(scope="module")
def speech():
    """4 s of the bundled real speech, 16 kHz mono float32."""
    return load_audio_16k_mono(Path(__file__).resolve().parents[2] / "samples" / "speech_sample.wav")[:64000]


def test_audio_fingerprint_ignores_decoder_differences(speech):
    digest = audio_digest(speech)
    assert isinstance(digest, str) and digest.startswith("a2:64000:1600:")
    json.dumps({"digest": digest})  # recipe-safe
    assert audio_digest(speech.copy()) == digest and audio_matches(digest, speech)
    rng = np.random.default_rng(1)
    for noise in (1e-5, -1e-5, 3e-5):  # aud's and core.audio's decodes of one WAV: up to 2.7e-5
        assert audio_matches(digest, speech + np.float32(noise) * rng.uniform(-1, 1, speech.size))
    assert audio_matches(digest, speech + np.float32(1e-5))  # the same offset on every sample
    assert audio_matches(digest, speech * np.float32(32768 / 32767))  # int16 scaled by 2^15 or 2^15 - 1
    assert audio_matches(digest, speech.astype(np.float64))
    assert audio_matches(digest, speech[:-16])  # a resampler rounding the length (1 ms)


def test_audio_fingerprint_sees_the_sound_change(speech):
    digest = audio_digest(speech)
    other = load_audio_16k_mono(Path(__file__).resolve().parents[2] / "samples" / "speech_sample.wav")
    i = 30000

    def edited(change):
        y = speech.copy()
        change(y)
        return y

    hiss = np.float32(0.01) * np.random.default_rng(2).standard_normal(speech.size)
    changed = {
        "another recording": other[64000:128000],
        "a word replaced (0.25 s)": edited(lambda y: y.__setitem__(slice(i, i + 4000),
                                                                   speech[i + 8000:i + 12000])),
        "10 ms silenced": edited(lambda y: y.__setitem__(slice(i, i + 160), 0)),
        "a click": edited(lambda y: y.__setitem__(i, 0.9)),  # this 0.1 s peaks at 0.62
        "0.5 dB quieter for 0.5 s": edited(lambda y: y.__setitem__(slice(i, i + 8000),
                                                                   y[i:i + 8000] * 0.944)),
        "hiss at -40 dB added": speech + hiss,
        "shifted by 1 ms": np.concatenate([np.zeros(16, np.float32), speech[:-16]]),
        "2 ms shorter": speech[:-32],
        "1 s longer": np.concatenate([speech, other[:16000]]),
        "reversed": speech[::-1],
    }
    for what, samples in changed.items():
        assert not audio_matches(digest, samples), what


def test_audio_fingerprint_stays_small_for_long_audio():
    x = np.tile(np.sin(np.arange(16000, dtype=np.float32) * 0.05), 60 * 20)  # 20 minutes
    digest = audio_digest(x)
    assert digest.startswith(f"a2:{x.size}:9600:") and len(digest) < 17_000  # 0.6 s blocks
    assert audio_matches(digest, x) and audio_matches(digest, x + np.float32(1e-5))
    y = x.copy()
    y[10_000_000:10_004_800] = 0
    assert not audio_matches(digest, y)


def test_old_recipes_fingerprints_still_compare(speech):
    """Recipes written before held the sha1 of the samples: it matches those samples exactly,
    as it always did (the Blender side decodes the audio as it was decoded then, to compare)."""
    old = sample_digest(speech)
    assert len(old) == 16 and is_sample_digest(old) and not is_sample_digest(audio_digest(speech))
    assert audio_matches(old, speech)
    assert not audio_matches(old, speech + np.float32(1e-5))
    for bad in (None, "", "ab", "a2:64000:1600:###", "a2:64000:0:", "a2:12:1600:AAAA", "a3:1:1:AAAA"):
        assert not audio_matches(bad, speech), bad


# ---- blending keys -------------------------------------------------------------------------
def test_blend_edges_fades_in_and_out():
    n = 40
    cur = np.tile([1.0, 0, 0, 0], (n, 2, 1))
    new = np.tile([math.cos(0.5), math.sin(0.5), 0, 0], (n, 2, 1))
    out = blend_edges(cur, -new, fps=30.0)  # the sign of the new keys does not matter
    angle = 2 * np.arccos(np.clip(np.abs(out[:, 0, 0]), 0, 1))
    assert fade_length(30.0) == 8 and fade_length(60.0) == 16
    assert angle[0] < 0.05 and angle[-1] < 0.05
    np.testing.assert_allclose(angle[8:-8], 1.0, atol=1e-9)
    assert np.all(np.diff(angle[:9]) > 0) and np.all(np.diff(angle[-9:]) < 0)


def test_continue_from_matches_the_neighbouring_key():
    q = np.tile([0.0, 1.0, 0, 0], (3, 1, 1))
    q[1] *= -1
    out = continue_from(q, before=np.array([[0.0, -1.0, 0, 0]]))
    assert np.all(out[:, 0, 1] == -1.0)
    out = continue_from(q, after=np.array([[0.0, 1.0, 0, 0]]))
    assert np.all(out[:, 0, 1] == 1.0)


# ---- layered resampling ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def net():
    return Network(random_model(seed=3))


@pytest.fixture(scope="module")
def feats():
    return (np.random.default_rng(0).standard_normal((200, 64)) * 12 - 40).astype(np.float32)


def test_layered_ranges_replay_an_edit_history(net, feats):
    first = [ResampleRange(40, 90, 1)]
    once = generate(net, feats, 2, resamples=first, layered=True)
    np.testing.assert_array_equal(once, generate(net, feats, 2, resamples=first))
    twice = generate(net, feats, 2, resamples=first + [ResampleRange(70, 130, 5)], layered=True)
    outside = np.r_[0:70, 130:200]
    np.testing.assert_array_equal(twice[outside], once[outside])
    assert np.abs(twice[80:120] - once[80:120]).max() > 1e-2
    with pytest.raises(ValueError, match="overlap"):
        generate(net, feats, 2, resamples=first + [ResampleRange(70, 130, 5)])


def test_same_keys_allows_float32_rounding_and_either_sign_only():
    from core.directing import SAME_KEYS_TOLERANCE, same_keys

    rng = np.random.default_rng(5)
    q = rng.standard_normal((10, 22, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    assert same_keys(q, q.astype(np.float32)) and same_keys(q, -q)
    moved = q.copy()
    moved[3, 7, 1] += 2 * SAME_KEYS_TOLERANCE
    assert not same_keys(q, moved)


def test_range_key_indices_one_key_on_every_frame_of_the_range():
    from core.directing import range_key_indices

    keys = np.array([1.0, 2.0, 3.0, 4.0000005, 5.0, 6.0], dtype=np.float32)
    np.testing.assert_array_equal(range_key_indices(keys, 3, 5), [2, 3, 4])
    np.testing.assert_array_equal(range_key_indices(keys, 1, 6), [0, 1, 2, 3, 4, 5])


@pytest.mark.parametrize("keys", [[1.0, 2.0, 4.0, 5.0], [1.0, 2.0, 3.0, 3.5, 4.0, 5.0], [2.0, 3.0, 4.02]])
def test_range_key_indices_refuses_keys_added_or_deleted_by_hand(keys):
    from core.directing import range_key_indices

    with pytest.raises(DirectingError, match="frames 2-4 were added to or deleted by hand"):
        range_key_indices(np.array(keys), 2, 4)
