"""The Audio2Gestures architecture, defined once.

``ModelConfig`` is read by both the torch model (``train/model.py``) and the numpy runtime
(``core/network.py``); the exported model file stores it as JSON (``to_dict``/``from_dict``).

Architecture (Li et al., ICCV 2021, "Audio2Gestures"), all nets 1D, non-causal,
length-preserving and fully convolutional over time:

- audio encoder f_A: log-mel (n_mels) -> temporal blocks ``audio_channels`` -> per-frame
  Linear(., audio_head_hidden) - ReLU - Linear(., shared_dim) = shared code S_A.
- motion encoder f_M: 6D rotations (n_joints * rot_dim) -> blocks ``motion_channels`` -> two
  per-frame linear heads, each giving a Gaussian (mean, log-variance): shared code S_M
  (shared_dim) and motion-specific code I_M (specific_dim).
- mapping net f_R: ``mapping_layers`` Conv1d(specific_dim, specific_dim, kernel_size) with a
  ReLU after each, then a per-frame linear head giving (mean, log-variance) of I_R.
- decoder g: concat(S, I) -> blocks ``decoder_channels`` -> per-frame
  Linear(., decoder_head_hidden) - ReLU - Linear(., n_joints * rot_dim) = 6D per joint.

A temporal block with dilation d is Conv1d(k, d) - ReLU - Conv1d(k, d) - ReLU plus a 1x1 conv on
the skip path when the channel count changes, then a final ReLU; "same" zero padding
``d * (kernel_size - 1) // 2`` on each side.

Number of residual blocks: we use **five** blocks per encoder/decoder with dilations
1, 2, 4, 8, 16, as in the authors' published code; the paper (sec. 5.3) says "four residual
blocks". With k = 3 five blocks see 62 frames on each side (125 frames, about 4.2 s at 30 fps),
matching the paper's 4.2 s training crops.

Ablations: ``specific_dim = 0`` is the "no split" baseline (the decoder sees only the shared
code; there is no specific head and no mapping net, so it needs ``use_mapping=False``).
``use_mapping=False`` with ``specific_dim > 0`` is the "+split" ablation: I_R is the noise drawn
from the per-clip code statistics, fed to the decoder directly.

Joints: the 22 SMPL-X body joints (``n_joints = 22``), or with ``hands`` also the 30 finger
joints (``n_joints = 52``, SMPL-X indices 0-21 then 25-54; ``joint_indices``).

Sampling: ``noise_smoothing`` is the sigma, in frames, of the Gaussian smoothing in time of the
noise fed to the mapping net (core/noise.py); 0 is the paper's per-frame white noise. It is
stored here because training and inference must draw the same kind of noise.
``code_prior`` names the default sampler of the motion-specific code (core/prior.py: "paper",
"gaussian" or "retrieval"); the model file carries the arrays of every prior it was exported
with, and ``core.generate`` can be asked for another one.
``finger_gain`` (models with hands): the decoder reproduces only part of the fingers' movement
(measured on BEAT2: about half, fed the real codes); the fingers' rotations away from their mean
pose over the take are scaled by this gain at inference (core/generate.py), fitted at export as
the ratio of the real fingers' movement to the decoder's on the training data (1 = none).
``output_smoothing`` is the sigma, in frames, of a Gaussian low-pass in time applied to the
decoder's 6D output at inference (core/generate.py; 0 = none). The network's raw output carries
frame-to-frame jitter that real motion does not have (measured on BEAT2: mean jerk 10x the
mocap's); sigma 1 removes it while keeping the gestures (see models/MODEL_CARD.md).
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

from .features import FPS, HOP_LENGTH, SAMPLE_RATE
from .prior import PRIORS
from .skeleton import model_joint_indices

#: The four networks, by their submodule / parameter-name prefix.
NETS = ("audio_encoder", "motion_encoder", "mapping", "decoder")

_TUPLE_FIELDS = ("audio_channels", "motion_channels", "decoder_channels", "dilations")
MAX_SIZE = 65_536  # no layer count, width, kernel or dilation of a real model comes near
MAX_RATE = 1_000_000  # sample_rate (Hz)


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of the Audio2Gestures network (immutable, JSON-safe).

    Sizes are per frame; all nets keep the number of frames T.
    """

    n_mels: int = 64
    n_joints: int = 22
    hands: bool = False
    rot_dim: int = 6
    shared_dim: int = 16
    specific_dim: int = 16
    audio_channels: tuple[int, ...] = (128, 128, 96, 96, 64)
    motion_channels: tuple[int, ...] = (256, 256, 128, 128, 64)
    decoder_channels: tuple[int, ...] = (64, 128, 128, 256, 256)
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16)
    kernel_size: int = 3
    audio_head_hidden: int = 32
    decoder_head_hidden: int = 256
    mapping_layers: int = 3
    use_mapping: bool = True
    noise_smoothing: int = 0
    output_smoothing: int = 0
    code_prior: str = "paper"
    finger_gain: float = 1.0
    # The timing the model was trained for. The runtime has one timing, core.features' constants
    # (features and timeline read those); load_model refuses a model file whose timing differs.
    fps: int = FPS
    sample_rate: int = SAMPLE_RATE
    hop_length: int = HOP_LENGTH

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _TUPLE_FIELDS:
                if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                    raise ValueError(f"ModelConfig.{f.name} must be a sequence of ints, got {value!r}")
                value = tuple(value)
                if not value or not all(_is_int(v) and 0 < v <= MAX_SIZE for v in value):
                    raise ValueError(
                        f"ModelConfig.{f.name} must be a non-empty sequence of positive ints "
                        f"(at most {MAX_SIZE}), got {value!r}"
                    )
                object.__setattr__(self, f.name, tuple(int(v) for v in value))
            elif f.name == "code_prior":
                if value not in PRIORS:
                    raise ValueError(f"ModelConfig.code_prior must be one of {PRIORS}, got {value!r}")
            elif f.name == "finger_gain":
                if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.25 <= value <= 4.0:
                    raise ValueError(f"ModelConfig.finger_gain must be a number in [0.25, 4], got {value!r}")
                object.__setattr__(self, f.name, float(value))
            elif f.name in ("use_mapping", "hands"):
                if not isinstance(value, bool):
                    raise ValueError(f"ModelConfig.{f.name} must be a bool, got {value!r}")
            elif not _is_int(value):
                raise ValueError(f"ModelConfig.{f.name} must be an int, got {value!r}")
            else:
                object.__setattr__(self, f.name, int(value))  # numpy ints -> JSON-safe int
        minimum_zero = {"specific_dim", "mapping_layers", "noise_smoothing", "output_smoothing"}
        for name in ("n_mels", "n_joints", "rot_dim", "shared_dim", "specific_dim",
                     "kernel_size", "audio_head_hidden", "decoder_head_hidden",
                     "mapping_layers", "noise_smoothing", "output_smoothing", "fps", "sample_rate",
                     "hop_length"):
            value = getattr(self, name)
            lowest = 0 if name in minimum_zero else 1
            if value < lowest:
                raise ValueError(f"ModelConfig.{name} must be >= {lowest}, got {value}")
            highest = MAX_RATE if name == "sample_rate" else MAX_SIZE
            if value > highest:  # a damaged or hostile file: no loop or shape that large
                raise ValueError(f"ModelConfig.{name} must be <= {highest}, got {value}")
        if self.n_joints != len(self.joint_indices):
            raise ValueError(
                f"ModelConfig: n_joints must be {len(self.joint_indices)} with hands={self.hands} "
                f"(the 22 body joints{' and the 30 finger joints' if self.hands else ''}), "
                f"got {self.n_joints}"
            )
        if self.kernel_size % 2 != 1:
            raise ValueError(
                f"ModelConfig.kernel_size must be odd (symmetric 'same' padding), got {self.kernel_size}"
            )
        n = len(self.dilations)
        for name in ("audio_channels", "motion_channels", "decoder_channels"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"ModelConfig.{name} has {len(getattr(self, name))} entries but dilations has "
                    f"{n}: one channel count per temporal block"
                )
        if self.use_mapping and self.specific_dim == 0:
            raise ValueError(
                "ModelConfig: use_mapping=True needs specific_dim > 0; for the 'no split' "
                "ablation set specific_dim=0 and use_mapping=False"
            )
        if self.use_mapping and self.mapping_layers < 1:
            raise ValueError("ModelConfig: use_mapping=True needs mapping_layers >= 1")

    def timing_mismatch(self) -> str | None:
        """None when the model's fps, sample rate and hop match this runtime's (core.features),
        else a sentence saying how they differ."""
        ours = (FPS, SAMPLE_RATE, HOP_LENGTH)
        theirs = (self.fps, self.sample_rate, self.hop_length)
        if theirs == ours:
            return None
        return ("the model was trained for {} fps, {} Hz audio, hop {} samples; this runtime computes "
                "features at {} fps, {} Hz, hop {}".format(*theirs, *ours))

    # ---- derived sizes -------------------------------------------------------------------
    @property
    def joint_indices(self) -> tuple[int, ...]:
        """SMPL-X indices of the joints the model drives, in its output order
        (``core.skeleton.model_joint_indices``): 22 body joints, then 30 fingers with ``hands``."""
        return model_joint_indices(self.hands)

    @property
    def motion_dim(self) -> int:
        """Channels of a motion frame: n_joints * rot_dim (132)."""
        return self.n_joints * self.rot_dim

    @property
    def decoder_in(self) -> int:
        """Decoder input channels: shared_dim + specific_dim (shared first)."""
        return self.shared_dim + self.specific_dim

    @property
    def padding(self) -> tuple[int, ...]:
        """Zero padding on each side of each block's convs (``d * (k - 1) // 2``)."""
        return tuple(d * (self.kernel_size - 1) // 2 for d in self.dilations)

    # ---- receptive field -----------------------------------------------------------------
    def receptive_radius(self, net: str) -> int:
        """Frames that ``net`` sees on EACH side of an output frame.

        An output frame t depends on input frames [t - r, t + r]. Per-frame linear heads add
        nothing. Default config: 62 for the encoders and the decoder, 3 for the mapping net.
        """
        half = (self.kernel_size - 1) // 2
        if net in ("audio_encoder", "motion_encoder", "decoder"):
            return sum(2 * half * d for d in self.dilations)  # two convs per block
        if net == "mapping":
            return self.mapping_layers * half if self.use_mapping else 0
        raise ValueError(f"unknown net {net!r}; expected one of {NETS}")

    def receptive_field(self, net: str) -> int:
        """Total frames one output frame of ``net`` sees: ``2 * receptive_radius(net) + 1``."""
        return 2 * self.receptive_radius(net) + 1

    def generation_radius(self) -> int:
        """Radius of the inference path: decoder(audio_encoder(.), mapping(.)).

        An output frame depends on features and noise within this many frames each side
        (124 by default).
        """
        return self.receptive_radius("decoder") + max(
            self.receptive_radius("audio_encoder"), self.receptive_radius("mapping")
        )

    # ---- JSON ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of all fields (tuples become lists)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a dict such as ``to_dict()`` produced.

        Missing fields take their defaults; unknown fields raise ``ValueError`` naming them
        (they usually mean a model file from a newer/other architecture).
        """
        if not isinstance(data, dict):
            raise ValueError(f"ModelConfig.from_dict expects a dict, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"ModelConfig.from_dict: unknown field(s) {unknown}; known fields are {sorted(known)}"
            )
        kwargs = dict(data)
        for name in _TUPLE_FIELDS:
            if name in kwargs and isinstance(kwargs[name], list):
                kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs)


def _is_int(value: Any) -> bool:
    """True for Python/numpy integers, False for bools and floats."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
