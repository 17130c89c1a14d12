"""Transforms against hand-computed values (formulas in gfn.rewards.transforms)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gfn.rewards import transforms as T
from gfn.rewards.spec import TransformSpec


def test_identity() -> None:
    assert T.identity([1.5, -2.0]).tolist() == [1.5, -2.0]


def test_linear_clipped_and_unclipped() -> None:
    assert T.linear([5.0, -1.0, 12.0, 0.0, 10.0], low=0.0, high=10.0).tolist() == [0.5, 0.0, 1.0, 0.0, 1.0]
    assert T.linear([12.0], low=0.0, high=8.0, clip=False).tolist() == [1.5]
    # the paper's reward: (score / 8) ** 10 via linear(0, 8, clip=False) and beta 10
    assert T.linear([4.0], 0.0, 8.0, clip=False)[0] == 0.5


def test_sigmoid_hand_values() -> None:
    # midpoint 3: exactly 0.5; at high=4 with k=0.5: 1 / (1 + 10^(10*0.5*(3-4)/2)) = 1 / (1 + 10^-2.5)
    out = T.sigmoid([3.0, 4.0, 2.0], low=2.0, high=4.0, k=0.5)
    assert out[0] == pytest.approx(0.5)
    assert out[1] == pytest.approx(1 / (1 + 10**-2.5))
    assert out[1] == pytest.approx(0.996847, abs=1e-6)
    assert out[2] == pytest.approx(0.003152, abs=1e-6)


def test_reverse_sigmoid_hand_values() -> None:
    out = T.reverse_sigmoid([3.0, 4.0, 2.0], low=2.0, high=4.0, k=0.5)
    assert out[0] == pytest.approx(0.5)
    assert out[1] == pytest.approx(0.003152, abs=1e-6)
    assert out[2] == pytest.approx(0.996847, abs=1e-6)


def _reinvent_double_sigmoid(x: float, low: float, high: float, div: float, si: float, se: float) -> float:
    """REINVENT's original A / B - C form (overflows for large inputs; fine for small ones)."""
    a = 10 ** (se * (x / div))
    b = 10 ** (se * (x / div)) + 10 ** (se * (low / div))
    c = 10 ** (si * (x / div)) / (10 ** (si * (x / div)) + 10 ** (si * (high / div)))
    return a / b - c


def test_double_sigmoid_hand_values() -> None:
    out = T.double_sigmoid([350.0, 200.0, 500.0, 201.0, 1000.0, -50.0], low=200.0, high=500.0)
    assert out[0] == pytest.approx(1.0)
    assert out[1] == pytest.approx(0.5)
    assert out[2] == pytest.approx(0.5)
    assert out[3] == pytest.approx(1 / (1 + 10**-1.5))  # 0.969347
    assert out[3] == pytest.approx(0.969347, abs=1e-6)
    assert out[4] == pytest.approx(0.0, abs=1e-12)  # no overflow far outside
    assert out[5] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("x", [0.0, 1.0, 1.7, 2.0, 2.6, 3.0, 4.0])
def test_double_sigmoid_matches_reinvent_form(x: float) -> None:
    got = T.double_sigmoid([x], low=1.0, high=3.0, coef_div=3.0, coef_si=2.0, coef_se=4.0)[0]
    assert got == pytest.approx(_reinvent_double_sigmoid(x, 1.0, 3.0, 3.0, 2.0, 4.0), abs=1e-12)


def test_step_inclusive_and_one_sided() -> None:
    assert T.step([1.0, 2.0, 3.0, 4.0, 5.0], low=2.0, high=4.0).tolist() == [0, 1, 1, 1, 0]
    assert T.step([1.0, 500.0, 501.0], high=500.0).tolist() == [1, 1, 0]
    assert T.step([1.0, 2.0], low=2.0).tolist() == [0, 1]


def test_gaussian_hand_values() -> None:
    out = T.gaussian([2.0, 3.0, 0.0], mu=2.0, sigma=1.0)
    assert out.tolist() == pytest.approx([1.0, math.exp(-0.5), math.exp(-2.0)])
    assert out[1] == pytest.approx(0.6065307, abs=1e-7)


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "identity"},
        {"type": "linear", "low": 0, "high": 1},
        {"type": "sigmoid", "low": 0, "high": 1},
        {"type": "reverse_sigmoid", "low": 0, "high": 1},
        {"type": "double_sigmoid", "low": 0, "high": 1},
        {"type": "step", "low": 0},
        {"type": "gaussian", "mu": 0, "sigma": 1},
    ],
)
def test_nan_propagates(spec: dict[str, object]) -> None:
    out = T.apply_transform(TransformSpec.model_validate(spec), np.array([np.nan, 0.5]))
    assert np.isnan(out[0]) and np.isfinite(out[1])


def test_apply_transform_uses_defaults() -> None:
    spec = TransformSpec.model_validate({"type": "sigmoid", "low": 2.0, "high": 4.0})
    assert spec.k == 0.5
    assert T.apply_transform(spec, [4.0])[0] == pytest.approx(0.996847, abs=1e-6)
    lin = TransformSpec.model_validate({"type": "linear", "low": 0, "high": 8, "clip": False})
    assert T.apply_transform(lin, [12.0])[0] == pytest.approx(1.5)
