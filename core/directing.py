"""Directing generated gestures on the timeline (paper sec. 5.6), without bpy.

The Blender side (``a2g_blender/jobs/pins.py``, ``resample.py``, ``takes.py``) copies plain numbers
out of Blender and calls this module for everything that is arithmetic:

- **NLA strip time** (:class:`StripTime`): which action frame a strip shows at a scene frame,
  as Blender evaluates an action clip (action range, scale, repeat, reverse).
- **The audio's timeline** (:class:`Timeline`): the generated motion's model frame k (30 fps)
  lies at scene frame ``first + k * fps / 30``, ``first`` being the first frame with audio.
- **Pins** (:func:`pin_span`, :func:`check_pin_spans`): a strip's scene frames -> the model frames
  whose motion-specific code it replaces; pins outside the audio, empty or overlapping pins are
  refused with a message naming the strips.
- **Resample ranges** (:func:`default_range`, :func:`resample_span`): the selected markers, else
  the preview range; scene frames -> the model frames that may change, chosen so that every key
  outside the range reads only model frames that do not.
- **Recipe** (:class:`Recipe`): what made a take (audio, seed, model, resample history), stored
  as JSON on the generated action so Resample can replay it.

Scene ranges are inclusive (``frame_start .. frame_end``), like Blender's preview range;
model spans are half-open ``[start, end)`` like ``core.generate``'s.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np

from .errors import UserError
from .generate import DEFAULT_SYNC, FADE_FRAMES, MAX_INTENSITY, MAX_SYNC, ResampleRange, fade_weights
from .prior import PRIORS
from .rotations import quat_make_continuous, quat_normalize, quat_slerp
from .timeline import MODEL_FPS

_EPS = 1e-6  # frames: Blender compares strip times with float tolerance


class DirectingError(UserError):
    """Bad pins, ranges or takes; the message is for the user."""


# ---- NLA strip time ------------------------------------------------------------------------
@dataclass(frozen=True)
class StripTime:
    """The timing of one NLA action strip, copied out of Blender.

    The strip plays action frames ``action_start .. action_end`` from scene frame
    ``frame_start`` to ``frame_end`` (both inclusive), ``repeat`` times, each repeat stretched
    by ``scale``; ``reverse`` plays it backwards.
    """

    frame_start: float
    frame_end: float
    action_start: float
    action_end: float
    scale: float = 1.0
    repeat: float = 1.0
    reverse: bool = False

    def action_frames(self, frames) -> np.ndarray:
        """The action frame(s) the strip shows at scene frame(s) ``frames`` (inside the strip).

        As Blender evaluates an action clip: one repeat lasts ``(action_end - action_start) *
        scale`` scene frames and wraps around; at the very end of a whole number of repeats it
        shows the last action frame (not the first again).
        """
        f = np.asarray(frames, dtype=np.float64)
        scale = abs(self.scale) if abs(self.scale) > _EPS else 1.0
        repeat = self.repeat if abs(self.repeat) > _EPS else 1.0
        length = self.action_end - self.action_start
        if abs(length) < _EPS:
            length = 1.0
        local = np.fmod(f - self.frame_start, length * scale) / scale
        at_end = (np.abs(f - self.frame_end) < _EPS) & (abs(repeat - round(repeat)) < _EPS)
        if self.reverse:
            return np.where(at_end, self.action_start, self.action_end - local)
        return np.where(at_end, self.action_end, self.action_start + local)


# ---- the audio's timeline ------------------------------------------------------------------
@dataclass(frozen=True)
class Timeline:
    """Where the generated motion sits on the scene timeline.

    ``first .. end - 1``: the scene frames with audio (and keys); ``fps``: the scene's frame
    rate (``render.fps / render.fps_base``); ``n_model``: the motion's length in model frames.
    """

    first: int
    end: int
    fps: float
    n_model: int

    @property
    def last(self) -> int:
        return self.end - 1

    def model_position(self, frames):
        """Model-frame position (float) of scene frame(s) ``frames``."""
        return (np.asarray(frames, dtype=np.float64) - self.first) * MODEL_FPS / self.fps

    def scene_frames(self, start: int, end: int) -> np.ndarray:
        """Scene frames (float) of model frames ``start .. end - 1``."""
        return self.first + np.arange(start, end, dtype=np.float64) * self.fps / MODEL_FPS

    def describe(self) -> str:
        return f"frames {self.first}-{self.last}"


def _frame_text(frame: float) -> str:
    return f"{frame:g}"


# ---- pins ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PinSpan:
    """One pin strip placed on the model's frames: code replaced over ``[start, end)``."""

    label: str  # names the strip in messages
    frame_start: float
    frame_end: float
    start: int
    end: int


