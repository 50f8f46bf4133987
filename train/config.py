"""One training configuration object (nanoGPT style), stored in every checkpoint.

``TrainConfig`` holds the data paths, the optimisation settings, the loss weights of
Li et al. (ICCV 2021) as their published code sets them, the position units, and the ablation
switch ``variant``. ``VARIANTS`` maps each variant to the parts of the training step it uses:

| variant      | paper, Table 2            | what the step trains                                      |
|--------------|---------------------------|-----------------------------------------------------------|
| "baseline"   | baseline                  | no split, no mapping: recon g(S_M) + a2m g(S_A) + L_AC     |
| "split"      | + split                   | split code; a2x = g(S_A, I) with I ~ N(mean, std) of I_M   |
|              |                           | per clip directly; relaxed position loss on a2x           |
| "mapping"    | + mapping net             | I_R = f_R(noise)                                          |
| "bicycle"    | + bicycle constraint      | L1(I', I_R) + L1(S', S_M) with (S', I') = f_M(a2x)        |
| "full"       | + diversity loss          | everything (the model we ship)                            |
| "regression" | S2G without GAN (Table 1) | one-to-one: g(f_A(audio)), motion losses only             |

Units: joint positions for every position-based loss are in centimetres
(``position_unit = "cm"``), for a measured reason: with metres and
KL weight 1e-3 the codes collapsed within a few hundred steps; centimetres (the authors'
scale) kept them alive. ``relaxed_rho_m`` is given in metres and converted with
``position_scale``.

KL warm-up: cyclic annealing (Fu et al., NAACL 2019): the KL weight goes linearly from 0 to
``w_kl`` over the first ``kl_ramp_fraction`` of every ``kl_cycle_steps`` steps, then stays at
``w_kl`` for the rest of the cycle.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from core.config import ModelConfig
from core.skeleton import model_joint_indices

#: Which parts of the training step each variant uses (see the module docstring).
VARIANTS: dict[str, dict[str, bool]] = {
    "regression": dict(motion_encoder=False, split=False, mapping=False, bicycle=False, diversity=False),
    "baseline": dict(motion_encoder=True, split=False, mapping=False, bicycle=False, diversity=False),
    "split": dict(motion_encoder=True, split=True, mapping=False, bicycle=False, diversity=False),
    "mapping": dict(motion_encoder=True, split=True, mapping=True, bicycle=False, diversity=False),
    "bicycle": dict(motion_encoder=True, split=True, mapping=True, bicycle=True, diversity=False),
    "full": dict(motion_encoder=True, split=True, mapping=True, bicycle=True, diversity=True),
}

#: Metres -> position unit.
POSITION_SCALES = {"m": 1.0, "cm": 100.0}

DATA_MODES = ("auto", "memory", "stream")


@dataclass
class TrainConfig:
    """Everything a training run needs besides the architecture (``core.config.ModelConfig``)."""

    # ---- data ------------------------------------------------------------------------------
    data_dir: str = "../shared/data/beat2"  # a flat folder of pairs, or BEAT2 as published
    out_dir: str = "runs/a2g"
    speakers: str = "all"  # "all", or speaker ids (a recording name's first field): "2" or "2,4"
    additional: bool = False  # BEAT2 layout: also train on the split's "additional" rows
    bone_map: str = ""  # BVH data: a bone-map preset (.json) for odd bone names; "" detects them
    crop_frames: int = 128  # 4.2 s at 30 fps, the paper's Trinity crop
    val_fraction: float = 0.15  # flat folders: the last 15 % of each recording is validation
    mirror_prob: float = 0.5  # probability that a training crop is mirrored left/right
    data_mode: str = "auto"  # "memory" (tiny data), "stream" (IterableDataset), "auto"
    memory_limit_mb: float = 256.0  # "auto" keeps data in memory below this size of motion + audio files
    num_workers: int = 0  # DataLoader workers for the streaming path
    cache_mb: float = 512.0  # per-process LRU cache of decoded recordings (streaming path, cache_dir "off")
    cache_dir: str = "auto"  # preprocessed recordings (train.cache): "auto" (~/.cache/...), a folder, "off"
    preprocess_workers: int = 0  # processes that fill the cache (0: one per core, at most 8, shared by ranks)

    # ---- optimisation ----------------------------------------------------------------------
    batch_size: int = 32  # per process; DDP's global batch is batch_size * world size
    lr: float = 1e-4
    steps: int = 180_000  # the paper's step count; pass --steps for shorter runs
    seed: int = 0
    grad_clip: float = 0.0  # max gradient norm, 0 = off (the paper does not clip)

    # ---- schedule of side jobs -------------------------------------------------------------
    log_every: int = 50
    val_every: int = 500
    val_batches: int = 4  # fixed validation crops: val_batches * batch_size of them at most
    ckpt_every: int = 1000

    # ---- hardware --------------------------------------------------------------------------
    device: str = "auto"  # "auto" (CUDA when available), "cpu", "cuda", "cuda:1"
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    compile: bool = False  # torch.compile the model (CUDA)
    ddp_timeout_s: float = 900.0  # DDP: a rank waiting longer than this on the others fails with the reason

    # ---- model / ablation ------------------------------------------------------------------
    variant: str = "full"
    hands: bool = False  # also generate the 30 finger joints (ModelConfig.hands)

    # ---- losses ----------------------------------------------------------------------------
    position_unit: str = "cm"
    w_rot: float = 1.0  # geodesic rotation, recon and a2m
    w_pos: float = 1.0  # L1 joint positions, recon and a2m
    w_speed: float = 1.0  # L1 joint velocities, recon and a2m (paper text: 5; code: 1)
    w_a2x_rot: float = 1.0  # geodesic rotation of a2x = g(S_A, I_R)
    w_relaxed: float = 1.0  # relaxed position loss of a2x
    relaxed_rho_m: float = 0.02  # rho in metres (2 cm)
    w_a2x_speed: float = 5.0  # L1 velocities of a2x
    w_align: float = 0.1  # L1(S_A, S_M)
    w_bicycle: float = 0.1  # L1(I', I_R) + L1(S', S_M)
    w_diversity: float = 0.1  # -L1(a2x positions, a2m positions detached), decays to 0
    diversity_decay_steps: int = 0  # steps over which w_diversity decays to 0 (0 = ``steps``)
    w_kl: float = 1e-3  # each Gaussian head's KL to N(0, I), after warm-up
    kl_cycle_steps: int = 10_000  # cyclic warm-up period
    kl_ramp_fraction: float = 0.5  # fraction of a cycle spent ramping 0 -> w_kl
    w_hand_rot: float = 1.0  # geodesic rotation of the finger joints (recon, a2m, a2x); hands only
    w_code_stats: float = 0.0  # L1 between I_R's and I_M's temporal statistics (0 = off, paper)

    # ---- sampling noise and initialisation -------------------------------------------------
    noise_smoothing: int = 0  # sigma (frames) of the mapping net's input noise smoothing (0 = white)
    init_from: str = ""  # start a new run from this checkpoint's weights (fine-tuning)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"TrainConfig.variant must be one of {sorted(VARIANTS)}, got {self.variant!r}")
        if self.position_unit not in POSITION_SCALES:
            raise ValueError(
                f"TrainConfig.position_unit must be one of {sorted(POSITION_SCALES)}, "
                f"got {self.position_unit!r}"
            )
        if self.data_mode not in DATA_MODES:
            raise ValueError(f"TrainConfig.data_mode must be one of {DATA_MODES}, got {self.data_mode!r}")
        for name in ("batch_size", "steps", "log_every", "val_every", "ckpt_every",
                     "kl_cycle_steps", "val_batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.crop_frames < 2:
            raise ValueError("TrainConfig.crop_frames must be >= 2 (the speed losses need two frames)")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"TrainConfig.val_fraction must be in [0, 1), got {self.val_fraction}")
        if not 0.0 <= self.mirror_prob <= 1.0:
            raise ValueError(f"TrainConfig.mirror_prob must be in [0, 1], got {self.mirror_prob}")
        if not 0.0 < self.kl_ramp_fraction <= 1.0:
            raise ValueError(f"TrainConfig.kl_ramp_fraction must be in (0, 1], got {self.kl_ramp_fraction}")
        if self.lr <= 0.0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}")
        if self.noise_smoothing < 0 or self.w_code_stats < 0:
            raise ValueError("TrainConfig.noise_smoothing and w_code_stats must be >= 0")
        if self.num_workers < 0 or self.diversity_decay_steps < 0 or self.grad_clip < 0:
            raise ValueError("TrainConfig.num_workers, diversity_decay_steps and grad_clip must be >= 0")

    # ---- derived -------------------------------------------------------------------------
    @property
    def parts(self) -> dict[str, bool]:
        """The parts of the training step this variant uses (``VARIANTS[variant]``)."""
        return VARIANTS[self.variant]

    @property
    def position_scale(self) -> float:
        """Metres -> the configured position unit (100 for centimetres)."""
        return POSITION_SCALES[self.position_unit]

    @property
    def relaxed_rho(self) -> float:
        """rho of the relaxed position loss in the configured position unit."""
        return self.relaxed_rho_m * self.position_scale

    def kl_weight(self, step: int) -> float:
        """KL weight at ``step`` (0-based) under the cyclic warm-up."""
        ramp = max(1.0, self.kl_ramp_fraction * self.kl_cycle_steps)
        phase = step % self.kl_cycle_steps
        return self.w_kl * min(1.0, phase / ramp)

    def diversity_weight(self, step: int) -> float:
        """Diversity weight at ``step``: ``w_diversity`` decayed linearly to 0."""
        horizon = self.diversity_decay_steps or self.steps
        return self.w_diversity * max(0.0, 1.0 - step / horizon)

    def model_config(self, base: ModelConfig | None = None) -> ModelConfig:
        """The architecture this variant trains: ``base`` (default ``ModelConfig()``) with the
        motion-specific code removed (``specific_dim=0``) for "baseline"/"regression" and the
        mapping net removed for "split"."""
        base = dataclasses.replace(base or ModelConfig(), noise_smoothing=self.noise_smoothing,
                                   hands=self.hands, n_joints=len(model_joint_indices(self.hands)))
        if not self.parts["split"]:
            return dataclasses.replace(base, specific_dim=0, use_mapping=False)
        if not self.parts["mapping"]:
            return dataclasses.replace(base, use_mapping=False)
        return base

    # ---- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"TrainConfig.from_dict: unknown field(s) {unknown}")
        return cls(**data)
