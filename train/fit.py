"""The training loop: single process, or DDP under ``torchrun`` (one process per device).

``fit(config)`` trains ``config.variant`` and returns the trained (unwrapped) model. In
``config.out_dir`` the main process (rank 0) writes

- ``log.jsonl``: one JSON object per line, ``{"split": "train"|"val", "step": ..., <terms>}``
  (the loss terms and code statistics of ``train.losses.TrainingStep``, plus ``total``,
  ``steps_per_s``, ``kl_weight``, ``diversity_weight`` for training records);
- ``ckpt.pt`` (``train.checkpoint``): model + optimizer + step + TrainConfig + ModelConfig + feature mean/std
  (tensors and plain types only: ``torch.load(..., weights_only=True)`` reads it);
- ``model.json`` + ``model.npz`` at the end: the exported model file (``train.export``) with
  the feature statistics and per-clip statistics of I_M over the training crops.

Devices: CUDA when available (``config.device = "auto"``), with bf16 autocast (``amp``),
training data kept on the device (in-memory path) and optional ``torch.compile``; else CPU.
Distributed: when ``WORLD_SIZE > 1`` (``torchrun``), ``init_process_group`` from the
environment (nccl on CUDA, gloo on CPU); each rank draws its own crops (sharded recordings on
the streaming path, its own random stream on the in-memory path), gradients are averaged by
DDP, and only rank 0 logs, validates and saves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from core.config import ModelConfig
from core.model_file import load_model
from core.rotations import axis_angle_to_matrix, matrix_to_sixd
from core.skeleton import hand_mean
from train.cache import FeatureCache
from train.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from train.config import TrainConfig
from train.data import (
    FeatureStats,
    InMemoryCrops,
    Pair,
    Recording,
    Recordings,
    StreamingCrops,
    batch_crops,
    find_pairs,
    load_recording,
    recordings_metadata,
    tile_crops,
    training_pairs,
)
from train.export import MODEL_NAME, export_run
from train.losses import TrainingStep
from train.model import Audio2Gestures

LOG_NAME = "log.jsonl"
COLLAPSE_STD = 1e-2  # a code whose std over time falls below this is reported as collapsed


# ---- processes and devices ---------------------------------------------------------------------
@dataclass(frozen=True)
class Runtime:
    """Where this process runs: its rank among ``world_size`` and its device; ``owns_group``
    when ``setup_runtime`` started the process group (and ``fit`` ends it)."""

    rank: int
    world_size: int
    device: torch.device
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"``: ``cuda:<local_rank>`` when CUDA is available, else CPU; otherwise ``name``."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available")
    return device


def setup_runtime(config: TrainConfig) -> Runtime:
    """Join the process group when launched with ``WORLD_SIZE > 1`` (``torchrun`` env vars)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Runtime(0, 1, pick_device(config.device))
    rank = int(os.environ["RANK"])
    device = pick_device(config.device, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    owns_group = not dist.is_initialized()
    if owns_group:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(seconds=config.ddp_timeout_s))
    return Runtime(rank, world_size, device, owns_group)


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (seed, rank, step, ...), independent streams per tuple."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0]) >> 1


# ---- data --------------------------------------------------------------------------------------
@dataclass
class TrainingData:
    """Batches for the loop, fixed validation batches and the normalisation statistics."""

    stats: FeatureStats
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]]
    val_batches: list[tuple[torch.Tensor, torch.Tensor]]
    pairs: list[Pair]
    recordings: list[Recording] | None  # in-memory path only
    hands: bool = False  # recordings carry the finger joints too
    loader: Callable[[Pair], Recording] | None = None  # Pair -> Recording (the cache's, or decoding)

    def iter_recordings(self) -> Iterable[Recording]:
        """The recordings: the in-memory list, else loaded lazily one at a time (re-iterable)."""
        if self.recordings is not None:
            return self.recordings
        return Recordings(self.pairs, self.loader, self.hands)


def use_memory(config: TrainConfig, pairs: list[Pair]) -> bool:
    if config.data_mode != "auto":
        return config.data_mode == "memory"
    return sum(p.n_bytes for p in pairs) <= config.memory_limit_mb * 2**20


