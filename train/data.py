"""Training data: paired SMPL-X motion + speech -> 6D body rotations and log-mel features.

A *recording* is motion with its speech. Where they are (``find_pairs``):

- a flat folder: an AMASS/BEAT2-style SMPL-X ``<name>.npz`` (``poses (T, 165)`` axis-angle,
  ``mocap_frame_rate`` or ``mocap_framerate``; read by ``core.smplx_npz``) or a humanoid
  ``<name>.bvh`` (Trinity, ZEGGS, Mixamo, mocap suits; converted to SMPL-X through its rest pose
  by ``core.bvh_smplx``) with an audio file of the same stem beside it (any format libsndfile
  reads: wav, flac, ogg, mp3, aiff); the last ``val_fraction`` of each validates;
- BEAT2 as published (``beat_english_v2.0.0/``): ``train_test_split.csv`` names the train,
  val, test and additional recordings (``smplxflame_30/<id>.npz`` + ``wave16k/<id>.wav``);
  ``--speakers`` picks speakers by the id's first field.

Loading one gives:

- ``motion (T, 132)`` float32: the 22 body joints' local rotations as 6D (joint-major, the
  layout of docs/DESIGN.md), resampled to 30 fps by slerp when recorded at another rate;
- ``features (T, 64)`` float32: log-mel in dB from ``core.features.features_for_motion`` on the
  audio mixed to mono and resampled to 16 kHz with ``core.audio`` (the runtime's own code, so
  training and inference features cannot drift); both cropped to their common length.

A recording's ``role`` says which frames train (``Recording.n_train``): all of a "train" row,
none of a "val" or "test" row, all but the last ``val_fraction`` (15 %) of a flat folder's.
Training crops are random ``crop_frames`` windows of the training part, mirrored left/right
with probability ``mirror_prob`` (``core.skeleton.mirror_rotations``; audio unchanged).
Features are normalised per mel band with ``FeatureStats`` of the training split.

Two ways to feed a training loop:

- ``InMemoryCrops``: every recording in (device) memory, batches gathered by index. For tiny
  data (the two BEAT2 takes are 123.6 s).
- ``StreamingCrops``: an ``IterableDataset`` for large corpora. Recordings are sharded across
  DDP ranks and DataLoader workers (when there are fewer recordings than shards, every shard
  reads all of them with its own random stream), loaded lazily in a shuffled order per
  epoch, kept in a per-process LRU cache (``cache_mb``), and each contributes crops in
  proportion to its length through a shuffle buffer.
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch
from torch.utils.data import IterableDataset, get_worker_info

from core.audio import resample, to_mono
from core.errors import UserError
from core.features import FPS, N_MELS, SAMPLE_RATE, features_for_motion
from core.rotations import matrix_to_sixd, quat_to_matrix, sixd_to_matrix
from core.skeleton import NUM_BODY_JOINTS, mirror_rotations, model_joint_indices
from core.smplx_npz import SmplxNpzError, read_smplx_npz
from core.timeline import resample_rotations

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
MOTION_DIM = NUM_BODY_JOINTS * 6
MIN_FEATURE_STD = 1e-3  # dB; floor for per-band std (a constant band must not divide by 0)


class DataError(UserError):
    """Training data that cannot be used; the message names the file and the problem."""


# ---- files ------------------------------------------------------------------------------------
#: What a recording is used for: "train" (all its frames train), "val" (all validate), "test"
#: (held out: only ``evaluate`` reads it) or "split" (a flat folder: the last ``val_fraction`` of
#: it validates, the rest trains).
ROLES = ("train", "val", "test", "split")
#: The published BEAT2 layout (``beat_english_v2.0.0/``): the split table and its folders.
BEAT2_SPLIT = "train_test_split.csv"
BEAT2_MOTION_DIR = "smplxflame_30"
BEAT2_AUDIO_DIR = "wave16k"
#: The published BEAT2 folder name, looked for inside ``--data`` when the split is not there.
BEAT2_ENGLISH = "beat_english_v2.0.0"
MOTION_SUFFIXES = (".npz", ".bvh")


@dataclass(frozen=True)
class Pair:
    """One recording on disk: motion (SMPL-X ``.npz`` or ``.bvh``) and its audio file; ``role``
    (``ROLES``) and ``speaker`` (the name's first ``_`` field, e.g. "2" of "2_scott_0_1_1")."""

    name: str
    motion_path: Path
    audio_path: Path
    role: str = "split"
    speaker: str = ""
    bone_map: str = ""  # a BVH's bone-map preset (``--bone-map``); "" detects it

    @property
    def n_bytes(self) -> int:
        return self.motion_path.stat().st_size + self.audio_path.stat().st_size


def speaker_of(name: str) -> str:
    """The speaker of a BEAT2-style id ``{speaker}_{name}_{type}_{start}_{end}``: its first field."""
    return name.split("_", 1)[0]


def parse_speakers(text: str | None) -> frozenset[str] | None:
    """``--speakers``: "all" (or empty) -> None (every speaker); "2" or "2,4" -> those ids."""
    if text is None or str(text).strip().lower() in ("", "all"):
        return None
    chosen = frozenset(t.strip() for t in str(text).split(",") if t.strip())
    if not chosen:
        raise DataError(f"--speakers {text!r}: give speaker ids separated by commas (e.g. 2,4) or 'all'")
    return chosen


def beat2_root(data_dir) -> Path | None:
    """The folder holding BEAT2's ``train_test_split.csv`` (``data_dir`` itself or its
    ``beat_english_v2.0.0``), or None for a flat folder of pairs."""
    root = Path(data_dir)
    for candidate in (root, root / BEAT2_ENGLISH):
        if (candidate / BEAT2_SPLIT).is_file():
            return candidate
    return None


def read_split_table(path) -> list[tuple[str, str]]:
    """BEAT2's ``train_test_split.csv`` (columns ``id,type``) -> ``[(id, type), ...]``."""
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["id", "type"]:
        raise DataError(f"{path}: expected a header 'id,type' (BEAT2's train_test_split.csv)")
    table = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or not row[0].strip():
            continue
        if len(row) < 2:
            raise DataError(f"{path}, line {line}: expected 'id,type', got {','.join(row)!r}")
        table.append((row[0].strip(), row[1].strip().lower()))
    return table


def find_pairs(data_dir, speakers: str | None = None, additional: bool = False,
               rows: str = "fit", bone_map: str = "") -> list[Pair]:
    """The recordings of ``data_dir`` for ``rows`` = "fit" (training and validation) or
    "test" (held out, for ``evaluate``), of the chosen ``speakers`` (``parse_speakers``).

    - BEAT2 as published (``beat2_root``): ``train_test_split.csv`` decides. "fit" gives its
      ``train`` rows (role "train"), ``val`` rows (role "val") and, with ``additional``, its
      ``additional`` rows (role "train"); "test" gives its ``test`` rows. Motion is
      ``smplxflame_30/<id>.npz``, audio ``wave16k/<id>.wav``.
    - A flat folder: every motion file (``.npz`` or ``.bvh``) under it (recursively) with an
      audio file of the same stem beside it, role "split" (a tail of each validates); "test"
      gives the same recordings (their validation tails are the held-out part).

    Sorted by name; audio without motion (unseen speech) is ignored. ``bone_map``: the preset
    BVH files are read with (``read_motion``)."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    if rows not in ("fit", "test"):
        raise ValueError(f"rows must be 'fit' or 'test', got {rows!r}")
    chosen = parse_speakers(speakers)
    beat2 = beat2_root(root)
    if beat2 is not None:
        pairs = _beat2_pairs(beat2, chosen, additional, rows)
    else:
        pairs = _flat_pairs(root, chosen, bone_map)
    if not pairs:
        which = "" if chosen is None else f" of speaker(s) {','.join(sorted(chosen))}"
        if beat2 is not None:
            raise DataError(f"{beat2 / BEAT2_SPLIT}: no {'test' if rows == 'test' else 'train or val'} "
                            f"rows{which}; check --speakers")
        raise DataError(f"{root}: no motion file ({', '.join(MOTION_SUFFIXES)}) with an audio file of the "
                        f"same name ({', '.join(AUDIO_SUFFIXES)}) found{which}, and no BEAT2 {BEAT2_SPLIT}")
    return pairs


def _beat2_pairs(root: Path, chosen, additional: bool, rows: str) -> list[Pair]:
    roles = {"test": "test"} if rows == "test" else {"train": "train", "val": "val"}
    if additional and rows == "fit":
        roles["additional"] = "train"
    pairs, missing = [], []
    for rec_id, kind in read_split_table(root / BEAT2_SPLIT):
        speaker = speaker_of(rec_id)
        if kind not in roles or (chosen is not None and speaker not in chosen):
            continue
        motion, audio = root / BEAT2_MOTION_DIR / f"{rec_id}.npz", root / BEAT2_AUDIO_DIR / f"{rec_id}.wav"
        if not motion.is_file() or not audio.is_file():
            missing.append(str((motion if not motion.is_file() else audio).relative_to(root)))
            continue
        pairs.append(Pair(rec_id, motion, audio, roles[kind], speaker))
    if missing:
        raise DataError(f"{root / BEAT2_SPLIT} lists {len(missing)} recording(s) whose files are missing "
                        f"(first: {', '.join(missing[:3])}); download them, or choose the speakers you have "
                        f"with --speakers (e.g. --speakers 2)")
    return sorted(pairs, key=lambda p: p.name)


def _flat_pairs(root: Path, chosen, bone_map: str) -> list[Pair]:
    pairs = []
    for motion in sorted(p for p in root.rglob("*") if p.suffix.lower() in MOTION_SUFFIXES and p.is_file()):
        audio = next((motion.with_suffix(s) for s in AUDIO_SUFFIXES if motion.with_suffix(s).is_file()), None)
        if audio is None:
            continue
        speaker = speaker_of(motion.stem)
        if chosen is None or speaker in chosen:
            pairs.append(Pair(motion.stem, motion, audio, "split", speaker,
                              bone_map if motion.suffix.lower() == ".bvh" else ""))
    twice = sorted(n for n, k in collections.Counter(p.name for p in pairs).items() if k > 1)
    if twice:
        raise DataError(f"{root}: recording name(s) {', '.join(twice[:3])} occur more than once (e.g. as "
                        "both .npz and .bvh); keep one motion file per name")
    return pairs


def training_pairs(pairs: Sequence[Pair]) -> list[Pair]:
    """The recordings that hold training frames (roles "train" and "split"), e.g. to shard
    training crops over: a shard of validation rows only would have nothing to give."""
    return [p for p in pairs if p.role in ("train", "split")]


def recordings_metadata(pairs: list[Pair]) -> dict:
    """What the model file records about its data: ``train_recordings`` and ``val_recordings``
    (names; a flat folder's recordings are in both: their tails validate), ``speakers``."""
    return {"train_recordings": [p.name for p in pairs if p.role in ("train", "split")],
            "val_recordings": [p.name for p in pairs if p.role in ("val", "split")],
            "speakers": sorted({p.speaker for p in pairs})}


def find_unpaired_audio(data_dir) -> list[Path]:
    """Audio files under ``data_dir`` with no motion file of the same stem (speech the
    model never trained on: evaluations use it as unseen speech), sorted by path. None for the
    published BEAT2 layout (its held-out speech is the ``test`` rows)."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    if beat2_root(root) is not None:
        return []
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES
                  and not any(p.with_suffix(s).is_file() for s in MOTION_SUFFIXES))


def read_audio(path) -> np.ndarray:
    """Any libsndfile format -> mono float32 at 16 kHz (``core.audio.to_mono`` + ``resample``)."""
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise DataError(f"{path}: cannot decode audio: {exc}") from exc
    if samples.shape[0] == 0:
        raise DataError(f"{path}: the audio is empty")
    return resample(to_mono(samples), rate, SAMPLE_RATE)


def read_motion(path, hands: bool = False, bone_map: str = "") -> np.ndarray:
    """Motion file -> the model joints' local rotations ``(T, J, 3, 3)`` float32 at 30 fps
    (slerped to the 30 fps frames inside the recorded span when stored at another rate).
    J = 22 body joints, or 52 with ``hands`` (fingers as absolute local rotations: the relaxed
    mean hand is applied). An SMPL-X ``.npz`` is read by ``core.smplx_npz``; a ``.bvh`` is
    converted through its rest pose by ``core.bvh_smplx`` (bones detected, or from the
    ``bone_map`` preset file; fingers it lacks are the relaxed hand)."""
    if Path(path).suffix.lower() == ".bvh":
        local, fps = read_bvh_motion(path, bone_map)
    else:
        try:
            clip = read_smplx_npz(path)
        except SmplxNpzError as exc:
            raise DataError(str(exc)) from exc
        local, fps = clip.local_rot, clip.fps
    n_frames = local.shape[0]
    if n_frames < 2:
        raise DataError(f"{path}: {n_frames} frame(s); a recording needs at least 2")
    rot = local[:, list(model_joint_indices(hands))]
    if abs(fps - FPS) > 1e-6:
        n_out = int(math.floor((n_frames - 1) * FPS / fps + 1e-9)) + 1
        rot = quat_to_matrix(resample_rotations(rot, fps, FPS, n_out=n_out))
    return np.ascontiguousarray(rot, dtype=np.float32)


def read_bvh_motion(path, bone_map: str = "") -> tuple[np.ndarray, float]:
    """A BVH file as SMPL-X local rotations ``(T, 55, 3, 3)`` and its frame rate
    (``core.bvh_smplx.bvh_to_smplx``); ``bone_map``: a preset file, "" to detect the bones."""
    from core.bone_map import read_preset
    from core.bvh import read_bvh
    from core.bvh_smplx import bvh_to_smplx

    preset = read_preset(bone_map, "--bone-map") if bone_map else None
    converted = bvh_to_smplx(read_bvh(path), preset, Path(path).name)
    return converted.local_rot, converted.fps


def rotations_to_motion(rot: np.ndarray) -> np.ndarray:
    """Local rotations ``(T, 22, 3, 3)`` -> network motion ``(T, 132)`` (6D, joint-major)."""
    return matrix_to_sixd(rot).reshape(rot.shape[0], -1).astype(np.float32)


def motion_to_rotations(motion: np.ndarray) -> np.ndarray:
    """Network motion ``(T, 132)`` -> local rotations ``(T, 22, 3, 3)``."""
    return sixd_to_matrix(np.asarray(motion).reshape(motion.shape[0], -1, 6))


def mirror_motion(motion: np.ndarray) -> np.ndarray:
    """Left/right mirror of network motion ``(T, 132)`` (an involution that swaps the arms)."""
    return rotations_to_motion(mirror_rotations(motion_to_rotations(motion)))


@dataclass
class Recording:
    """A loaded recording: ``motion (T, 132)`` and raw log-mel ``features (T, 64)``; ``audio``
    (16 kHz mono, the whole file) only when loaded with ``keep_audio``."""

    name: str
    motion: np.ndarray
    features: np.ndarray
    audio: np.ndarray | None = None
    role: str = "split"  # ROLES
    speaker: str = ""

    @property
    def n_frames(self) -> int:
        return self.motion.shape[0]

    @property
    def n_bytes(self) -> int:
        return self.motion.nbytes + self.features.nbytes + (0 if self.audio is None else self.audio.nbytes)

    def n_train(self, val_fraction: float) -> int:
        """Frames in the training part (the first ``n_train`` frames; the rest validate): all of
        a "train" recording, none of a "val" or "test" one, and all but the last
        ``round(T * val_fraction)`` of a "split" one (a flat folder's)."""
        if self.role == "train":
            return self.n_frames
        if self.role in ("val", "test"):
            return 0
        return self.n_frames - int(round(self.n_frames * val_fraction))


def load_recording(pair: Pair, keep_audio: bool = False, hands: bool = False) -> Recording:
    """Read motion (with the finger joints when ``hands``) and audio of ``pair``; crop both to
    their common number of frames."""
    rot = read_motion(pair.motion_path, hands, pair.bone_map)
    audio = read_audio(pair.audio_path)
    feats = features_for_motion(audio)
    n = min(rot.shape[0], feats.shape[0])
    if n < 2:
        raise DataError(f"{pair.name}: motion ({rot.shape[0]} frames) and audio "
                        f"({feats.shape[0]} frames) overlap by fewer than 2 frames")
    return Recording(pair.name, rotations_to_motion(rot[:n]), np.ascontiguousarray(feats[:n]),
                     audio if keep_audio else None, pair.role, pair.speaker)


class Recordings:
    """The recordings of ``pairs``, loaded one at a time by ``loader`` (``Pair -> Recording``)
    each time it is iterated: a corpus that is never all in memory at once."""

    def __init__(self, pairs: Sequence[Pair], loader=None, hands: bool = False) -> None:
        self.pairs = list(pairs)
        self.loader = loader if loader is not None else (lambda p: load_recording(p, hands=hands))

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[Recording]:
        for pair in self.pairs:
            yield self.loader(pair)


class TrainingWindows:
    """At most ``max_frames`` training frames of ``recordings``: all of their training parts when
    they hold fewer, else ``max_frames // window`` windows of ``window`` frames placed evenly
    along all training frames in a row (so every stretch of the corpus, and every speaker, is
    represented in proportion to its length), as "train"-role recordings. Re-iterable; one
    window in memory at a time. For what is fitted on the training data at export (code
    statistics, code priors, finger gain): its cost and the model file stay bounded however
    large the corpus."""

    def __init__(self, recordings: Iterable[Recording], val_fraction: float, max_frames: int,
                 window: int = 256) -> None:
        self.recordings = recordings
        self.val_fraction = val_fraction
        self.max_frames = int(max_frames)
        self.window = int(window)
        self._lengths: list[int] | None = None

    def training_lengths(self) -> list[int]:
        """Training frames of each recording (one pass over them, remembered)."""
        if self._lengths is None:
            self._lengths = [rec.n_train(self.val_fraction) for rec in self.recordings]
        return self._lengths

    def total_training_frames(self) -> int:
        return sum(self.training_lengths())

    def spans(self) -> list[list[tuple[int, int]]]:
        """Per recording, the ``(start, end)`` frames of its windows."""
        lengths = self.training_lengths()
        total = sum(lengths)
        if total <= self.max_frames:
            return [[(0, n)] if n >= 2 else [] for n in lengths]
        count = max(1, self.max_frames // self.window)
        centres = (np.arange(count) + 0.5) * total / count  # evenly along all frames in a row
        ends = np.cumsum(lengths)
        owner = np.searchsorted(ends, centres, side="right")
        out: list[list[tuple[int, int]]] = [[] for _ in lengths]
        for centre, k in zip(centres, owner, strict=True):
            n = lengths[k]
            length = min(self.window, n)
            offset = centre - (ends[k] - n)
            start = int(np.clip(round(offset - length / 2), 0, n - length))
            if length >= 2 and (start, start + length) not in out[k]:
                out[k].append((start, start + length))
        return out

    def __iter__(self) -> Iterator[Recording]:
        spans = self.spans()
        for rec, windows in zip(self.recordings, spans, strict=True):
            n = rec.n_train(self.val_fraction)
            for a, b in windows:
                yield Recording(rec.name if (a, b) == (0, n) else f"{rec.name}[{a}:{b}]",
                                np.array(rec.motion[a:b]), np.array(rec.features[a:b]), None, "train",
                                rec.speaker)


# ---- feature normalisation ---------------------------------------------------------------------
@dataclass
class FeatureStats:
    """Per-mel-band mean and std of log-mel features (dB), from the training split."""

    mean: np.ndarray
    std: np.ndarray

    @staticmethod
    def sums(recordings: Iterable[Recording], val_fraction: float) -> np.ndarray:
        """``(3, 64)`` float64 [count, sum, sum of squares] over training frames; add these
        across shards/ranks, then call ``from_sums``."""
        acc = np.zeros((3, N_MELS))
        for rec in recordings:
            f = rec.features[: rec.n_train(val_fraction)].astype(np.float64)
            acc[0] += f.shape[0]
            acc[1] += f.sum(0)
            acc[2] += (f * f).sum(0)
        return acc

    @classmethod
    def from_sums(cls, sums: np.ndarray) -> FeatureStats:
        count, total, squares = sums
        if count[0] < 2:
            raise DataError("feature statistics need at least 2 training frames")
        mean = total / count
        var = np.maximum(squares / count - mean * mean, 0.0)
        std = np.maximum(np.sqrt(var), MIN_FEATURE_STD)
        return cls(mean.astype(np.float32), std.astype(np.float32))

    @classmethod
    def from_recordings(cls, recordings: Iterable[Recording], val_fraction: float) -> FeatureStats:
        return cls.from_sums(cls.sums(recordings, val_fraction))

    def normalise(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.std).astype(np.float32)


# ---- fixed crops (validation, code statistics) ------------------------------------------------
def tile_crops(recordings: Iterable[Recording], stats: FeatureStats, crop_frames: int,
               val_fraction: float, part: str, max_crops: int | None = None
               ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Non-overlapping ``crop_frames`` windows of the ``part`` ("train" or "val") of each
    recording, in order: a list of ``(motion (L, 132), normalised features (L, 64))``. A part
    shorter than ``crop_frames`` (but >= 2 frames) gives one shorter crop."""
    if part not in ("train", "val"):
        raise ValueError(f"part must be 'train' or 'val', got {part!r}")
    crops: list[tuple[np.ndarray, np.ndarray]] = []
    for rec in recordings:
        n_train = rec.n_train(val_fraction)
        lo, hi = (0, n_train) if part == "train" else (n_train, rec.n_frames)
        length = min(crop_frames, hi - lo)
        if length < 2:
            continue
        for start in range(lo, hi - length + 1, length):
            window = slice(start, start + length)
            crops.append((rec.motion[window], stats.normalise(rec.features[window])))
            if max_crops is not None and len(crops) >= max_crops:
                return crops
    return crops


def batch_crops(crops: Sequence[tuple[np.ndarray, np.ndarray]], batch_size: int
                ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Group crops of equal length into ``(motion (B, L, 132), features (B, L, 64))`` batches."""
    by_length: dict[int, list] = collections.defaultdict(list)
    for m, f in crops:
        by_length[m.shape[0]].append((m, f))
    batches = []
    for group in by_length.values():
        for i in range(0, len(group), batch_size):
            chunk = group[i:i + batch_size]
            batches.append((torch.from_numpy(np.stack([m for m, _ in chunk])),
                            torch.from_numpy(np.stack([f for _, f in chunk]))))
    return batches


# ---- random training crops: in memory ----------------------------------------------------------
class InMemoryCrops:
    """All training frames as tensors on ``device``; ``sample`` gathers a random batch.

    Crop starts are uniform over every valid start of every recording, so recordings are drawn
    in proportion to their length. Mirrored copies are precomputed.
    """

    def __init__(self, recordings: Sequence[Recording], stats: FeatureStats, crop_frames: int,
                 val_fraction: float, mirror_prob: float = 0.5, device="cpu") -> None:
        motions, mirrored, feats, starts = [], [], [], []
        offset = 0
        for rec in recordings:
            n = rec.n_train(val_fraction)
            if n < crop_frames:
                continue
            motions.append(rec.motion[:n])
            mirrored.append(mirror_motion(rec.motion[:n]))
            feats.append(stats.normalise(rec.features[:n]))
            starts.append(np.arange(offset, offset + n - crop_frames + 1))
            offset += n
        if not starts:
            raise DataError(f"no recording has {crop_frames} training frames "
                            f"(lengths: {[r.n_train(val_fraction) for r in recordings]})")
        self.crop_frames = crop_frames
        self.mirror_prob = mirror_prob
        both = np.stack([np.concatenate(motions), np.concatenate(mirrored)])  # (2: as is / mirrored, N, 132)
        self.motion = torch.from_numpy(both).to(device)
        self.features = torch.from_numpy(np.concatenate(feats)).to(device)
        self.starts = torch.from_numpy(np.concatenate(starts)).to(device)
        self.window = torch.arange(crop_frames, device=device)

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch ``(motion (B, L, 132), features (B, L, 64))`` on the data's device."""
        dev = self.starts.device
        pick = torch.randint(len(self.starts), (batch_size,), generator=generator, device=dev)
        frames = self.starts[pick, None] + self.window  # (B, L)
        mirror = (torch.rand(batch_size, generator=generator, device=dev) < self.mirror_prob).long()
        return self.motion[mirror[:, None], frames], self.features[frames]

    def batches(self, batch_size: int, generator: torch.Generator
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield self.sample(batch_size, generator)


# ---- random training crops: streaming ----------------------------------------------------------
class RecordingCache:
    """LRU cache of loaded recordings bounded by ``max_bytes`` (0 disables caching)."""

    def __init__(self, max_bytes: float, hands: bool = False, loader=None) -> None:
        self.max_bytes = max_bytes
        self.hands = hands
        self.loader = loader  # Pair -> Recording (e.g. train.cache.FeatureCache.load); default decodes
        self._items: collections.OrderedDict[Pair, Recording] = collections.OrderedDict()
        self._bytes = 0

    def get(self, pair: Pair) -> Recording:
        if pair in self._items:
            self._items.move_to_end(pair)
            return self._items[pair]
        rec = self.loader(pair) if self.loader is not None else load_recording(pair, hands=self.hands)
        if rec.n_bytes <= self.max_bytes:
            self._items[pair] = rec
            self._bytes += rec.n_bytes
            while self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.n_bytes
        return rec


class StreamingCrops(IterableDataset):
    """Endless random training crops ``(motion (L, 132), features (L, 64))`` as tensors.

    Shards: ``rank * num_workers + worker_id`` of ``world_size * num_workers``. Each shard walks
    its recordings in a fresh random order every epoch, draws ``ceil(n_train / crop_frames)``
    random crops from each into a shuffle buffer of ``buffer_size`` crops and yields from the
    buffer at random.
    """

    def __init__(self, pairs: Sequence[Pair], stats: FeatureStats, crop_frames: int, val_fraction: float,
                 mirror_prob: float = 0.5, seed: int = 0, rank: int = 0, world_size: int = 1,
                 cache_mb: float = 512.0, buffer_size: int = 256, hands: bool = False, loader=None) -> None:
        super().__init__()
        if not pairs:
            raise DataError("StreamingCrops needs at least one recording")
        self.pairs = list(pairs)
        self.stats = stats
        self.crop_frames = crop_frames
        self.val_fraction = val_fraction
        self.mirror_prob = mirror_prob
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.cache_mb = cache_mb
        self.buffer_size = buffer_size
        self.hands = hands
        self.loader = loader  # Pair -> Recording (train.cache: memory-mapped; then pass cache_mb=0)

    def shard(self) -> tuple[list[Pair], int]:
        """This process's recordings and shard index."""
        info = get_worker_info()
        n_workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        n_shards = self.world_size * n_workers
        index = self.rank * n_workers + worker
        if len(self.pairs) >= n_shards:
            return self.pairs[index::n_shards], index
        return self.pairs, index  # too few recordings: shard the random stream instead

    def _crops(self, rec: Recording, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = rec.n_train(self.val_fraction)
        if n < self.crop_frames:
            return
        for _ in range(math.ceil(n / self.crop_frames)):
            start = int(rng.integers(n - self.crop_frames + 1))
            motion = np.array(rec.motion[start:start + self.crop_frames])  # a copy: no memory map kept
            if rng.random() < self.mirror_prob:
                motion = mirror_motion(motion)
            yield motion, self.stats.normalise(rec.features[start:start + self.crop_frames])

    def __iter__(self):
        pairs, index = self.shard()
        rng = np.random.default_rng([self.seed, index])
        cache = RecordingCache(self.cache_mb * 2**20, self.hands, self.loader)
        buffer: list[tuple[np.ndarray, np.ndarray]] = []
        for epoch in itertools.count():
            produced = False
            for i in rng.permutation(len(pairs)):
                for crop in self._crops(cache.get(pairs[i]), rng):
                    produced = True
                    buffer.append(crop)
                    if len(buffer) >= self.buffer_size:
                        yield self._tensors(buffer.pop(int(rng.integers(len(buffer)))))
            if not produced and epoch == 0:
                raise DataError(f"no recording in this shard has {self.crop_frames} training frames")
            rng.shuffle(buffer)
            while len(buffer) > self.buffer_size // 2:
                yield self._tensors(buffer.pop())

    @staticmethod
    def _tensors(crop: tuple[np.ndarray, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(np.ascontiguousarray(crop[0])), torch.from_numpy(crop[1])
