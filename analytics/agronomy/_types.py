"""Shared array types and conversion helpers for the agronomy package."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray: TypeAlias = NDArray[np.float64]
"""Array of float64. 0-d (scalar) results are returned as ``numpy.float64`` scalars."""


def as_float(x: ArrayLike) -> FloatArray:
    """Convert *x* to a float64 ndarray (no copy when it already is one)."""
    return np.asarray(x, dtype=np.float64)


def finish(x: FloatArray) -> FloatArray:
    """Return *x*, unwrapping a 0-d array to a ``numpy.float64`` scalar (numpy's convention)."""
    if x.ndim == 0:
        scalar: FloatArray = x[()]
        return scalar
    return x
