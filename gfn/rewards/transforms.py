"""Score transforms: a component's raw value -> a desirability score (REINVENT 4 conventions).

All functions are vectorised over numpy arrays and propagate NaN (an uncomputable value stays
NaN, and :mod:`gfn.rewards.compose` floors the reward). Formulas, with m = (low + high) / 2:

* identity: f(x) = x
* linear: f(x) = clip((x - low) / (high - low), 0, 1) (unclipped with ``clip=False``)
* sigmoid: f(x) = 1 / (1 + 10^(10 k (m - x) / (high - low)))  — rises through 0.5 at m
* reverse_sigmoid: f(x) = 1 / (1 + 10^(10 k (x - m) / (high - low)))  — falls through 0.5 at m
* double_sigmoid: f(x) = 1 / (1 + 10^(coef_se (low - x) / coef_div))
  - 1 / (1 + 10^(coef_si (high - x) / coef_div))  — ~1 on [low, high], ~0 outside
* step: f(x) = 1 if low <= x <= high else 0 (a missing bound is unbounded)
* gaussian: f(x) = exp(-(x - mu)^2 / (2 sigma^2))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from gfn.rewards.spec import TransformSpec

Array = npt.NDArray[np.float64]


def _logistic10(z: Array) -> Array:
    """1 / (1 + 10^z) without overflow."""
    out: Array = 1.0 / (1.0 + np.power(10.0, np.clip(z, -300.0, 300.0)))
    return out


def identity(x: npt.ArrayLike) -> Array:
    """f(x) = x."""
    return np.asarray(x, dtype=np.float64)


def linear(x: npt.ArrayLike, low: float, high: float, clip: bool = True) -> Array:
    """f(x) = (x - low) / (high - low), clipped to [0, 1] unless ``clip`` is false."""
    out: Array = (np.asarray(x, dtype=np.float64) - low) / (high - low)
    return np.clip(out, 0.0, 1.0) if clip else out


def sigmoid(x: npt.ArrayLike, low: float, high: float, k: float = 0.5) -> Array:
    """f(x) = 1 / (1 + 10^(10 k ((low + high) / 2 - x) / (high - low)))."""
    xa = np.asarray(x, dtype=np.float64)
    return _logistic10(10.0 * k * ((low + high) / 2.0 - xa) / (high - low))


def reverse_sigmoid(x: npt.ArrayLike, low: float, high: float, k: float = 0.5) -> Array:
    """f(x) = 1 / (1 + 10^(10 k (x - (low + high) / 2) / (high - low)))."""
    xa = np.asarray(x, dtype=np.float64)
    return _logistic10(10.0 * k * (xa - (low + high) / 2.0) / (high - low))


def double_sigmoid(
    x: npt.ArrayLike,
    low: float,
    high: float,
    coef_div: float = 100.0,
    coef_si: float = 150.0,
    coef_se: float = 150.0,
) -> Array:
    """f(x) = 1/(1 + 10^(coef_se (low - x) / coef_div)) - 1/(1 + 10^(coef_si (high - x) / coef_div)).

    REINVENT's double sigmoid, rewritten from its ``A / B - C`` form so that it cannot overflow.
    """
    xa = np.asarray(x, dtype=np.float64)
    rise = _logistic10(coef_se * (low - xa) / coef_div)
    fall = _logistic10(coef_si * (high - xa) / coef_div)
    return rise - fall


def step(x: npt.ArrayLike, low: float | None = None, high: float | None = None) -> Array:
    """f(x) = 1 if low <= x <= high else 0; NaN stays NaN."""
    xa = np.asarray(x, dtype=np.float64)
    inside = np.ones_like(xa, dtype=bool)
    if low is not None:
        inside &= xa >= low
    if high is not None:
        inside &= xa <= high
    out: Array = np.where(np.isnan(xa), np.nan, inside.astype(np.float64))
    return out


def gaussian(x: npt.ArrayLike, mu: float, sigma: float) -> Array:
    """f(x) = exp(-(x - mu)^2 / (2 sigma^2))."""
    xa = np.asarray(x, dtype=np.float64)
    out: Array = np.exp(-((xa - mu) ** 2) / (2.0 * sigma**2))
    return out


def apply_transform(spec: TransformSpec, x: npt.ArrayLike) -> Array:
    """Apply a validated :class:`TransformSpec` to raw values."""
    p: dict[str, Any] = spec.model_dump(exclude_none=True)
    kind = p.pop("type")
    if kind == "identity":
        return identity(x)
    if kind == "linear":
        return linear(x, p["low"], p["high"], p.get("clip", True))
    if kind == "sigmoid":
        return sigmoid(x, p["low"], p["high"], p.get("k", 0.5))
    if kind == "reverse_sigmoid":
        return reverse_sigmoid(x, p["low"], p["high"], p.get("k", 0.5))
    if kind == "double_sigmoid":
        return double_sigmoid(x, **p)
    if kind == "step":
        return step(x, p.get("low"), p.get("high"))
    if kind == "gaussian":
        return gaussian(x, p["mu"], p["sigma"])
    raise ValueError(f"unknown transform {kind!r}")  # unreachable for a validated spec
