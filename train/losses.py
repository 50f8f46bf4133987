"""Losses of Audio2Gestures (Li et al., ICCV 2021) and the training step that combines them.

Geometry in torch (float32 whatever the autocast dtype): 6D -> matrix by Gram-Schmidt (the
layout of docs/DESIGN.md), forward kinematics on the core rest skeleton
(``core.skeleton.body_rest_offsets``, ``core.skeleton.BODY_PARENTS``) giving joint positions in
the configured unit (centimetres by default).

``TrainingStep`` is an ``nn.Module`` wrapping the model so that one call computes every term
of a training step for the configured variant (wrap it, not the model, in
``DistributedDataParallel``). It returns the weighted total and a dict of named, unweighted
terms plus code statistics for logging:

- ``std_S_A``, ``std_S_M``, ``std_I_M``, ``std_I_R``: the std over time of each code channel,
  averaged over channels and clips (S_M and I_M: posterior means; S_A; I_R as fed to the
  decoder). If they fall towards 0 the codes have collapsed (posterior collapse).
- ``logvar_S_M``, ``logvar_I_M``: mean posterior log-variances.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.noise import smoothing_kernel
from core.skeleton import BODY_PARENTS, NUM_BODY_JOINTS, body_rest_offsets
from train.config import TrainConfig
from train.model import Audio2Gestures, reparameterize

_EPS = 1e-8


# ---- geometry ---------------------------------------------------------------------------------
def sixd_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """6D ``(..., 6)`` = the first two columns ``[R00, R10, R20, R01, R11, R21]`` -> rotation
    matrices ``(..., 3, 3)`` by Gram-Schmidt (columns b1, b2, b1 x b2)."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = a1 / a1.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    b2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = b2 / b2.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def motion_to_matrices(motion: torch.Tensor) -> torch.Tensor:
    """Network motion ``(B, T, J * 6)`` (joint-major) -> local rotations ``(B, T, J, 3, 3)``."""
    return sixd_to_matrix(motion.float().unflatten(-1, (-1, 6)))


class ForwardKinematics(nn.Module):
    """Joint positions ``(..., J, 3)`` from local rotations ``(..., J, 3, 3)`` on the core rest
    skeleton, scaled from metres by ``scale`` (100 gives centimetres). The root stays at its
    rest position (no translation is modelled)."""

    def __init__(self, scale: float = 100.0) -> None:
        super().__init__()
        offsets = torch.as_tensor(body_rest_offsets() * scale, dtype=torch.float32)
        self.register_buffer("offsets", offsets, persistent=False)
        self.parents = tuple(BODY_PARENTS)

    def forward(self, local_rot: torch.Tensor) -> torch.Tensor:
        local_rot = local_rot.float()
        glob = [local_rot[..., 0, :, :]]
        pos = [self.offsets[0].expand(local_rot.shape[:-3] + (3,))]
        for j in range(1, len(self.parents)):
            p = self.parents[j]
            pos.append(pos[p] + (glob[p] @ self.offsets[j].unsqueeze(-1)).squeeze(-1))
            glob.append(glob[p] @ local_rot[..., j, :, :])
        return torch.stack(pos, dim=-2)


# ---- loss terms --------------------------------------------------------------------------------
def geodesic_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean angle (rad) between rotation matrices ``(..., 3, 3)`` (paper Eq. 5).

    Computed as atan2(|sin|, cos) of the relative rotation, with a tiny epsilon under the
    square root: no acos, so the gradient stays finite at 0 and at pi."""
    m = pred.transpose(-1, -2) @ target
    cos = 0.5 * (m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2] - 1.0)
    v = torch.stack((m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                     m[..., 1, 0] - m[..., 0, 1]), -1)
    sin = 0.5 * torch.sqrt((v * v).sum(-1) + 1e-12)
    return torch.atan2(sin, cos).mean()


def position_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Paper Eq. 6: per-joint L1 norm (sum over x, y, z), mean over frames and joints."""
    return (pred - target).abs().sum(-1).mean()


