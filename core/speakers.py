"""Speakers as styles: the retrieval library of a model trained on several speakers, per speaker.

``train export`` records, in the model file's metadata, which speaker each clip of the
retrieval library (``prior_clip_ends``) came from (``prior_clip_speakers``, one id per clip,
e.g. "2" for BEAT2's ``2_scott_...``) and the speaker it recommends (``default_speaker``: the
one with the most library frames). Generating "as speaker s" samples the retrieval prior from
s's clips only (:func:`speaker_arrays`): the motion is made of that speaker's real gestures,
chosen to match the new speech. The Gaussian and paper priors do not depend on the speaker.
A model without these entries has one speaker: its whole library.
"""

from __future__ import annotations

import numpy as np

from .errors import UserError

RETRIEVAL_ARRAYS = ("prior_codes", "prior_shared", "prior_clip_ends", "prior_mean")


#: The model metadata that names the speakers of its retrieval library.
SPEAKER_METADATA = ("prior_clip_speakers", "default_speaker")


class SpeakerError(UserError):
    """A speaker the model does not know; the message lists the ones it does."""


def model_speakers(metadata: dict) -> tuple[str, ...]:
    """The speakers of the model's retrieval library, in first-appearance order (() for a model
    that does not record them)."""
    clips = metadata.get("prior_clip_speakers") or []
    return tuple(dict.fromkeys(str(s) for s in clips))


def default_speaker(metadata: dict) -> str | None:
    """The speaker the model recommends (None: the whole library)."""
    value = metadata.get("default_speaker")
    return None if value is None else str(value)


def check_speaker(metadata: dict, speaker) -> str | None:
    """``speaker`` as the model knows it (None: the model's default); :class:`SpeakerError`
    naming the model's speakers for an unknown one."""
    if speaker is None or speaker == "":
        return default_speaker(metadata)
    known = model_speakers(metadata)
    if str(speaker) not in known:
        have = ", ".join(known) if known else "none (it was trained without speaker labels)"
        raise SpeakerError(f"The model has no speaker {speaker!r}; its speakers: {have}")
    return str(speaker)


def speaker_arrays(arrays: dict[str, np.ndarray], clip_speakers, speaker: str) -> dict[str, np.ndarray]:
    """The prior arrays with the retrieval library cut to ``speaker``'s clips (codes, audio
    codes, clip ends; the mean is that speaker's). Other priors' arrays pass through."""
    ends = np.asarray(arrays["prior_clip_ends"]).astype(np.int64)
    clip_speakers = [str(s) for s in clip_speakers]
    if len(clip_speakers) != len(ends):
        raise SpeakerError(f"The model file lists {len(clip_speakers)} clip speakers for {len(ends)} "
                           "retrieval clips; re-export it")
    starts = np.concatenate([[0], ends[:-1]])
    keep = [k for k, s in enumerate(clip_speakers) if s == str(speaker)]
    if not keep:
        raise SpeakerError(f"The model has no retrieval clips of speaker {speaker!r}")
    rows = np.concatenate([np.arange(starts[k], ends[k]) for k in keep])
    out = dict(arrays)
    out["prior_codes"] = np.asarray(arrays["prior_codes"])[rows]
    out["prior_shared"] = np.asarray(arrays["prior_shared"])[rows]
    out["prior_clip_ends"] = np.cumsum([ends[k] - starts[k] for k in keep]).astype(
        np.asarray(arrays["prior_clip_ends"]).dtype)
    out["prior_mean"] = out["prior_codes"].mean(0).astype(np.asarray(arrays["prior_mean"]).dtype)
    return out
