"""Command validation and trajectory interpolation (pure Python)."""
import math

import numpy as np

from mbarl_sim.commands import check_positions, parse_trajectory

LO = np.array([-1.0, -1.0, 0.0, -1.0])
HI = np.array([1.0, 1.0, 2.0, 1.0])
NAMES = ["joint1", "joint2", "joint3", "joint4"]


def test_valid_command_accepted():
    assert check_positions([0.0, 0.5, 1.0, -1.0], LO, HI) is None
    assert check_positions([1.0, 1.0, 2.0, 1.0], LO, HI) is None   # limits are inclusive


def test_bad_commands_rejected():
    assert "expected 4" in check_positions([0.0, 0.0, 0.0], LO, HI)
    assert "expected 4" in check_positions([0.0] * 5, LO, HI)
    assert "non-finite" in check_positions([0.0, math.nan, 0.0, 0.0], LO, HI)
    assert "non-finite" in check_positions([0.0, 0.0, math.inf, 0.0], LO, HI)
    assert "non-finite" in check_positions([-math.inf, 0.0, 0.0, 0.0], LO, HI)
    assert "limits" in check_positions([0.0, 0.0, 2.0001, 0.0], LO, HI)
    assert "limits" in check_positions([0.0, 0.0, -0.1, 0.0], LO, HI)


def test_trajectory_reorders_and_interpolates():
    start = np.zeros(4)
    names = ["joint4", "joint3", "joint2", "joint1"]
    traj, why = parse_trajectory(names, [([0.4, 1.0, 0.0, 0.2], 1.0), ([0.0, 0.0, 0.0, 0.0], 2.0)],
                                 NAMES, LO, HI, start)
    assert why is None
    assert np.allclose(traj.sample(0.0), start)
    assert np.allclose(traj.sample(0.5), [0.1, 0.0, 0.5, 0.2])
    assert np.allclose(traj.sample(1.0), [0.2, 0.0, 1.0, 0.4])
    assert np.allclose(traj.sample(1.5), [0.1, 0.0, 0.5, 0.2])
    assert np.allclose(traj.sample(9.0), [0.0, 0.0, 0.0, 0.0])
    assert traj.duration == 2.0


def test_bad_trajectories_rejected():
    ok = [0.0, 0.0, 1.0, 0.0]
    for names, points in [
        (["joint1", "joint2", "joint3"], [(ok[:3], 1.0)]),                  # missing joint
        (["joint1", "joint2", "joint3", "jointX"], [(ok, 1.0)]),            # unknown joint
        (NAMES, [([0.0, 0.0, 1.0], 1.0)]),                                  # short point
        (NAMES, [([0.0, math.nan, 1.0, 0.0], 1.0)]),                        # NaN
        (NAMES, [([0.0, 0.0, 3.0, 0.0], 1.0)]),                             # beyond limits
        (NAMES, [(ok, 1.0), (ok, 1.0)]),                                    # time not increasing
        (NAMES, []),                                                        # no points
    ]:
        traj, why = parse_trajectory(names, points, NAMES, LO, HI, np.zeros(4))
        assert traj is None and why, (names, points)
