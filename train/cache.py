"""Preprocess once: each recording's network motion and log-mel features in an on-disk cache.

A recording is decoded (motion file -> 6D rotations at 30 fps, audio -> 16 kHz -> log-mel, both
cropped to their common length: ``train.data.load_recording``) once and stored as two ``.npy``
files, ``<key>.motion.npy (T, J * 6)`` and ``<key>.features.npy (T, 64)`` float32, read back
memory-mapped (like nanoGPT's ``train.bin``): later runs, the feature statistics, the training
crops, the export's fitting and evaluation read only the frames they touch, and a recording's
pages leave memory when its map is dropped, so peak memory does not grow with the corpus.

``key`` = sha1 of the recording's files (path, size, modification time), its BVH bone-map
preset, the joints (body or with hands) and the *settings*: the feature constants and the
source of the modules that decode (``core/features.py``, ``core/audio.py``, the motion readers).
A changed file, a changed setting or a changed decoder gives a new key, so the entry is rebuilt;
stale entries are simply never read (``prune`` removes them).

``build`` decodes the missing entries in parallel (processes), with progress and ETA.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core import features
from core.files import atomic_write
from train.data import Pair, Recording, load_recording

CACHE_VERSION = 1
#: The modules whose code decides what a cache entry holds (rebuilt when any of them changes).
DECODER_SOURCES = ("core/features.py", "core/audio.py", "core/smplx_npz.py", "core/bvh.py",
                   "core/bvh_smplx.py", "core/retarget.py", "core/rotations.py", "core/timeline.py",
                   "train/data.py")
_ROOT = Path(__file__).resolve().parents[1]


def default_root() -> Path:
    """``$A2G_CACHE``, else ``$XDG_CACHE_HOME/audio2gestures/training`` (``~/.cache/...``)."""
    if os.environ.get("A2G_CACHE"):
        return Path(os.environ["A2G_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "audio2gestures" / "training"


def settings_digest(hands: bool) -> str:
    """sha1 of everything besides the files that decides an entry's content."""
    h = hashlib.sha1()
    constants = {name: getattr(features, name) for name in
                 ("SAMPLE_RATE", "FPS", "HOP_LENGTH", "N_FFT", "N_MELS", "FMIN", "FMAX", "AMIN", "TOP_DB")}
    settings = {"version": CACHE_VERSION, "hands": bool(hands), **constants}
    h.update(json.dumps(settings, sort_keys=True).encode())
    for rel in DECODER_SOURCES:
        path = _ROOT / rel
        h.update(rel.encode())
        h.update(path.read_bytes() if path.is_file() else b"-")
    return h.hexdigest()


def _file_id(path: Path) -> str:
    st = path.stat()  # of the file a link points to; the name is the link's own (each is an entry)
    return f"{path.absolute()}|{st.st_size}|{st.st_mtime_ns}"


class FeatureCache:
    """The cache at ``root`` for recordings decoded with or without the finger joints."""

    def __init__(self, root=None, hands: bool = False) -> None:
        self.root = Path(root) if root else default_root()
        self.hands = bool(hands)
        self.settings = settings_digest(self.hands)

    def key(self, pair: Pair) -> str:
        h = hashlib.sha1(self.settings.encode())
        h.update(_file_id(pair.motion_path).encode())
        h.update(_file_id(pair.audio_path).encode())
        if pair.bone_map:
            h.update(Path(pair.bone_map).read_bytes())
        return h.hexdigest()

    def paths(self, pair: Pair) -> tuple[Path, Path]:
        key = self.key(pair)
        folder = self.root / key[:2]
        return folder / f"{key}.motion.npy", folder / f"{key}.features.npy"

    def has(self, pair: Pair) -> bool:
        return all(p.is_file() for p in self.paths(pair))

    def store(self, pair: Pair) -> int:
        """Decode ``pair`` and write its entry; returns its frame count."""
        rec = load_recording(pair, hands=self.hands)
        motion_path, features_path = self.paths(pair)
        motion_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(features_path, lambda f: np.save(f, np.ascontiguousarray(rec.features, np.float32)))
        atomic_write(motion_path, lambda f: np.save(f, np.ascontiguousarray(rec.motion, np.float32)))
        return rec.n_frames

    def load(self, pair: Pair) -> Recording:
        """The recording from the cache, memory-mapped (decoded and stored first when missing)."""
        motion_path, features_path = self.paths(pair)
        if not (motion_path.is_file() and features_path.is_file()):
            self.store(pair)
        motion = np.load(motion_path, mmap_mode="r")
        feats = np.load(features_path, mmap_mode="r")
        return Recording(pair.name, motion, feats, None, pair.role, pair.speaker)

    def n_frames(self, pair: Pair) -> int:
        """Frames of a cached recording, from its header only."""
        return int(np.load(self.paths(pair)[0], mmap_mode="r").shape[0])

    def build(self, pairs: Sequence[Pair], workers: int = 0, progress: bool = True) -> dict:
        """Decode every recording of ``pairs`` that has no entry yet, on ``workers`` processes
        (0: one per core, at most 8). Returns ``{"recordings", "built", "frames_built", "seconds"}``."""
        t0 = time.perf_counter()
        missing = [p for p in pairs if not self.has(p)]
        workers = workers or min(8, os.cpu_count() or 1)
        frames = 0
        bar = tqdm(total=len(missing), disable=not progress or not missing, unit="rec", dynamic_ncols=True,
                   desc=f"preprocess -> {self.root}", file=sys.stderr)
        if workers <= 1 or len(missing) < 4:
            for pair in missing:
                frames += self.store(pair)
                bar.update(1)
        else:
            ctx = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                jobs = [pool.submit(_store, str(self.root), self.hands, p) for p in missing]
                for job in concurrent.futures.as_completed(jobs):
                    frames += job.result()
                    bar.update(1)
        bar.close()
        return {"recordings": len(pairs), "built": len(missing), "frames_built": frames,
                "seconds": time.perf_counter() - t0}

    def prune(self, keep: Iterable[Pair]) -> int:
        """Delete entries not of ``keep`` (stale ones); returns how many files went."""
        wanted = {p.name for pair in keep for p in self.paths(pair)}
        gone = 0
        for path in self.root.glob("*/*.npy"):
            if path.name not in wanted:
                path.unlink()
                gone += 1
        return gone


def _store(root: str, hands: bool, pair: Pair) -> int:
    return FeatureCache(root, hands).store(pair)
