"""Seeds and counter-based noise: a device's random draws at its ``k``-th report are a hash of
(family seed, device, k), so readings do not depend on how simulated time is cut into steps."""

from __future__ import annotations

import hashlib
import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["derive_seed", "normals", "record_keys", "uniforms"]

I64 = NDArray[np.int64]
U64 = NDArray[np.uint64]
F64 = NDArray[np.float64]

_TWO_PI = 2.0 * math.pi
_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


def derive_seed(*parts: str | float) -> int:
    """A stable 63-bit seed from ``parts`` (e.g. a fleet seed and a county); unlike ``hash()``
    it does not change between processes."""
    h = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little") >> 1


def _mix64(x: U64) -> U64:
    """SplitMix64 finaliser, element-wise (uint64 arithmetic wraps modulo 2^64)."""
    x = (x ^ (x >> _S30)) * _MIX1
    x = (x ^ (x >> _S27)) * _MIX2
    out: U64 = x ^ (x >> _S31)
    return out


def record_keys(family_seed: int, device: I64, report: I64) -> U64:
    """One 64-bit key per (device, report number) of a family seeded with ``family_seed``."""
    d = device.astype(np.uint64) * np.uint64(_GOLDEN)
    k = _mix64(np.uint64(family_seed & _M64) ^ d)
    return _mix64(k + report.astype(np.uint64) * np.uint64(0xD1B54A32D192ED03))


def uniforms(keys: U64, stream: int) -> F64:
    """Uniform draws in (0, 1), one per key, independent across ``stream`` numbers."""
    x = _mix64(keys + np.uint64((stream + 1) * _GOLDEN & _M64))
    out: F64 = ((x >> _S11).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)
    return out


def normals(keys: U64, count: int) -> F64:
    """``count`` standard-normal draws per key, shape ``(len(keys), count)`` (Box-Muller)."""
    out = np.empty((len(keys), count))
    for j in range(0, count, 2):
        r = np.sqrt(-2.0 * np.log(uniforms(keys, 2 * j)))
        theta = _TWO_PI * uniforms(keys, 2 * j + 1)
        out[:, j] = r * np.cos(theta)
        if j + 1 < count:
            out[:, j + 1] = r * np.sin(theta)
    return out
