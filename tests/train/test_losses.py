"""Loss terms and the training step: zero where they should be, positive otherwise, torch FK ==
core FK."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from core.fk import forward_kinematics  # noqa: E402
from core.rotations import axis_angle_to_matrix  # noqa: E402
from core.rotations import sixd_to_matrix as np_sixd_to_matrix  # noqa: E402
from core.skeleton import BODY_PARENTS, body_rest_offsets  # noqa: E402
from tests.train.conftest import TINY  # noqa: E402
from train.config import VARIANTS, TrainConfig  # noqa: E402
from train.data import find_pairs, load_recording  # noqa: E402
from train.losses import (  # noqa: E402
    ForwardKinematics,
    TrainingStep,
    code_noise,
    code_statistics_loss,
    geodesic_loss,
    kl_divergence,
    motion_to_matrices,
    position_loss,
    relaxed_position_loss,
    sixd_to_matrix,
    speed_loss,
)
from train.model import Audio2Gestures  # noqa: E402


def _rotations(shape, seed=0, scale=1.0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.tensor(axis_angle_to_matrix(scale * rng.standard_normal(shape + (3,))), dtype=torch.float32)


def test_sixd_to_matrix_matches_core():
    x = np.random.default_rng(0).standard_normal((5, 7, 6)).astype(np.float32)
    np.testing.assert_allclose(sixd_to_matrix(torch.from_numpy(x)).numpy(), np_sixd_to_matrix(x), atol=1e-5)


def test_torch_fk_equals_core_fk_on_real_motion(excerpt):
    rec = load_recording(find_pairs(excerpt)[1])
    rot = motion_to_matrices(torch.from_numpy(rec.motion[None, :40]))
    ours = ForwardKinematics(scale=100.0)(rot)[0].numpy()
    ref = forward_kinematics(rot[0].numpy().astype(np.float64), body_rest_offsets(), BODY_PARENTS)[0] * 100.0
    assert ours.shape == (40, 22, 3)
    np.testing.assert_allclose(ours, ref, atol=1e-3)  # cm


def test_geodesic_loss_is_the_angle_and_has_finite_gradients():
    r = _rotations((4, 22))
    assert geodesic_loss(r, r).item() == pytest.approx(0.0, abs=1e-5)
    for angle in (0.3, 3.1):
        rot = torch.tensor(axis_angle_to_matrix(np.array([[0.0, 0.0, angle]])), dtype=torch.float32)
        assert geodesic_loss(torch.eye(3)[None], rot).item() == pytest.approx(angle, abs=1e-4)
    pred = r.clone().requires_grad_(True)
    geodesic_loss(pred, r).backward()
    assert torch.isfinite(pred.grad).all()


def test_position_and_speed_losses():
    p = torch.randn(2, 10, 22, 3)
    assert position_loss(p, p).item() == 0.0 and speed_loss(p, p).item() == 0.0
    shifted = p + torch.tensor([1.0, -2.0, 0.5])
    assert position_loss(shifted, p).item() == pytest.approx(3.5, rel=1e-5)  # L1 norm per joint
    assert speed_loss(shifted, p).item() == pytest.approx(0.0, abs=1e-5)  # a constant offset has no speed
    assert speed_loss(p * 2.0, p).item() > 0.0


def test_relaxed_loss_ignores_errors_below_rho():
    p = torch.zeros(1, 4, 22, 3)
    small = p + torch.tensor([0.5, 0.5, 0.5])  # L1 error 1.5 < rho 2
    assert relaxed_position_loss(small, p, rho=2.0).item() == 0.0
    large = p + torch.tensor([1.0, 1.0, 1.0])  # L1 error 3 > rho 2: counts 1
    assert relaxed_position_loss(large, p, rho=2.0).item() == pytest.approx(1.0)


def test_kl_is_zero_for_the_prior_and_positive_otherwise():
    mu, logvar = torch.zeros(2, 5, 16), torch.zeros(2, 5, 16)
    assert kl_divergence(mu, logvar).item() == 0.0
    assert kl_divergence(mu + 1.0, logvar).item() == pytest.approx(8.0)  # 0.5 * 16 * 1
    assert kl_divergence(mu, logvar - 2.0).item() > 0.0


@pytest.fixture
def batch(excerpt):
    rec = load_recording(find_pairs(excerpt)[0])
    motion = torch.from_numpy(np.stack([rec.motion[:24], rec.motion[100:124]]))
    features = torch.from_numpy(np.stack([rec.features[:24], rec.features[100:124]]))
    return motion, (features + 40.0) / 20.0


EXPECTED = {
    "regression": {"a2m_rot", "a2m_pos", "a2m_speed"},
    "baseline": {"recon_pos", "a2m_pos", "align", "kl_S_M"},
    "split": {"recon_pos", "a2m_pos", "a2x_relaxed", "a2x_speed", "a2x_rot", "kl_I_M", "std_I_R"},
    "mapping": {"kl_I_R", "a2x_relaxed"},
    "bicycle": {"kl_I_R", "bicycle"},
    "full": {"kl_I_R", "bicycle", "diversity", "std_S_A", "std_S_M", "std_I_M", "std_I_R"},
}
ABSENT = {
    "regression": {"align", "kl_S_M", "recon_pos", "std_I_M"},
    "baseline": {"a2x_relaxed", "std_I_M", "kl_I_M"},
    "split": {"kl_I_R", "bicycle"},
    "mapping": {"bicycle", "diversity"},
    "bicycle": {"diversity"},
    "full": set(),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_training_step_terms_per_variant(variant, batch):
    config = TrainConfig(variant=variant)
    torch.manual_seed(0)
    model = Audio2Gestures(config.model_config(TINY))
    step = TrainingStep(model, config)
    total, terms = step(*batch, kl_weight=1e-3, diversity_weight=0.1)
    assert EXPECTED[variant] <= set(terms) and not ABSENT[variant] & set(terms)
    assert math.isfinite(total.item())
    assert all(math.isfinite(float(v)) for v in terms.values())
    for name in ("recon_pos", "a2m_pos", "a2x_relaxed", "align", "kl_S_M", "bicycle"):
        if name in terms:
            assert terms[name].item() > 0.0
    if "diversity" in terms:
        assert terms["diversity"].item() < 0.0
    total.backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None}
    assert any(n.startswith("decoder.") for n in grads) and any(n.startswith("audio_encoder.") for n in grads)
    assert any(n.startswith("motion_encoder.") for n in grads) == (variant != "regression")


def test_training_step_rejects_a_mismatched_architecture():
    with pytest.raises(ValueError, match="needs ModelConfig"):
        TrainingStep(Audio2Gestures(TINY), TrainConfig(variant="baseline"))


def test_schedules():
    config = TrainConfig(steps=100, kl_cycle_steps=10, kl_ramp_fraction=0.5, w_kl=1e-3, w_diversity=0.1)
    assert [config.kl_weight(s) for s in (0, 5, 9, 10, 12)] == pytest.approx([0.0, 1e-3, 1e-3, 0.0, 4e-4])
    assert [config.diversity_weight(s) for s in (0, 50, 100, 150)] == pytest.approx([0.1, 0.05, 0.0, 0.0])
    assert config.relaxed_rho == pytest.approx(2.0)  # 0.02 m in centimetres
    with pytest.raises(ValueError, match="variant"):
        TrainConfig(variant="gan")


def test_code_statistics_loss_zero_for_matching_codes_positive_for_constant():
    torch.manual_seed(0)
    i_m = torch.randn(2, 64, 16).cumsum(1) * 0.2
    assert code_statistics_loss(i_m.clone(), i_m).item() == pytest.approx(0.0, abs=1e-6)
    constant = i_m.mean(1, keepdim=True).expand_as(i_m).clone().requires_grad_(True)
    loss = code_statistics_loss(constant, i_m)
    assert loss.item() > 0.1
    loss.backward()
    assert torch.isfinite(constant.grad).all()


def test_smoothed_code_noise_keeps_clip_statistics_and_is_slow():
    torch.manual_seed(0)
    i_m = torch.randn(4, 20000, 16) * 2.0 + 3.0
    for sigma in (0, 8):
        noise = code_noise(i_m, sigma)
        assert noise.shape == i_m.shape
        assert torch.allclose(noise.mean(1), i_m.mean(1), atol=0.35)
        assert torch.allclose(noise.std(1), i_m.std(1), rtol=0.15)
    white, smooth = code_noise(i_m, 0), code_noise(i_m, 8)
    lag1 = [float(torch.corrcoef(torch.stack([x[0, :-1, 0], x[0, 1:, 0]]))[0, 1]) for x in (white, smooth)]
    assert abs(lag1[0]) < 0.1 and lag1[1] > 0.95
