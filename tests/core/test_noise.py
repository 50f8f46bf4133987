"""The mapping net's input noise: white for sigma 0, unit variance and Gaussian autocorrelation."""

import numpy as np
import pytest

from core.noise import smoothing_kernel, unit_noise


def test_sigma_zero_is_plain_white_noise():
    a = unit_noise(np.random.default_rng(3), 50, 16, 0)
    b = np.random.default_rng(3).standard_normal((50, 16))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("sigma", [2, 11])
def test_smoothed_noise_has_unit_variance_and_gaussian_autocorrelation(sigma):
    x = unit_noise(np.random.default_rng(0), 200_000, 4, sigma)
    assert x.shape == (200_000, 4)
    assert abs(x.var() - 1.0) < 0.03
    for lag in (1, sigma, 2 * sigma):
        r = np.mean([np.corrcoef(x[:-lag, c], x[lag:, c])[0, 1] for c in range(4)])
        assert abs(r - np.exp(-lag**2 / (4 * sigma**2))) < 0.03, (lag, r)


def test_kernel_is_normalised_and_rejects_negative_sigma():
    assert np.isclose(np.sum(smoothing_kernel(5) ** 2), 1.0)
    assert smoothing_kernel(0).tolist() == [1.0]
    with pytest.raises(ValueError, match="sigma"):
        smoothing_kernel(-1)