def pin_span(label: str, frame_start: float, frame_end: float, timeline: Timeline) -> PinSpan:
    """The model frames of a pin strip covering scene frames ``frame_start .. frame_end``.

    Raises :class:`DirectingError` when the strip lies (partly) outside the audio or covers no
    model frame.
    """
    where = f"Pin '{label}' (frames {_frame_text(frame_start)}-{_frame_text(frame_end)})"
    fix = "move or trim the strip in the NLA editor, or mute it to leave it out"
    if frame_end < timeline.first - _EPS or frame_start > timeline.last + _EPS:
        raise DirectingError(f"{where} lies outside the audio ({timeline.describe()}): {fix}")
    if frame_start < timeline.first - _EPS or frame_end > timeline.last + _EPS:
        raise DirectingError(f"{where} extends past the audio ({timeline.describe()}): {fix}")
    u0, u1 = timeline.model_position([frame_start, frame_end])
    start = max(0, math.ceil(u0 - _EPS))
    end = min(timeline.n_model, math.floor(u1 + _EPS) + 1)
    if end <= start:
        raise DirectingError(f"{where} is too short: it covers no motion frame ({fix})")
    return PinSpan(label, float(frame_start), float(frame_end), start, end)


def check_pin_spans(spans) -> list[PinSpan]:
    """Spans sorted by start; :class:`DirectingError` naming two pins that share frames."""
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    for prev, cur in zip(ordered, ordered[1:], strict=False):
        if cur.start < prev.end:
            raise DirectingError(
                f"Pins '{prev.label}' (frames {_frame_text(prev.frame_start)}-"
                f"{_frame_text(prev.frame_end)}) and '{cur.label}' (frames "
                f"{_frame_text(cur.frame_start)}-{_frame_text(cur.frame_end)}) overlap: "
                "move one of them, or mute it"
            )
    return ordered


# ---- resample ranges -----------------------------------------------------------------------
@dataclass(frozen=True)
class FrameRange:
    """An inclusive range of scene frames and where it came from (for messages)."""

    frame_start: int
    frame_end: int
    source: str  # "markers", "preview range" or "frames"

    def describe(self) -> str:
        return f"frames {self.frame_start}-{self.frame_end} ({self.source})"


def default_range(selected_markers=(), preview=None) -> FrameRange:
    """The range Resample uses when none is given.

    ``selected_markers``: frames of the selected timeline markers; two or more give the
    range from the first to the last. Else ``preview``: ``(start, end)`` of the scene's
    preview range when it is on, or None. Raises :class:`DirectingError` when neither gives
    a range.
    """
    frames = sorted(int(f) for f in selected_markers)
    if len(frames) >= 2:
        return FrameRange(frames[0], frames[-1], "markers")
    if preview is not None:
        return FrameRange(int(preview[0]), int(preview[1]), "preview range")
    hint = "only one marker is selected: select two, " if len(frames) == 1 else "select two markers "
    raise DirectingError(f"No range to resample: {hint}or set a preview range (Ctrl+P in the "
                         "Timeline), or give frame_start and frame_end")


@dataclass(frozen=True)
class ResampleSpan:
    """A resample range on the scene (keys ``frame_start .. frame_end`` are rewritten) and on
    the model (frames ``[start, end)`` get new motion)."""

    frame_start: int
    frame_end: int
    start: int
    end: int
    clipped: bool  # the asked range reached past the audio and was cut to it


def resample_span(frame_start: int, frame_end: int, timeline: Timeline) -> ResampleSpan:
    """Check a resample range against the audio and map it to model frames.

    The model span is the largest one that no key outside the range reads (a key at scene
    frame F interpolates model frames floor(u) and ceil(u), u = model position of F): keys
    outside stay exactly as a full generation with this range would make them. Raises
    :class:`DirectingError` for an empty or reversed range, one outside the audio, or one too
    short to hold a model frame.
    """
    fa, fb = int(frame_start), int(frame_end)
    if fb <= fa:
        what = "zero-length" if fb == fa else "reversed"
        raise DirectingError(f"The range to resample (frames {fa}-{fb}) is {what}: "
                             "the end frame must come after the start frame")
    if fb < timeline.first or fa > timeline.last:
        raise DirectingError(f"The range to resample (frames {fa}-{fb}) lies outside the audio "
                             f"({timeline.describe()})")
    clipped = fa < timeline.first or fb > timeline.last
    fa, fb = max(fa, timeline.first), min(fb, timeline.last)
    if fa == timeline.first:
        start = 0
    else:
        start = math.ceil(float(timeline.model_position(fa - 1)) - _EPS) + 1
    if fb == timeline.last:
        end = timeline.n_model
    else:
        end = math.floor(float(timeline.model_position(fb + 1)) + _EPS)
    start, end = max(0, start), min(timeline.n_model, end)
    if end <= start or fb <= fa:
        raise DirectingError(f"The range to resample (frames {fa}-{fb}) is too short: "
                             "make it at least two frames long")
    return ResampleSpan(fa, fb, start, end, clipped)


