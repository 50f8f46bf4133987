"""The bundled model, on the bundled sample speech (numpy only): it generates hands, its default
prior gives motion that moves like the mocap excerpt in tests/data, seeds differ, the speech
matters, and intensity does what its name says. The full measurements against the BEAT2
recordings are in models/MODEL_CARD.md (``python -m train evaluate``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.fk import forward_kinematics
from core.generate import generate
from core.prior import PRIORS
from core.skeleton import BODY_PARENTS, NUM_BODY_JOINTS, body_rest_offsets
from core.smplx_npz import read_smplx_npz

ROOT = Path(__file__).resolve().parents[2]
WRISTS = (20, 21)


@pytest.fixture(scope="module")
def mocap():
    """Body local rotations of the real mocap excerpts in tests/data (BEAT2 speaker 2)."""
    return [read_smplx_npz(p).local_rot[:, :NUM_BODY_JOINTS]
            for p in sorted((ROOT / "tests" / "data" / "beat2_excerpt").glob("*.npz"))]


def _positions(rot):
    return forward_kinematics(np.asarray(rot, np.float64)[:, :NUM_BODY_JOINTS], body_rest_offsets(),
                              BODY_PARENTS)[0]


def _wrist_speed(rot) -> float:
    p = _positions(rot)[:, list(WRISTS)]
    return float(np.linalg.norm(np.diff(p, axis=0), axis=-1).mean() * 30)


def _jerk(rot) -> float:
    p = _positions(rot)
    return float(np.linalg.norm(np.diff(p, n=3, axis=0), axis=-1).mean() * 30 ** 3)


def _l1_cm(a, b) -> float:
    return float(np.abs(_positions(a) - _positions(b)).sum(-1).mean() * 100)


def test_the_bundled_model_generates_hands_with_the_prior_the_card_chose(bundled):
    assert bundled.config.hands and bundled.config.n_joints == 52
    assert bundled.config.code_prior == "retrieval"
    assert all(p == "paper" or bundled.code_prior(p) is not None for p in PRIORS)


def test_default_prior_moves_like_the_mocap_and_no_more_jittery(bundled, sample_speech, mocap):
    out = generate(bundled, sample_speech, 0)
    real_speed = np.mean([_wrist_speed(r) for r in mocap])
    real_jerk = np.mean([_jerk(r) for r in mocap])
    assert _wrist_speed(out) >= 0.7 * real_speed  # the bar: arm movement >= 70 % of the mocap's
    assert _jerk(out) <= real_jerk  # no more jitter than real motion


def test_seeds_differ_and_the_speech_matters(bundled, sample_speech):
    half = len(sample_speech) // 2
    a, b = sample_speech[:half], sample_speech[half:2 * half]
    seed_diff = _l1_cm(generate(bundled, a, 0), generate(bundled, a, 1))
    speech_diff = _l1_cm(generate(bundled, a, 0), generate(bundled, b, 0))
    assert seed_diff > 3.0  # cm: another seed is another take
    assert speech_diff >= seed_diff / 3  # same seed, other speech: the motion follows the speech


def test_fingers_move(bundled, sample_speech):
    out = generate(bundled, sample_speech, 0)[:, NUM_BODY_JOINTS:].astype(np.float64)
    u, _, vt = np.linalg.svd(out.mean(0))
    mean = u @ vt
    cos = (np.trace(np.swapaxes(mean, -1, -2)[None] @ out, axis1=-2, axis2=-1) - 1) / 2
    deviation = np.degrees(np.arccos(np.clip(cos, -1, 1))).mean()
    assert deviation > 3.0  # degrees from their own mean pose (real BEAT2 fingers: about 11)


@pytest.mark.parametrize("prior", PRIORS)
def test_intensity_is_monotonic_in_arm_movement(bundled, sample_speech, prior):
    speeds = [_wrist_speed(generate(bundled, sample_speech, 0, prior=prior, intensity=k))
              for k in (0.5, 1.0, 1.5)]
    assert speeds[0] < speeds[1] < speeds[2], speeds
