"""Validation of incoming arm commands and joint-trajectory interpolation (no ROS types here).

A command is rejected (never applied) when it has the wrong number of values, any NaN/inf, or a
value outside [lower, upper]. Functions return a reason string for the error log, or None.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def check_positions(values, lower: np.ndarray, upper: np.ndarray) -> str | None:
    n = len(lower)
    if len(values) != n:
        return f"expected {n} positions, got {len(values)}"
    q = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(q)):
        return f"non-finite position in {list(values)}"
    bad = np.nonzero((q < lower) | (q > upper))[0]
    if bad.size:
        i = int(bad[0])
        return f"position {i} = {q[i]:.4f} outside joint limits [{lower[i]:.4f}, {upper[i]:.4f}]"
    return None


@dataclass
class Trajectory:
    """Piecewise-linear joint trajectory: times (s, from its start) and positions (k x n).
    Interpolation starts from the joint targets held when the trajectory was accepted."""

    times: np.ndarray
    positions: np.ndarray
    start: np.ndarray

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    def sample(self, t: float) -> np.ndarray:
        if t >= self.times[-1]:
            return self.positions[-1].copy()
        ts = np.concatenate([[0.0], self.times])
        ps = np.vstack([self.start, self.positions])
        i = int(np.searchsorted(ts, t, side="right"))
        i = max(1, min(i, len(ts) - 1))
        t0, t1 = ts[i - 1], ts[i]
        a = 1.0 if t1 <= t0 else min(1.0, max(0.0, (t - t0) / (t1 - t0)))
        return ps[i - 1] + a * (ps[i] - ps[i - 1])


def parse_trajectory(joint_names, points, our_names, lower, upper, start) -> tuple[Trajectory | None, str | None]:
    """`points`: sequence of (positions, time_from_start seconds). Joint names must be exactly our
    joints (any order). Returns (trajectory, None) or (None, reason)."""
    names = list(joint_names)
    if sorted(names) != sorted(our_names) or len(set(names)) != len(names):
        return None, f"joint_names {names} must be exactly {list(our_names)} (any order)"
    order = [names.index(n) for n in our_names]
    if not points:
        return None, "trajectory has no points"
    times, rows = [], []
    last = -math.inf
    for k, (pos, t) in enumerate(points):
        if len(pos) != len(names):
            return None, f"point {k}: expected {len(names)} positions, got {len(pos)}"
        q = np.asarray(pos, dtype=float)[order]
        why = check_positions(q, lower, upper)
        if why:
            return None, f"point {k}: {why}"
        if not math.isfinite(t) or t < 0 or t <= last:
            return None, f"point {k}: time_from_start {t} must be >= 0 and increasing"
        last = t
        times.append(t)
        rows.append(q)
    return Trajectory(np.array(times), np.vstack(rows), np.asarray(start, dtype=float).copy()), None