def recording_loader(config: TrainConfig, pairs: list[Pair], rt: Runtime) -> Callable[[Pair], Recording]:
    """How recordings are read: from the preprocessed cache (``train.cache``; each rank fills
    its share of the missing entries, in parallel, then waits for the others), or decoded each
    time (``cache_dir = "off"``)."""
    if config.cache_dir == "off":
        return functools.partial(load_recording, hands=config.hands)
    cache = FeatureCache(None if config.cache_dir == "auto" else config.cache_dir, config.hands)
    workers = config.preprocess_workers or max(1, min(8, (os.cpu_count() or 1) // rt.world_size))
    report = cache.build(pairs[rt.rank::rt.world_size], workers, progress=rt.is_main)
    if rt.distributed:
        dist.barrier()
    if rt.is_main:
        share = f" (rank 0's share of {len(pairs)})" if rt.distributed else ""
        tqdm.write(f"preprocess: {report['built']} of {report['recordings']} recording(s){share} decoded "
                   f"into {cache.root} in {report['seconds']:.1f} s; the rest were already there")
    return cache.load


def build_data(config: TrainConfig, rt: Runtime, start_step: int) -> TrainingData:
    """Find and load the data; crops are drawn from a stream seeded by (seed, rank, start_step)."""
    pairs = find_pairs(config.data_dir, config.speakers, config.additional, bone_map=config.bone_map)
    loader = recording_loader(config, pairs, rt)
    seed = derive_seed(config.seed, rt.rank, start_step)
    if use_memory(config, pairs):
        recordings = [loader(p) for p in pairs]
        stats = FeatureStats.from_recordings(recordings, config.val_fraction)
        crops = InMemoryCrops(recordings, stats, config.crop_frames, config.val_fraction,
                              config.mirror_prob, rt.device)
        generator = torch.Generator(device=rt.device).manual_seed(seed)
        batches = crops.batches(config.batch_size, generator)
    else:
        recordings = None
        own = pairs[rt.rank::rt.world_size]
        sums = FeatureStats.sums((loader(p) for p in own), config.val_fraction)
        if rt.distributed:
            total = torch.from_numpy(sums)
            dist.all_reduce(total)
            sums = total.numpy()
        stats = FeatureStats.from_sums(sums)
        cache_mb = config.cache_mb if config.cache_dir == "off" else 0.0  # memory maps need no LRU
        dataset = StreamingCrops(training_pairs(pairs), stats, config.crop_frames, config.val_fraction,
                                 config.mirror_prob, seed=seed, rank=rt.rank, world_size=rt.world_size,
                                 cache_mb=cache_mb, hands=config.hands, loader=loader)
        loader_ = DataLoader(dataset, batch_size=config.batch_size, num_workers=config.num_workers,
                             pin_memory=rt.device.type == "cuda", persistent_workers=config.num_workers > 0)
        batches = ((m.to(rt.device, non_blocking=True), f.to(rt.device, non_blocking=True))
                   for m, f in loader_)
    data = TrainingData(stats, batches, [], pairs, recordings, config.hands, loader)
    if rt.is_main:
        crops = tile_crops(data.iter_recordings(), stats, config.crop_frames, config.val_fraction, "val",
                           max_crops=config.val_batches * config.batch_size)
        if not crops:
            raise ValueError(f"no validation frames: val_fraction={config.val_fraction} leaves nothing "
                             f"to validate on in {config.data_dir}")
        data.val_batches = batch_crops(crops, config.batch_size)
    return data


def check_losses_finite(total: torch.Tensor, terms: dict, rt: Runtime, step: int) -> None:
    """Raise ``FloatingPointError`` on every rank when the loss of any rank is not finite, naming
    the rank(s) and values (under DDP the ranks share their losses in one all-reduce, so none is
    left waiting for a rank that stopped)."""
    loss = float(total.detach())
    if rt.distributed:
        losses = torch.zeros(rt.world_size, dtype=torch.float64, device=rt.device)
        losses[rt.rank] = loss
        dist.all_reduce(losses)
        values = losses.tolist()
    else:
        values = [loss]
    bad = [r for r, v in enumerate(values) if not math.isfinite(v)]
    if bad:
        detail = {k: float(v) for k, v in terms.items()} if rt.rank in bad else {}
        raise FloatingPointError(
            f"step {step}: the loss is not finite on rank(s) {bad} ({', '.join(f'{values[r]}' for r in bad)})"
            + (f"; this rank's terms {detail}" if detail else "; see that rank's error for its terms")
            + ". Every rank stops; resume from the last checkpoint with a lower --lr or --grad-clip")


# ---- side jobs ---------------------------------------------------------------------------------
def autocast(rt: Runtime, config: TrainConfig):
    if rt.device.type == "cuda" and config.amp:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def validate(step_module: TrainingStep, batches, config: TrainConfig, rt: Runtime,
             step: int) -> dict[str, float]:
    """Mean of every term over the fixed validation crops, with a fixed noise seed."""
    sums: dict[str, float] = {}
    count = 0
    devices = [rt.device] if rt.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed)
        for motion, features in batches:
            with autocast(rt, config):
                total, terms = step_module(motion.to(rt.device), features.to(rt.device),
                                           config.kl_weight(step), config.diversity_weight(step))
            n = motion.shape[0]
            count += n
            for name, value in {"total": total, **terms}.items():
                sums[name] = sums.get(name, 0.0) + float(value) * n
    return {name: value / count for name, value in sums.items()}


class JsonlLog:
    """Append-only JSON-lines log (one object per line)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, record: dict) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def read_log(path) -> list[dict]:
    """All records of a ``log.jsonl``."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def collapsed_codes(terms: dict) -> set[str]:
    """The logged code statistics ``std_*`` below ``COLLAPSE_STD`` (codes constant over time)."""
    return {k for k, v in terms.items() if k.startswith("std_") and float(v) < COLLAPSE_STD}


# ---- initialisation from an earlier run -------------------------------------------------------
def init_weights_from(model: Audio2Gestures, source) -> None:
    """Start ``model`` from the weights of a checkpoint (``.pt``) or an exported model file
    (``.json``): fine-tuning, or growing a body-only model into one with hands.

    The architectures must match except for the joints: with more joints than the source
    (22 -> 52, fingers added), the body part of the motion encoder's input layer and of the
    decoder's output layer is copied, the new input columns start at zero (the encoder first
    behaves as the source's) and the new output rows start at zero weight with the relaxed mean
    hand as their bias (the decoder's fingers start relaxed, not flat, and learn from there)."""
    source = str(source)
    if source.endswith(".json"):
        loaded = load_model(source)
        src_arch, weights = loaded.config, {k: torch.from_numpy(v) for k, v in loaded.weights.items()}
    else:
        state = load_checkpoint(source)
        src_arch, weights = ModelConfig.from_dict(state["model_config"]), state["model"]
    arch = model.config
    same = dict(noise_smoothing=arch.noise_smoothing, output_smoothing=arch.output_smoothing,
                code_prior=arch.code_prior, hands=arch.hands, n_joints=arch.n_joints)
    if dataclasses.replace(src_arch, **same) != arch or src_arch.n_joints > arch.n_joints:
        raise ValueError(f"--init-from {source}: its architecture {src_arch.to_dict()} differs from this "
                         f"run's {arch.to_dict()} in more than the joints")
    old_dim = src_arch.motion_dim
    hand_bias = torch.from_numpy(relaxed_hand_sixd()) if arch.n_joints > src_arch.n_joints else None
    own = model.state_dict()
    with torch.no_grad():
        for name, target in own.items():
            value = weights[name].to(target.dtype)
            if value.shape == target.shape:
                target.copy_(value)
            elif name.startswith("motion_encoder.blocks.0.") and name.endswith("weight"):
                target[:, old_dim:] = 0.0  # new input channels (fingers) start ignored
                target[:, :old_dim] = value
            elif name == "decoder.fc2.weight":
                target[old_dim:] = 0.0  # new rows (fingers) start at the bias: the relaxed hand
                target[:old_dim] = value
            elif name == "decoder.fc2.bias":
                target[:old_dim] = value
                target[old_dim:] = hand_bias
            else:
                raise ValueError(f"--init-from {source}: parameter {name} has shape {tuple(value.shape)}, "
                                 f"this run's is {tuple(target.shape)}")
    model.load_state_dict(own)


def relaxed_hand_sixd() -> np.ndarray:
    """The relaxed mean hand (``core.skeleton.hand_mean``) as network 6D, (30 * 6,) float32."""
    rot = axis_angle_to_matrix(hand_mean().reshape(-1, 3))
    return matrix_to_sixd(rot).reshape(-1).astype(np.float32)


# ---- the loop ----------------------------------------------------------------------------------
def fit(config: TrainConfig, model_config: ModelConfig | None = None, resume: bool = False) -> Audio2Gestures:
    """Train ``config.variant`` (architecture ``config.model_config(model_config)``) and export it.

    ``resume``: continue from ``<out_dir>/ckpt.pt`` (its architecture must match); the
    TrainConfig given now applies (e.g. a larger ``steps``). Without ``resume`` an existing
    checkpoint in ``out_dir`` is an error, so runs are never overwritten by accident.
    """
    rt = setup_runtime(config)
    out = Path(config.out_dir)
    ckpt_path = out / CHECKPOINT_NAME
    state = None
    if resume:
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
        state = load_checkpoint(ckpt_path)
    elif ckpt_path.exists():
        raise FileExistsError(f"{ckpt_path} exists: pass --resume to continue it or choose another --out")
    start_step = int(state["step"]) if state else 0

    if state is not None and state["train_config"]["variant"] != config.variant:
        raise ValueError(f"{ckpt_path}: the run trains variant {state['train_config']['variant']!r}, "
                         f"not {config.variant!r}")
    torch.manual_seed(config.seed)  # identical initial weights on every rank
    arch = config.model_config(model_config)
    if state is not None and ModelConfig.from_dict(state["model_config"]) != arch:
        raise ValueError(f"{ckpt_path}: checkpoint architecture {state['model_config']} differs from "
                         f"{arch.to_dict()} (variant {config.variant!r})")
    model = Audio2Gestures(arch).to(rt.device)
    step_module = TrainingStep(model, config).to(rt.device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    elif config.init_from:
        init_weights_from(model, config.init_from)
    torch.manual_seed(derive_seed(config.seed, rt.rank, start_step, 1))  # per-rank sampling noise

    data = build_data(config, rt, start_step)
    if state is not None and not np.allclose(state["feature_mean"].numpy(), data.stats.mean, atol=1e-3):
        raise ValueError(f"{ckpt_path}: the data's feature statistics differ from the checkpoint's; "
                         "resume on the same data")
    runner = step_module
    if rt.distributed:
        device_ids = [rt.device] if rt.device.type == "cuda" else None
        runner = DistributedDataParallel(step_module, device_ids=device_ids)
    if config.compile:
        runner = torch.compile(runner)

    log = None
    if rt.is_main:
        out.mkdir(parents=True, exist_ok=True)
        log = JsonlLog(out / LOG_NAME)
        log.write({"split": "meta", "step": start_step, "resumed": resume, "world_size": rt.world_size,
                   "device": str(rt.device), "train_config": config.to_dict(), "model_config": arch.to_dict(),
                   **recordings_metadata(data.pairs), "time": time.time()})
    bar = tqdm(total=config.steps, initial=start_step, disable=not rt.is_main, dynamic_ncols=True,
               desc=f"fit {config.variant}")
    t_last, steps_since = time.perf_counter(), 0
    collapsed: set[str] = set()
    for step in range(start_step, config.steps):
        motion, features = next(data.batches)
        kl_w, div_w = config.kl_weight(step), config.diversity_weight(step)
        with autocast(rt, config):  # weights as tensors: torch.compile does not recompile per value
            total, terms = runner(motion, features, torch.tensor(kl_w, device=rt.device),
                                  torch.tensor(div_w, device=rt.device))
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        bar.update(1)
        steps_since += 1
        done = step + 1
        last = done == config.steps
        logging = done % config.log_every == 0 or last
        if logging:
            check_losses_finite(total, terms, rt, done)  # every rank, so all stop together
        if not rt.is_main:
            continue
        if logging:
            loss = float(total.detach())
            now = time.perf_counter()
            sps = steps_since / max(now - t_last, 1e-9)
            t_last, steps_since = now, 0
            log.write({"split": "train", "step": done, "total": loss, "steps_per_s": sps, "kl_weight": kl_w,
                       "diversity_weight": div_w, **{k: float(v) for k, v in terms.items()}})
            bar.set_postfix(loss=f"{loss:.3f}", sps=f"{sps:.2f}")
            for name in sorted(collapsed_codes(terms) - collapsed):
                collapsed.add(name)
                tqdm.write(f"warning: step {done}: {name} = {float(terms[name]):.2g} < {COLLAPSE_STD}: "
                           "the code is (nearly) constant over time - posterior collapse?")
        if done % config.val_every == 0 or last:
            val = validate(step_module, data.val_batches, config, rt, step)
            log.write({"split": "val", "step": done, **val})
        if done % config.ckpt_every == 0 or last:
            save_checkpoint(ckpt_path, model, optimizer, done, config, data.stats)
    bar.close()

    if rt.distributed and rt.owns_group:
        # training is over on every rank (the last step's gradients were averaged): leave the group
        # now, so no rank waits on a barrier while rank 0 exports (however long that takes)
        dist.destroy_process_group()
    if rt.is_main:
        export_run(model, config, data.stats, data.iter_recordings(), rt.device, out / MODEL_NAME,
                   config.steps, recordings_metadata(data.pairs))
    return model