def range_key_indices(key_frames, frame_start: int, frame_end: int) -> np.ndarray:
    """Indices into an F-curve's key frames ``key_frames`` (K,) of its keys on scene frames
    ``frame_start .. frame_end``; :class:`DirectingError` unless there is exactly one key on
    each of those frames (as generation wrote them)."""
    frames = np.asarray(key_frames)
    fa, fb = int(frame_start), int(frame_end)
    inside = np.flatnonzero((frames >= fa - 1e-3) & (frames <= fb + 1e-3))
    if inside.size != fb - fa + 1 or np.any(np.abs(frames[inside] - np.arange(fa, fb + 1)) > 1e-3):
        raise DirectingError(f"The take's keys on frames {fa}-{fb} were added to or deleted by "
                             "hand: resample works on generated keys (one on every frame); "
                             "generate again")
    return inside


def auto_seed(base_seed: int, n_done: int) -> int:
    """A fresh seed for the next resample of a take (deterministic: replays give the same)."""
    rng = np.random.default_rng([int(base_seed), int(n_done), 0xA26])
    return int(rng.integers(0, 2**31 - 1))


# ---- the recipe of a take ------------------------------------------------------------------
RECIPE_VERSION = 1


# The fingerprint of the audio a take was made from, to notice that *the sound* changed, not
# the decoder: two decoders of one file differ by about 1e-5 a sample (aud's WAV decode and
# core.audio's), so no hash of the samples can be it. It holds the length and, per block of
# 0.1 s, three levels: the RMS of the samples, the RMS of their lag-2 difference (the 2-6 kHz
# "presence" that tells a fricative from a vowel; no response at 0 Hz and at 8 kHz, where
# resamplers differ most) and the peak. Two decodes of the same sound agree within
# PRINT_ATOL + PRINT_RTOL * level on every one; a different file, a changed word, a gap, a
# click above the block's peak, a gain change of 0.2 dB on a block, or a length changed by
# more than PRINT_LENGTH_SLACK samples do not.
PRINT_BLOCK = 1600  # samples at 16 kHz: 0.1 s (longer blocks for audio over PRINT_MAX_BLOCKS)
PRINT_MAX_BLOCKS = 2048  # the fingerprint stays under 17 kB of text (0.1 s blocks up to 3.4 min)
PRINT_ATOL = 1e-4  # ten times the decoders' difference (-80 dBFS)
PRINT_RTOL = 0.02  # 0.17 dB
PRINT_LENGTH_SLACK = 16  # samples (1 ms): resamplers may round the length differently
_PRINT_FORMAT = "a2"


