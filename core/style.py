"""Style libraries: the artist's own clips become the retrieval prior's library (issue #22).

The retrieval prior (``core.prior.RetrievalPrior``) draws the motion-specific code I from stored
real code segments, matched to the speech by the shared code S_A and joined where the codes are
close. A *style library* is the same arrays (``prior_mean``, ``prior_codes``, ``prior_shared``,
``prior_clip_ends``, built by ``core.prior.retrieval_arrays``) made from the artist's clips
instead of the training corpus, so the take's motion-specific code (the mannerisms: which hand,
how wide, how high) comes from those clips while the speech still drives the shared code.

Per clip (``StyleClip``: SMPL-X local rotations at any frame rate, optionally its own speech;
``clip_from_npz``, ``clip_from_bvh``, or the extension's actions on any humanoid rig):

- the rotations are read at 30 fps (the model's rate; 6D rows interpolated linearly and
  re-orthonormalised by the decoder's own 6D -> matrix), the model's joints kept;
- the motion encoder f_M gives the clip's code I_M (its mean) and its shared code S_M;
- its audio code for matching is S_A of its own speech when it has some (a capture session),
  else S_M: the shared code the motion encoder reads from the motion, which the model was trained
  to make equal to S_A of the speech said with it. A clip without audio is so matched by the
  speech its motion implies (its timing and emphasis), and by the code continuity at the joins;
  ``generate(sync=)`` (core.rhythm) can further move its beats onto the new speech's onsets.
- a clip shorter than two of the prior's segments (``MIN_LIBRARY_FRAMES``, 10 s) is extended to
  that length by playing its codes forwards and backwards in turn (a palindrome: no jump in the
  code where it turns), so a short clip still offers segments at many phases instead of one
  repeated segment; clips under ``MIN_CLIP_SECONDS`` are refused.

Each clip's (I_M, S) pair is cached by the clip's content and the motion encoder's weights
(``clip_key``), so a library rebuilt with one clip changed encodes only that clip. A library's
``key`` is the sha1 of its clips' keys in order: what a take's recipe records, and what a saved
.blend or a batch run finds the library by. ``library_to_bytes``/``library_from_bytes`` store
one (an ``.npz`` in memory) for the .blend.

``styled(net, library)`` is the network with the library in place of its bundled retrieval
arrays (the nets are shared, not copied): ``core.generate.generate(styled(net, lib), ...,
prior="retrieval")``. numpy only.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import weakref
from dataclasses import dataclass

import numpy as np

from .errors import UserError
from .network import Network
from .prior import SEGMENT, retrieval_arrays
from .rhythm import resample_rows
from .rotations import matrix_to_sixd, sixd_to_matrix
from .skeleton import NUM_BODY_JOINTS, NUM_JOINTS, model_joint_indices, relax_missing_fingers
from .speakers import SPEAKER_METADATA
from .timeline import MODEL_FPS

#: Shortest clip accepted (seconds): about two gestures' worth of motion.
MIN_CLIP_SECONDS = 2.0
#: The prior arrays a style library replaces (the retrieval prior's).
LIBRARY_ARRAYS = ("prior_mean", "prior_codes", "prior_shared", "prior_clip_ends")
#: Clips shorter than this (frames at 30 fps: two retrieval segments, 10 s) play back and forth
#: to this length, so that the retrieval has segments starting at many phases of them.
MIN_LIBRARY_FRAMES = 2 * SEGMENT
#: Bumped when the way a clip becomes codes changes (old cache entries and keys then differ).
STYLE_VERSION = 1


class StyleError(UserError):
    """A style clip or library cannot be used; the message names the clip and what to do."""


@dataclass(frozen=True, eq=False)
class StyleClip:
    """One clip of the artist's motion.

    ``name``: how the user knows it (an action's or a file's name). ``rotations``: SMPL-X local
    rotation matrices ``(T, J, 3, 3)``, J = 55 (SMPL-X order), 52 or 22 (the model's order).
    ``fps``: the clip's frame rate. ``features``: raw log-mel ``(T30, n_mels)`` of the clip's own
    speech at 30 fps, or None (no audio). ``present``: SMPL-X indices of the joints the clip
    really has (finger joints missing from it are set to the relaxed hand); None = all.
    """

    name: str
    rotations: np.ndarray
    fps: float
    features: np.ndarray | None = None
    present: tuple[int, ...] | None = None

    @property
    def seconds(self) -> float:
        return self.rotations.shape[0] / self.fps


@dataclass(frozen=True, eq=False)
class StyleLibrary:
    """The retrieval arrays made from clips, with the clip names and the library's key."""

    key: str
    names: tuple[str, ...]
    arrays: dict
    audio: tuple[bool, ...]  # per clip: matched by its own speech (True) or by S_M (False)

    @property
    def frames(self) -> int:
        return int(self.arrays["prior_codes"].shape[0])

    def describe(self) -> str:
        """One line for reports: the clips by name and the library's length."""
        more = f" and {len(self.names) - 3} more" if len(self.names) > 3 else ""
        names = ", ".join(self.names[:3]) + more
        return f"style from {names} ({self.frames / MODEL_FPS:.1f} s of motion, key {self.key[:8]})"


# ---- reading clips -------------------------------------------------------------------------------
def clip_from_npz(path, name: str | None = None) -> StyleClip:
    """A style clip from an SMPL-X ``.npz`` (AMASS/BEAT2 layout; ``core.smplx_npz``)."""
    from .smplx_npz import read_smplx_npz

    label = str(path) if name is None else name
    m = read_smplx_npz(path, name=label)
    return StyleClip(label, m.local_rot, float(m.fps))


def clip_from_bvh(path, name: str | None = None) -> StyleClip:
    """A style clip from a humanoid BVH (Trinity, ZEGGS, Mixamo, Rokoko, ...; ``core.bvh_smplx``
    maps its joints and retargets it to SMPL-X; fingers it lacks are the relaxed hand)."""
    from .bvh import read_bvh
    from .bvh_smplx import bvh_to_smplx

    label = str(path) if name is None else name
    m = bvh_to_smplx(read_bvh(path), name=label)
    return StyleClip(label, m.local_rot, float(m.fps))


def clip_from_file(path, name: str | None = None) -> StyleClip:
    """A style clip from an SMPL-X ``.npz`` or a ``.bvh`` file; :class:`StyleError` for others."""
    suffix = str(path).lower().rsplit(".", 1)[-1]
    if suffix == "npz":
        return clip_from_npz(path, name)
    if suffix == "bvh":
        return clip_from_bvh(path, name)
    raise StyleError(f"Style clip '{name or path}': only SMPL-X .npz and .bvh files can be added as "
                     "files; for motion on a rig in this file, add its action")


def model_rotations(clip: StyleClip, hands: bool) -> np.ndarray:
    """The clip's rotations of the model's joints (22, or 52 with ``hands``) at 30 fps, float32
    ``(T30, J, 3, 3)``; :class:`StyleError` for a clip too short, with too few joints or not
    finite numbers."""
    r = np.asarray(clip.rotations)
    if not np.issubdtype(r.dtype, np.number) or r.ndim != 4 or r.shape[2:] != (3, 3):
        raise StyleError(f"Style clip {clip.name!r}: expected rotations (frames, joints, 3, 3), got "
                         f"{r.shape}")
    if not np.all(np.isfinite(r)):
        raise StyleError(f"Style clip {clip.name!r} holds non-finite rotations: fix or drop the clip")
    if not (np.isfinite(clip.fps) and clip.fps > 0):
        raise StyleError(f"Style clip {clip.name!r}: frame rate {clip.fps!r} is not a positive number")
    if clip.seconds < MIN_CLIP_SECONDS:
        raise StyleError(f"Style clip {clip.name!r} is {clip.seconds:.2f} s long; a style clip needs at "
                         f"least {MIN_CLIP_SECONDS:g} s of motion: use a longer clip")
    n_model = NUM_BODY_JOINTS + (30 if hands else 0)
    if r.shape[1] == NUM_JOINTS:
        r = r[:, list(model_joint_indices(hands))]
    elif r.shape[1] == NUM_BODY_JOINTS and hands:
        r = np.concatenate([r, np.repeat(np.eye(3, dtype=r.dtype)[None, None], 30, axis=1)
                            .repeat(len(r), axis=0)], axis=1)
        r = relax_missing_fingers(r, range(NUM_BODY_JOINTS))
    elif r.shape[1] != n_model:
        raise StyleError(f"Style clip {clip.name!r} has {r.shape[1]} joints; expected SMPL-X's "
                         f"{NUM_JOINTS} or the model's {n_model}")
    if clip.present is not None and hands:
        r = relax_missing_fingers(r, clip.present)
    r = r.astype(np.float32)
    n30 = max(2, int(round(clip.seconds * MODEL_FPS)))
    if abs(clip.fps - MODEL_FPS) < 1e-6 and n30 == len(r):
        return r
    positions = np.arange(n30, dtype=np.float64) * (clip.fps / MODEL_FPS)
    sixd = matrix_to_sixd(r).reshape(len(r), -1)
    return sixd_to_matrix(resample_rows(sixd, positions).reshape(n30, -1, 6))


# ---- caching -------------------------------------------------------------------------------------
_ENCODER_PRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: clip key -> (I_M (T, d), S (T, shared_dim), had_audio): the clips encoded in this process.
_CACHE: dict[str, tuple[np.ndarray, np.ndarray, bool]] = {}
_CACHE_LIMIT = 256  # clips kept (each a few hundred KB at most)


def encoder_print(net: Network) -> str:
    """sha1 of the weights that turn a clip into codes (motion and audio encoders, feature
    statistics), computed once per network."""
    if net not in _ENCODER_PRINTS:
        h = hashlib.sha1(f"style{STYLE_VERSION}".encode())
        for layers in (net._motion, net._audio):
            for layer in layers:
                for part in ("conv1", "conv2", "skip"):
                    sub = getattr(layer, part, None)
                    if sub is not None:
                        h.update(sub.weight.tobytes())
                        h.update(sub.bias.tobytes())
                if hasattr(layer, "weight"):
                    h.update(layer.weight.tobytes())
                    h.update(layer.bias.tobytes())
        h.update(net.feature_mean.tobytes())
        h.update(net.feature_std.tobytes())
        _ENCODER_PRINTS[net] = h.hexdigest()
    return _ENCODER_PRINTS[net]


def clip_key(net: Network, rotations30: np.ndarray, features: np.ndarray | None) -> str:
    """The cache key of one clip: the encoders' print, the model-rate rotations and the speech."""
    h = hashlib.sha1(encoder_print(net).encode())
    h.update(np.ascontiguousarray(rotations30, dtype=np.float32).tobytes())
    if features is not None:
        h.update(b"audio")
        h.update(np.ascontiguousarray(features, dtype=np.float32).tobytes())
    return h.hexdigest()


def clear_cache() -> None:
    _CACHE.clear()


def cache_size() -> int:
    return len(_CACHE)


# ---- building ------------------------------------------------------------------------------------
def encode_clip(net: Network, rotations30: np.ndarray, features: np.ndarray | None):
    """(I_M (T, d), S (T, shared_dim), had_audio) of a model-rate clip: the motion encoder's
    means; S is S_A of ``features`` when given (same length, else cut or padded with its last
    frame), else the motion encoder's S_M."""
    n = rotations30.shape[0]
    sixd = matrix_to_sixd(rotations30).reshape(n, -1)
    s_m, _, i_m, _ = net.motion_encode(sixd)
    if features is None:
        return i_m, s_m, False
    f = np.asarray(features, dtype=np.float32)
    if f.ndim != 2 or f.shape[1] != net.config.n_mels or len(f) < 1:
        raise StyleError(f"style clip audio features must be (frames, {net.config.n_mels}), got {f.shape}")
    f = f[:n] if len(f) >= n else np.concatenate([f, np.repeat(f[-1:], n - len(f), axis=0)])
    return i_m, net.audio_encode(net.normalise_features(f)), True


def palindrome(x: np.ndarray, n: int) -> np.ndarray:
    """``x (T, d)`` played forwards, backwards, forwards ... until ``n`` rows (x itself when it
    has n rows or more); the turning frames are not repeated."""
    if len(x) >= n:
        return x
    cycle = np.concatenate([x, x[-2:0:-1]]) if len(x) > 2 else x
    reps = -(-n // len(cycle))
    return np.concatenate([cycle] * reps)[:n]


def build_library(net: Network, clips) -> StyleLibrary:
    """The style library of ``clips`` (``StyleClip`` s, at least one) for ``net``.

    :class:`StyleError` when there are none, or one is too short or unreadable (named)."""
    clips = list(clips)
    if not clips:
        raise StyleError("No style clips given: add at least one clip, or use the bundled style")
    if net.config.specific_dim == 0:
        raise StyleError("this model has no motion-specific code, so it cannot take a style")
    codes, shared, keys, audio = [], [], [], []
    for clip in clips:
        rot = model_rotations(clip, net.config.hands)
        key = clip_key(net, rot, clip.features)
        if key not in _CACHE:
            if len(_CACHE) >= _CACHE_LIMIT:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = encode_clip(net, rot, clip.features)
        i_m, s, had_audio = _CACHE[key]
        codes.append(palindrome(i_m, MIN_LIBRARY_FRAMES))
        shared.append(palindrome(s, MIN_LIBRARY_FRAMES))
        keys.append(key)
        audio.append(had_audio)
    lib_key = hashlib.sha1(json.dumps(keys).encode()).hexdigest()
    arrays = retrieval_arrays(codes, shared)
    return StyleLibrary(lib_key, tuple(c.name for c in clips), arrays, tuple(audio))


def styled(net: Network, library: StyleLibrary | None) -> Network:
    """``net`` drawing its retrieval code from ``library`` (``net`` itself for None). The nets
    are shared; only the retrieval prior's arrays differ (the other priors are not offered)."""
    if library is None:
        return net
    out = copy.copy(net)
    out.prior_arrays = {k: np.asarray(library.arrays[k]) for k in LIBRARY_ARRAYS}
    # The clips are the style: a multi-speaker model's per-speaker cut (core/speakers.py) does
    # not apply to them, so the styled network has no speakers.
    out.metadata = {k: v for k, v in net.metadata.items() if k not in SPEAKER_METADATA}
    out._priors = {}
    out.style = library
    return out


# ---- storing ---------------------------------------------------------------------------------
def library_to_bytes(library: StyleLibrary) -> bytes:
    """The library as an ``.npz`` in memory (arrays float32, names and key as JSON)."""
    buf = io.BytesIO()
    meta = json.dumps({"key": library.key, "names": list(library.names), "audio": list(library.audio),
                       "version": STYLE_VERSION})
    np.savez_compressed(buf, meta=np.frombuffer(meta.encode(), dtype=np.uint8),
                        **{k: np.asarray(library.arrays[k], dtype=np.float32 if k != "prior_clip_ends"
                                         else np.float64) for k in LIBRARY_ARRAYS})
    return buf.getvalue()


def library_from_bytes(data: bytes, where: str = "the stored style library") -> StyleLibrary:
    """:func:`library_to_bytes` read back; :class:`StyleError` when it is not one."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            arrays = {k: z[k] for k in LIBRARY_ARRAYS}
        return StyleLibrary(str(meta["key"]), tuple(map(str, meta["names"])), arrays,
                            tuple(bool(a) for a in meta["audio"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StyleError(f"Cannot read {where} ({exc}): add the style clips again") from None