def speed_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Paper Eq. 7: Eq. 6 on frame-to-frame differences of positions ``(B, T, J, 3)``."""
    return position_loss(pred[:, 1:] - pred[:, :-1], target[:, 1:] - target[:, :-1])


def relaxed_position_loss(pred: torch.Tensor, target: torch.Tensor, rho: float) -> torch.Tensor:
    """Paper Eq. 10: ``max(||p_hat - p||_1 - rho, 0)`` per joint and frame, averaged: errors
    below ``rho`` (same unit as the positions) cost nothing."""
    return torch.relu((pred - target).abs().sum(-1) - rho).mean()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over the code channels (paper Eq. 3), averaged
    over clips and frames."""
    mu, logvar = mu.float(), logvar.float()
    return (0.5 * (logvar.exp() + mu * mu - 1.0 - logvar)).sum(-1).mean()


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference (code alignment, bicycle)."""
    return (a.float() - b.float()).abs().mean()


def time_std(code: torch.Tensor) -> torch.Tensor:
    """Std over time ``(B, T, C)`` per clip and channel, averaged (0 for an empty code)."""
    if code.shape[-1] == 0 or code.shape[1] < 2:
        return code.new_zeros((), dtype=torch.float32)
    return code.detach().float().std(dim=1).mean()


def code_noise(i_m: torch.Tensor, smoothing: int = 0) -> torch.Tensor:
    """Noise with each clip's per-channel mean and std of I_M over time (the input of the
    mapping net; detached). ``smoothing`` > 0 smooths it in time with core.noise's Gaussian
    kernel (unit variance kept), so it has I_M's slow temporal structure."""
    i_m = i_m.detach()
    mean = i_m.mean(dim=1, keepdim=True)
    std = i_m.std(dim=1, keepdim=True) if i_m.shape[1] > 1 else torch.zeros_like(mean)
    kernel = torch.as_tensor(smoothing_kernel(smoothing), dtype=i_m.dtype, device=i_m.device)
    b, t, c = i_m.shape
    white = torch.randn(b * c, 1, t + kernel.numel() - 1, dtype=i_m.dtype, device=i_m.device)
    unit = F.conv1d(white, kernel.flip(0).view(1, 1, -1)).view(b, c, t).transpose(1, 2)
    return mean + std * unit


def code_statistics_loss(i_r: torch.Tensor, i_m: torch.Tensor) -> torch.Tensor:
    """L1 between the temporal statistics of I_R and of I_M (detached), per clip and channel:
    mean over time, std over time, and std of the frame-to-frame change. The paper's mapping
    net exists to align the sampled code's statistics ("such as the mean and variance of
    derivatives", sec. 5.5) with I_M's; this states that aim as a loss, so the mapping net
    cannot shrink I_R to a constant (which the a2x speed loss otherwise rewards)."""
    i_m = i_m.detach().float()
    i_r = i_r.float()
    if i_r.shape[1] < 3:
        return i_r.new_zeros(())
    terms = [
        (i_r.mean(1) - i_m.mean(1)).abs().mean(),
        (i_r.std(1) - i_m.std(1)).abs().mean(),
        (i_r.diff(dim=1).std(1) - i_m.diff(dim=1).std(1)).abs().mean(),
    ]
    return torch.stack(terms).sum()