def _block_levels(samples: np.ndarray, block: int) -> np.ndarray:
    """``(blocks, 3)`` per block: RMS of the samples, RMS of their lag-2 difference, peak;
    rounded to float16 as the fingerprint stores them."""
    n = samples.size
    presence = samples.copy()
    presence[2:] -= samples[:-2]
    blocks = -(-n // block)
    full = n // block
    out = np.empty((blocks, 3), dtype=np.float32)
    for k, y in enumerate((samples, presence)):
        head = y[:full * block].reshape(full, block)
        out[:full, k] = np.sqrt(np.einsum("ij,ij->i", head, head) / block)
        if blocks > full:
            tail = y[full * block:]
            out[full, k] = np.sqrt(np.dot(tail, tail) / tail.size)
    head = samples[:full * block].reshape(full, block)
    out[:full, 2] = np.maximum(head.max(axis=1), -head.min(axis=1))
    if blocks > full:
        out[full, 2] = np.abs(samples[full * block:]).max()
    return out.astype("<f2").astype(np.float32)


def audio_digest(samples) -> str:
    """The fingerprint of the sound a take was made from (compare it with
    :func:`audio_matches`): ``"a2:<samples>:<block>:<base64 of float16 levels>"``."""
    x = np.ascontiguousarray(np.asarray(samples, dtype=np.float32).reshape(-1))
    block = PRINT_BLOCK * max(1, -(-x.size // (PRINT_BLOCK * PRINT_MAX_BLOCKS)))
    levels = _block_levels(x, block).astype("<f2")
    return f"{_PRINT_FORMAT}:{x.size}:{block}:{base64.b64encode(levels.tobytes()).decode()}"


def sample_digest(samples) -> str:
    """The fingerprint recipes held before :func:`audio_digest`: the sha1 of the float32
    samples (16 hex digits). It changes with any decoder difference."""
    data = np.ascontiguousarray(np.asarray(samples, dtype=np.float32))
    return hashlib.sha1(data.tobytes()).hexdigest()[:16]


def is_sample_digest(digest) -> bool:
    """Whether ``digest`` is a :func:`sample_digest` (a recipe written before
    :func:`audio_digest`)."""
    return isinstance(digest, str) and len(digest) == 16 and \
        all(c in "0123456789abcdef" for c in digest)


def audio_matches(digest, samples) -> bool:
    """Whether ``samples`` are the sound fingerprinted as ``digest``: the same length (within
    PRINT_LENGTH_SLACK samples) and every block's levels within PRINT_ATOL + PRINT_RTOL *
    the louder. A digest of a recipe written before (:func:`sample_digest`) must match
    exactly; one that is neither is no match."""
    if not isinstance(digest, str):
        return False
    x = np.ascontiguousarray(np.asarray(samples, dtype=np.float32).reshape(-1))
    if is_sample_digest(digest):
        return digest == sample_digest(x)
    parts = digest.split(":")
    if len(parts) != 4 or parts[0] != _PRINT_FORMAT:
        return False
    try:
        n, block = int(parts[1]), int(parts[2])
        stored = np.frombuffer(base64.b64decode(parts[3], validate=True), dtype="<f2")
    except ValueError:  # binascii.Error is one
        return False
    if block <= 0 or stored.size != 3 * -(-n // block) or abs(x.size - n) > PRINT_LENGTH_SLACK:
        return False
    stored = stored.astype(np.float32).reshape(-1, 3)
    now = _block_levels(x, block)
    if x.size != n:  # compare the blocks both hold whole
        k = min(x.size, n) // block
        stored, now = stored[:k], now[:k]
    return bool(np.all(np.abs(now - stored) <= PRINT_ATOL + PRINT_RTOL * np.maximum(now, stored)))


@dataclass(frozen=True)
class Recipe:
    """Everything needed to replay a take with ``core.generate``.

    ``audio``: JSON-safe description of the speech (``source`` "STRIPS" or "FILE", ``strips``,
    ``file``, ``digest``); ``first``/``end``/``fps``: where it lies on the timeline;
    ``resamples``: the resample history, applied in order (``generate(..., layered=True)``);
    ``intensity``: ``generate``'s intensity (recipes written before it existed read as 1.0);
    ``prior``: the code prior the take was drawn with ("" in recipes written before it was
    recorded: the model's default); ``style``: the key of the style library its retrieval code
    was drawn from (``core.style``; "" = the model's bundled library) and ``style_names`` its
    clips' names, for messages; ``speaker``: the speaker whose style it was drawn in
    (core/speakers.py; None for a one-speaker model, for a take drawn from a style library, and
    in recipes written before it was recorded: the model's default speaker); ``sync``:
    ``generate``'s sync (recipes written before it was recorded read as 0.0, the timing they
    were made with).
    """

    seed: int
    model: str
    audio: dict
    first: int
    end: int
    fps: float
    resamples: tuple[ResampleRange, ...] = field(default=())
    take: int = 0  # 1.. for one of several takes, 0 for a single generation
    intensity: float = 1.0  # core.generate's intensity, in (0, MAX_INTENSITY]
    prior: str = ""  # core.prior name; "" = the model's default (config.code_prior)
    style: str = ""  # core.style library key; "" = the bundled library
    style_names: tuple[str, ...] = ()  # the style library's clip names
    speaker: str | None = None  # core.speakers; None = the model's default_speaker
    sync: float = DEFAULT_SYNC  # core.generate's sync, in [0, MAX_SYNC]

    def with_resample(self, rr: ResampleRange) -> Recipe:
        return Recipe(self.seed, self.model, dict(self.audio), self.first, self.end, self.fps,
                      (*self.resamples, rr), self.take, self.intensity, self.prior, self.style,
                      self.style_names, self.speaker, self.sync)

    def to_json(self) -> str:
        return json.dumps({
            "version": RECIPE_VERSION, "seed": self.seed, "model": self.model,
            "audio": self.audio, "first": self.first, "end": self.end, "fps": self.fps,
            "resamples": [[r.start, r.end, r.seed] for r in self.resamples], "take": self.take,
            "intensity": self.intensity, "prior": self.prior, "style": self.style,
            "style_names": list(self.style_names), "speaker": self.speaker, "sync": self.sync,
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        """Parse :meth:`to_json`'s output; :class:`DirectingError` when it is not one."""
        try:
            d = json.loads(text)
            if d.get("version") != RECIPE_VERSION:
                raise ValueError(f"recipe version {d.get('version')!r}")
            intensity = float(d.get("intensity", 1.0))
            if not 0.0 < intensity <= MAX_INTENSITY:
                raise ValueError(f"intensity {intensity!r} outside (0, {MAX_INTENSITY:g}]")
            sync = float(d.get("sync", 0.0))
            if not 0.0 <= sync <= MAX_SYNC:
                raise ValueError(f"sync {sync!r} outside [0, {MAX_SYNC:g}]")
            prior = str(d.get("prior", ""))
            if prior and prior not in PRIORS:
                raise ValueError(f"unknown code prior {prior!r}")
            style = d.get("style", "")
            names = d.get("style_names", [])
            if not isinstance(style, str) or not isinstance(names, list):
                raise ValueError(f"style {style!r}, {names!r}")
            speaker = d.get("speaker")
            if speaker is not None and not isinstance(speaker, str):
                raise ValueError(f"speaker {speaker!r} is not a name")
            return cls(int(d["seed"]), str(d["model"]), dict(d["audio"]), int(d["first"]),
                       int(d["end"]), float(d["fps"]),
                       tuple(ResampleRange(int(a), int(b), int(s)) for a, b, s in d["resamples"]),
                       int(d.get("take", 0)), intensity, prior, style, tuple(map(str, names)), speaker,
                       sync)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError, OverflowError) as exc:
            raise DirectingError(f"The take's generation recipe is unreadable ({exc}): "
                                 "generate it again") from None


# ---- blending keys -------------------------------------------------------------------------
def fade_length(fps: float) -> int:
    """Scene frames spanning ``FADE_FRAMES`` model frames at ``fps``."""
    return max(1, int(round(FADE_FRAMES * fps / MODEL_FPS)))


def blend_edges(current, new, fps: float) -> np.ndarray:
    """Quaternions ``(n, J, 4)`` going from ``current`` into ``new`` and back at the edges.

    For keys of a range whose surroundings do not match the replayed recipe (keys edited by
    hand, pins added or moved since): the new motion is faded in and out against the keys
    that are there, over ``FADE_FRAMES`` model frames inside each edge, so the seams stay
    smooth whatever surrounds the range.
    """
    cur = np.asarray(current, dtype=np.float64)
    aligned = align_hemisphere(np.asarray(new, dtype=np.float64), cur)
    w = fade_weights(cur.shape[0], fade_length(fps))
    return quat_normalize(quat_slerp(cur, aligned, w[:, None]))


#: Largest difference (quaternion components) between the keys there and the replayed recipe
#: that still counts as "the same": the keys are float32, the replay is bit-for-bit the same
#: computation, so anything above float32 rounding means the keys or the pins changed.
SAME_KEYS_TOLERANCE = 1e-4


def same_keys(a, b) -> bool:
    """Quaternion keys ``a`` and ``b`` (..., 4) hold the same rotations up to float32 rounding
    (:data:`SAME_KEYS_TOLERANCE`; either quaternion sign)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = np.minimum(np.abs(a - b).max(axis=-1), np.abs(a + b).max(axis=-1))
    return bool(d.max() < SAME_KEYS_TOLERANCE)


def align_hemisphere(quats, reference) -> np.ndarray:
    """Flip ``quats`` (n, J, 4) per frame and joint into ``reference``'s hemisphere."""
    q = np.asarray(quats, dtype=np.float64)
    sign = np.where(np.sum(q * np.asarray(reference, dtype=np.float64), axis=-1) < 0, -1.0, 1.0)
    return q * sign[..., None]


def continue_from(quats, before=None, after=None) -> np.ndarray:
    """Make ``quats`` (n, J, 4) continuous over time and with the key ``before`` (J, 4) it
    follows (or, with none, the key ``after`` it precedes)."""
    q = quat_make_continuous(np.asarray(quats, dtype=np.float64), axis=0)
    if before is not None:
        ref, k = np.asarray(before, dtype=np.float64), 0
    elif after is not None:
        ref, k = np.asarray(after, dtype=np.float64), -1
    else:
        return q
    sign = np.where(np.sum(q[k] * ref, axis=-1) < 0, -1.0, 1.0)
    return q * sign[None, :, None]
