"""The Audio2Gestures network in torch, built only from ``core.config.ModelConfig``.

Public tensors are time-major ``(B, T, C)``; the convolutions run channel-major internally.
Parameter names are the contract of docs/DESIGN.md (the numpy runtime ``core/network.py`` reads
the same names from the exported model file):

- ``audio_encoder.blocks.{i}.*``, ``audio_encoder.fc1``, ``audio_encoder.fc2``
- ``motion_encoder.blocks.{i}.*``, ``motion_encoder.shared_head``, ``motion_encoder.specific_head``
- ``mapping.convs.{i}``, ``mapping.head``
- ``decoder.blocks.{i}.*``, ``decoder.fc1``, ``decoder.fc2``

Gaussian heads output ``2 * dim`` channels per frame: the first ``dim`` are the mean, the next
``dim`` the log-variance.

Weight init (``init_weights``): Xavier-uniform weights and zero biases for every Conv1d and
Linear, as the paper states (sec. 5.3). The authors' code uses N(0, 0.01) instead; with our
5-block ReLU stacks that scale shrinks activations ~10x per block, so the decoder starts from
near-constant output, which makes the posterior-collapse risk worse.
No dropout (the authors' code has 0.2 dropout in the blocks; the paper does not mention it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.config import ModelConfig


class TemporalBlock(nn.Module):
    """Residual block: relu(relu(conv2(relu(conv1(x)))) + skip(x)), length-preserving.

    Input/output channel-major ``(B, C, T)``. ``skip`` is a 1x1 conv only when c_in != c_out.
    """

    def __init__(self, c_in: int, c_out: int, dilation: int, kernel_size: int = 3) -> None:
        super().__init__()
        pad = dilation * (kernel_size - 1) // 2
        self.conv1 = nn.Conv1d(c_in, c_out, kernel_size, dilation=dilation, padding=pad)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel_size, dilation=dilation, padding=pad)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.conv2(F.relu(self.conv1(x))))
        res = x if self.skip is None else self.skip(x)
        return F.relu(out + res)


def _blocks(c_in: int, channels: tuple[int, ...], config: ModelConfig) -> nn.ModuleList:
    blocks = []
    for c_out, d in zip(channels, config.dilations, strict=True):
        blocks.append(TemporalBlock(c_in, c_out, d, config.kernel_size))
        c_in = c_out
    return nn.ModuleList(blocks)


def _run_blocks(blocks: nn.ModuleList, x_btc: torch.Tensor) -> torch.Tensor:
    """(B, T, C_in) -> blocks -> (B, T, C_out)."""
    h = x_btc.transpose(1, 2)
    for block in blocks:
        h = block(h)
    return h.transpose(1, 2)


class AudioEncoder(nn.Module):
    """f_A: normalised log-mel ``(B, T, n_mels)`` -> shared code S_A ``(B, T, shared_dim)``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.blocks = _blocks(config.n_mels, config.audio_channels, config)
        self.fc1 = nn.Linear(config.audio_channels[-1], config.audio_head_hidden)
        self.fc2 = nn.Linear(config.audio_head_hidden, config.shared_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(_run_blocks(self.blocks, features))))


class MotionEncoder(nn.Module):
    """f_M: 6D motion ``(B, T, n_joints * rot_dim)`` -> Gaussian codes.

    Returns ``(shared_mu, shared_logvar, specific_mu, specific_logvar)``, each ``(B, T, dim)``.
    With ``specific_dim == 0`` there is no specific head and the specific tensors are
    ``(B, T, 0)``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.shared_dim = config.shared_dim
        self.specific_dim = config.specific_dim
        self.blocks = _blocks(config.motion_dim, config.motion_channels, config)
        c = config.motion_channels[-1]
        self.shared_head = nn.Linear(c, 2 * config.shared_dim)
        self.specific_head = nn.Linear(c, 2 * config.specific_dim) if config.specific_dim else None

    def forward(self, motion: torch.Tensor):
        h = _run_blocks(self.blocks, motion)
        s_mu, s_logvar = self.shared_head(h).split(self.shared_dim, dim=-1)
        if self.specific_head is None:
            empty = h.new_zeros(h.shape[0], h.shape[1], 0)
            return s_mu, s_logvar, empty, empty
        i_mu, i_logvar = self.specific_head(h).split(self.specific_dim, dim=-1)
        return s_mu, s_logvar, i_mu, i_logvar


class MappingNet(nn.Module):
    """f_R: noise ``(B, T, specific_dim)`` -> ``(mu, logvar)`` of I_R, each ``(B, T, specific_dim)``.

    ``mapping_layers`` Conv1d(k, dilation 1, same padding), each followed by a ReLU, then the
    per-frame linear head. (The ReLU after the last conv keeps the head from being a second
    linear layer composed with that conv.)
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c, k = config.specific_dim, config.kernel_size
        self.dim = c
        self.convs = nn.ModuleList(
            nn.Conv1d(c, c, k, padding=(k - 1) // 2) for _ in range(config.mapping_layers)
        )
        self.head = nn.Linear(c, 2 * c)

    def forward(self, noise: torch.Tensor):
        h = noise.transpose(1, 2)
        for conv in self.convs:
            h = F.relu(conv(h))
        mu, logvar = self.head(h.transpose(1, 2)).split(self.dim, dim=-1)
        return mu, logvar


class Decoder(nn.Module):
    """g: shared ``(B, T, shared_dim)`` + specific ``(B, T, specific_dim)`` -> 6D ``(B, T, 132)``.

    The input is ``concat(shared, specific)`` (shared first). ``specific`` may be None when
    ``specific_dim == 0``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.specific_dim = config.specific_dim
        self.blocks = _blocks(config.decoder_in, config.decoder_channels, config)
        self.fc1 = nn.Linear(config.decoder_channels[-1], config.decoder_head_hidden)
        self.fc2 = nn.Linear(config.decoder_head_hidden, config.motion_dim)

    def forward(self, shared: torch.Tensor, specific: torch.Tensor | None = None) -> torch.Tensor:
        if specific is None:
            if self.specific_dim:
                raise ValueError("Decoder needs a specific code (specific_dim > 0)")
            x = shared
        else:
            x = torch.cat((shared, specific), dim=-1)
        return self.fc2(F.relu(self.fc1(_run_blocks(self.blocks, x))))


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Sample ``mu + exp(0.5 * logvar) * eps``, eps ~ N(0, 1) (differentiable)."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def init_weights(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every Conv1d and Linear under ``module``."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class Audio2Gestures(nn.Module):
    """The four nets: ``audio_encoder`` (f_A), ``motion_encoder`` (f_M), ``mapping`` (f_R,
    None unless ``config.use_mapping``) and ``decoder`` (g). Initialised by ``init_weights``.

    There is no single ``forward``: training composes the nets (see train/), inference runs
    ``decoder(audio_encoder(features), I_R)``.
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else ModelConfig()
        self.audio_encoder = AudioEncoder(self.config)
        self.motion_encoder = MotionEncoder(self.config)
        self.mapping = MappingNet(self.config) if self.config.use_mapping else None
        self.decoder = Decoder(self.config)
        init_weights(self)

    def forward(self, *args, **kwargs):  # pragma: no cover - explicit, not an nn default
        raise NotImplementedError(
            "Audio2Gestures has no forward(); call audio_encoder, motion_encoder, mapping, decoder"
        )
