"""WGS-84 ⇄ GCJ-02. The forward offset comes from `coordTransform` (lng, lat order, C batch
functions); the inverse is iterative, because the usual one-step inverse is off by metres."""

from __future__ import annotations

import coordTransform
import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

# 1e-11 degrees is about a millimetre; the fixed-point iteration gains ~3 digits per round.
_EPS_DEG = 1e-11
_MAX_ROUNDS = 20


def in_china(lon: float, lat: float) -> bool:
    """GCJ-02 is only defined inside this box; outside it the library leaves points unchanged."""
    return not coordTransform.out_of_china(lon, lat)


def wgs84_to_gcj02(lons: npt.ArrayLike, lats: npt.ArrayLike) -> tuple[Array, Array]:
    lon = np.ascontiguousarray(lons, dtype=np.float64)
    lat = np.ascontiguousarray(lats, dtype=np.float64)
    if lon.size == 0:
        return lon.copy(), lat.copy()
    out_lon, out_lat = coordTransform.wgs84_to_gcj02(lon, lat)
    return np.asarray(out_lon, dtype=np.float64), np.asarray(out_lat, dtype=np.float64)


def gcj02_to_wgs84(lons: npt.ArrayLike, lats: npt.ArrayLike) -> tuple[Array, Array]:
    """Exact inverse: iterate w ← w − (forward(w) − g) until forward(w) equals g."""
    g_lon = np.ascontiguousarray(lons, dtype=np.float64)
    g_lat = np.ascontiguousarray(lats, dtype=np.float64)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(_MAX_ROUNDS):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        d_lon, d_lat = f_lon - g_lon, f_lat - g_lat
        w_lon -= d_lon
        w_lat -= d_lat
        if w_lon.size == 0 or max(np.abs(d_lon).max(), np.abs(d_lat).max()) < _EPS_DEG:
            break
    return w_lon, w_lat
