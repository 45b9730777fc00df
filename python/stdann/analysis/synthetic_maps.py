"""Maps with known answers: planted pinwheels and Gaussian random fields with a
thin ring spectrum (pinwheel density exactly pi per Lambda^2)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def planted_pinwheels(
    shape: tuple[int, int], pinwheels: Sequence[tuple[float, float, int]]
) -> np.ndarray:
    """Complex map ``prod_k (w - z_k)`` (a conjugated factor for charge -1) at
    ``w = x + i y``: zeros exactly at the planted ``(x, y)`` with the planted
    charges. Its argument is that of ``prod_k (w - z_k)^(+-1)``."""
    rows, cols = np.indices(shape, dtype=np.float64)
    w = cols + 1j * rows
    z = np.ones(shape, dtype=np.complex128)
    for x, y, charge in pinwheels:
        factor = w - (x + 1j * y)
        z *= factor if charge > 0 else np.conj(factor)
    return z


def ring_field(size: int, wavelength: float, seed: int) -> np.ndarray:
    """A periodic complex Gaussian random field on ``size x size`` pixels whose
    power lies on the lattice frequencies within half a bin of ``size /
    wavelength`` cycles per map: its zeros have density pi / wavelength^2."""
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(size, d=1.0 / size)
    k = np.hypot(f[:, None], f[None, :])
    ring = np.abs(k - size / wavelength) <= 0.5
    spectrum = np.zeros((size, size), dtype=np.complex128)
    n = int(ring.sum())
    spectrum[ring] = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    return np.fft.ifft2(spectrum)


def angles_of(z: np.ndarray, period: float = 360.0) -> np.ndarray:
    """The preference of a complex map as angles in degrees of `period`
    (the phase halved for orientation maps, period 180)."""
    return np.degrees(np.angle(z)) * (period / 360.0)
