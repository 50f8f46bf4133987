# SPDX-License-Identifier: GPL-3.0-or-later
"""The speech that drives the gestures: sound strips in the sequencer, or a file.

WAV files are read by ``core.audio`` (numpy; exact and fast); other formats by Blender's
``aud`` (FLAC, OGG, MP3, ...), whose ``.specs`` is read before ``.data()`` because ``.data()``
on a missing or non-audio file aborts Blender. Channels are averaged in numpy and the audio
resampled to 16 kHz with ``core.audio``. The bpy 4.2 wheels have no ``aud``: WAV only there.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np

from .. import compat
from ..core.audio import AudioError, check_audio, check_sound_file, load_audio_16k_mono, resample, to_mono
from ..core.features import SAMPLE_RATE
from ..core.strip_audio import StripTiming, file_frames, heard, mix


@dataclass(frozen=True)
class HeardAudio:
    """Audio placed on the timeline: ``samples`` (16 kHz mono) start at scene frame ``first``."""

    name: str  # names the generated action
    description: str  # for reports and the action's custom properties
    first: int
    end: int  # exclusive: keys go on frames first .. end - 1
    samples: np.ndarray


def _sound_strips_in(strips, metas: tuple, out: dict) -> None:
    for strip in strips:
        if strip.type == "SOUND":
            out[strip.name] = (strip, metas)
        elif strip.type == "META":
            _sound_strips_in(compat.meta_children(strip), metas + (strip,), out)


def _with_metas(scene) -> dict:
    """Every sound strip of ``scene`` by name, with the meta strips it lies in (outermost
    first): top-level ones and those grouped in meta strips, at any depth."""
    out: dict = {}
    _sound_strips_in(compat.sequencer_strips(scene), (), out)
    return out


def sound_strips(scene) -> list:
    """The sound strips of ``scene``: top-level ones and those inside meta strips (editors
    group dialogue in metas)."""
    return [strip for strip, _ in _with_metas(scene).values()]


def metas_of(scene, strip) -> tuple:
    """The meta strips ``strip`` lies in, outermost first (``()`` at the top level)."""
    found = _with_metas(scene).get(strip.name)
    return found[1] if found is not None else ()


def chosen_strips(scene) -> list:
    """The selected sound strips, else every sound strip that is heard (not muted). A strip in
    a meta strip counts as selected when the meta is (the sequencer selects the meta, not what
    lies inside), and as muted when the meta is."""
    found = _with_metas(scene).values()
    selected = [s for s, metas in found if s.select or any(m.select for m in metas)]
    return selected or [s for s, metas in found if not s.mute and not any(m.mute for m in metas)]


def strip_timing(scene, strip) -> StripTiming:
    """The timing of ``strip`` as heard: inside meta strips, cut to the metas' own trims (a
    meta moved on the timeline moves what it holds: their ``frame_start`` already says so)."""
    first, end = strip.frame_final_start, strip.frame_final_end
    for meta in metas_of(scene, strip):
        first, end = max(first, meta.frame_final_start), min(end, meta.frame_final_end)
    return StripTiming(strip.frame_start, first, max(first, end), compat.sound_offset(strip),
                       strip.volume)


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def _is_wav(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(12)
    return len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def decode(path: str, name: str | None = None) -> np.ndarray:
    """Decode a sound file to mono float32 at 16 kHz; :class:`AudioError` when it cannot, its
    message naming the file ``name`` (e.g. ``Sound strip 'S': path``), by default its path.

    WAV files are read by ``core.audio`` on every Blender version (within about 3e-5 of
    ``aud``'s samples, about ten times faster, and the same numbers on 4.2 where ``aud`` is
    missing); other formats, and WAV encodings ``core.audio`` does not read (ADPCM, ...), by
    ``aud``.
    """
    label = path if name is None else name
    check_sound_file(path, label)  # missing, folder, empty, truncated WAV: one answer everywhere
    try:
        import aud  # noqa: F401  (is it there?)
    except ImportError:  # bpy 4.2 wheels are built without Audaspace
        return load_audio_16k_mono(path, label)
    if _is_wav(path):
        try:
            return load_audio_16k_mono(path, label)
        except AudioError:
            pass  # an encoding only aud reads
    return _aud_decode(path, label)


def decode_with_aud(path: str, name: str | None = None) -> np.ndarray:
    """``path`` decoded by Blender's ``aud``, channels averaged and resampled to 16 kHz by
    ``core.audio``: how :func:`decode` reads formats other than WAV, and how it read WAV files
    too before they went to ``core.audio`` (the recipes of takes made then fingerprint these
    samples). :class:`AudioError` when it cannot (no ``aud`` in this Blender: the 4.2 wheels),
    naming the file ``name`` (as :func:`decode`)."""
    label = path if name is None else name
    check_sound_file(path, label)
    try:
        import aud  # noqa: F401  (is it there?)
    except ImportError:
        raise AudioError(f"{label}: this Blender has no audio decoder (aud)") from None
    return _aud_decode(path, label)


def _aud_decode(path: str, label: str) -> np.ndarray:
    import aud

    sound = aud.Sound(path)
    try:
        rate, channels = sound.specs  # raises aud.error where .data() would abort
    except aud.error as exc:
        raise AudioError(f"{label}: not a readable sound file ({exc})") from exc
    data = np.asarray(sound.data(), dtype=np.float32)
    mono = to_mono(data if data.ndim == 2 else data.reshape(-1))
    if int(rate) != SAMPLE_RATE and mono.size:
        mono = resample(mono, int(rate), SAMPLE_RATE)
    return mono


def sound_file_path(sound, tmp_dir: str) -> str:
    """A readable file for a Sound datablock (packed sounds are written to ``tmp_dir``)."""
    import bpy

    if sound.packed_file is not None:
        ext = os.path.splitext(sound.filepath)[1] or ".wav"
        path = os.path.join(tmp_dir, f"packed{ext}")
        with open(path, "wb") as f:
            f.write(sound.packed_file.data)
        return path
    return bpy.path.abspath(sound.filepath, library=sound.library)


def from_strips(scene, strips=None, decoder=None) -> HeardAudio:
    """Mix the chosen strips as heard on the timeline; :class:`AudioError` when unusable.
    ``decoder``: what reads their files (:func:`decode` unless given; called as
    ``decoder(path, name)``, ``name`` naming the strip in its messages)."""
    decoder = decode if decoder is None else decoder
    strips = chosen_strips(scene) if strips is None else list(strips)
    if not strips:
        raise AudioError("No audio: add a sound strip in the Video Sequencer, "
                         "or choose an audio file in the Gestures panel")
    fps = scene_fps(scene)
    decoded: dict[str, np.ndarray] = {}
    clips = []
    with tempfile.TemporaryDirectory(prefix="a2g-") as tmp:
        for strip in strips:
            if strip.sound is None:
                raise AudioError(f"Sound strip '{strip.name}' has no sound")
            for retimed in (strip, *metas_of(scene, strip)):
                if compat.is_retimed(retimed):
                    raise AudioError(f"Strip '{retimed.name}' is retimed, which gesture "
                                     "timing does not follow: reset its retiming (Strip > Retiming)")
            path = sound_file_path(strip.sound, tmp)
            if path not in decoded:
                decoded[path] = decoder(path, f"Sound strip '{strip.name}': {path}")
            clips.append((strip_timing(scene, strip), decoded[path]))
    try:
        first, end, samples = mix(clips, fps, SAMPLE_RATE)
    except ValueError:
        raise AudioError("The chosen sound strips play no audio on the timeline (trimmed away "
                         "or offset past the end of their files)") from None
    names = ", ".join(s.name for s in strips)
    # the rule is about the sound itself: a strip rounded up to whole frames (a 0.49 s clip
    # plays 15 frames at 30 fps) must not pass where the file alone would not
    check_audio(samples[heard(clips, fps, SAMPLE_RATE)], SAMPLE_RATE, where=f"sound strip(s) {names}")
    return HeardAudio(strips[0].name, f"sound strip(s) {names}", first, end, samples)


def from_file(scene, path: str) -> HeardAudio:
    """A whole audio file played from the scene's start frame."""
    import bpy

    if not path.strip():
        raise AudioError("No audio file chosen: set Audio File in the Gestures panel")
    path = bpy.path.abspath(path.strip())
    samples = decode(path)
    check_audio(samples, SAMPLE_RATE, where=os.path.basename(path))
    first, end = file_frames(samples.size, SAMPLE_RATE, scene.frame_start, scene_fps(scene))
    name = os.path.splitext(os.path.basename(path))[0]
    return HeardAudio(name, path, first, end, samples)


def gather(scene, settings) -> HeardAudio:
    """The audio the panel's settings choose (``settings.audio_source``)."""
    if settings.audio_source == "FILE":
        return from_file(scene, settings.audio_file)
    return from_strips(scene)