# ---- the training step -------------------------------------------------------------------------
class TrainingStep(nn.Module):
    """Computes every loss term of one training step of ``config.variant``.

    ``forward(motion, features, kl_weight, diversity_weight)`` with ``motion`` the target 6D
    rotations ``(B, T, 132)``, ``features`` the normalised log-mel ``(B, T, 64)`` and the two
    scheduled weights (floats or 0-dim tensors, see ``TrainConfig.kl_weight``) returns
    ``(total, terms)``: the weighted sum and a dict of unweighted terms (detached) plus the code
    statistics named in the module docstring.
    """

    def __init__(self, model: Audio2Gestures, config: TrainConfig) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.parts = config.parts
        self.fk = ForwardKinematics(config.position_scale)
        want = config.model_config(model.config)
        if want != model.config:
            raise ValueError(f"variant {config.variant!r} needs ModelConfig {want}, got {model.config}")
        if not self.parts["motion_encoder"]:
            model.motion_encoder.requires_grad_(False)  # the regression baseline never uses it

    def _motion_terms(self, pred6d: torch.Tensor, target_rot: torch.Tensor, target_pos: torch.Tensor):
        """(body rotation loss, finger rotation loss or None, body positions, body speed loss).

        Positions and speeds are of the 22 body joints only, so a model with hands has exactly
        the body losses of one without; the fingers add their own rotation term."""
        rot = motion_to_matrices(pred6d)
        pos = self.fk(rot[..., :NUM_BODY_JOINTS, :, :])
        body = geodesic_loss(rot[..., :NUM_BODY_JOINTS, :, :], target_rot[..., :NUM_BODY_JOINTS, :, :])
        hands = None
        if rot.shape[-3] > NUM_BODY_JOINTS:
            hands = geodesic_loss(rot[..., NUM_BODY_JOINTS:, :, :], target_rot[..., NUM_BODY_JOINTS:, :, :])
        return body, hands, pos, speed_loss(pos, target_pos)

    def forward(self, motion: torch.Tensor, features: torch.Tensor, kl_weight: float | torch.Tensor = 0.0,
                diversity_weight: float | torch.Tensor = 0.0):
        cfg, parts, model = self.config, self.parts, self.model
        target_rot = motion_to_matrices(motion)
        target_pos = self.fk(target_rot[..., :NUM_BODY_JOINTS, :, :])
        s_a = model.audio_encoder(features)
        terms: dict[str, torch.Tensor] = {"std_S_A": time_std(s_a)}
        weighted: list[torch.Tensor] = []

        def add(name: str, value: torch.Tensor, weight: float) -> None:
            terms[name] = value.detach().float()
            weighted.append(weight * value.float())  # weight 0 keeps the graph (and DDP) uniform

        def motion_losses(prefix: str, pred6d: torch.Tensor):
            rot_l, hand_l, pos, spd_l = self._motion_terms(pred6d, target_rot, target_pos)
            add(f"{prefix}_rot", rot_l, cfg.w_rot)
            if hand_l is not None:
                add(f"{prefix}_hand_rot", hand_l, cfg.w_hand_rot)
            add(f"{prefix}_pos", position_loss(pos, target_pos), cfg.w_pos)
            add(f"{prefix}_speed", spd_l, cfg.w_speed)
            return pos

        if not parts["motion_encoder"]:  # one-to-one regression baseline
            motion_losses("a2m", model.decoder(s_a))
            return torch.stack(weighted).sum(), terms

        s_mu, s_logvar, i_mu, i_logvar = model.motion_encoder(motion)
        s_m = reparameterize(s_mu, s_logvar)
        terms.update(std_S_M=time_std(s_mu), logvar_S_M=s_logvar.detach().float().mean())
        add("align", l1(s_a, s_mu), cfg.w_align)
        add("kl_S_M", kl_divergence(s_mu, s_logvar), kl_weight)

        if not parts["split"]:  # baseline: shared code only
            motion_losses("recon", model.decoder(s_m))
            motion_losses("a2m", model.decoder(s_a))
            return torch.stack(weighted).sum(), terms

        i_m = reparameterize(i_mu, i_logvar)
        terms.update(std_I_M=time_std(i_mu), logvar_I_M=i_logvar.detach().float().mean())
        add("kl_I_M", kl_divergence(i_mu, i_logvar), kl_weight)
        motion_losses("recon", model.decoder(s_m, i_m))
        a2m_pos = motion_losses("a2m", model.decoder(s_a, i_m))

        noise = code_noise(i_mu, model.config.noise_smoothing)
        if parts["mapping"]:
            r_mu, r_logvar = model.mapping(noise)
            i_r = reparameterize(r_mu, r_logvar)
            add("kl_I_R", kl_divergence(r_mu, r_logvar), kl_weight)
        else:  # "+split": the noise is the motion-specific code
            i_r = noise
        terms["std_I_R"] = time_std(i_r)
        if cfg.w_code_stats > 0:
            add("code_stats", code_statistics_loss(i_r, i_mu), cfg.w_code_stats)

        a2x6d = model.decoder(s_a, i_r)
        rot_l, hand_l, a2x_pos, spd_l = self._motion_terms(a2x6d, target_rot, target_pos)
        add("a2x_rot", rot_l, cfg.w_a2x_rot)
        if hand_l is not None:
            add("a2x_hand_rot", hand_l, cfg.w_hand_rot)
        add("a2x_relaxed", relaxed_position_loss(a2x_pos, target_pos, cfg.relaxed_rho), cfg.w_relaxed)
        add("a2x_speed", spd_l, cfg.w_a2x_speed)

        if parts["bicycle"]:
            s_back, _, i_back, _ = model.motion_encoder(a2x6d)
            add("bicycle", l1(i_back, i_r.detach()) + l1(s_back, s_mu.detach()), cfg.w_bicycle)
        if parts["diversity"]:
            add("diversity", -position_loss(a2x_pos, a2m_pos.detach()), diversity_weight)
        return torch.stack(weighted).sum(), terms
