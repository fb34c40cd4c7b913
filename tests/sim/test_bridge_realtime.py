"""The bridge in real-time mode: joint states at ~100 Hz with /clock, commands move the arm,
bad commands are not applied, the watchdog holds the arm, trajectories run, no resets happen."""
import math
import time

import numpy as np
import pytest
from builtin_interfaces.msg import Duration
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from mbarl_sim import arm
from sim_rosprobe import Bridge, stamp_s

NAMES = ["joint1", "joint2", "joint3", "joint4"]


@pytest.fixture(scope="module")
def bridge():
    b = Bridge("-p", "task:=reach", "-p", "joint_state_rate:=100.0", "-p", "command_timeout:=0.1")
    try:
        yield b.ready()
    finally:
        assert b.stop() == 0, "bridge did not exit cleanly"


def q_now(p):
    return np.array(p.last("/joint_states").position)


def hold(p, target, seconds, rate=50.0):
    """Keep sending `target` (a live commander) for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        p.send(target)
        p.spin(1.0 / rate)


def test_joint_states_at_100hz_with_clock(bridge):
    p = bridge.probe
    p.spin(0.5)
    p.clear()
    t0 = time.monotonic()
    p.spin(2.0)
    wall = time.monotonic() - t0
    n = len(p.msgs["/joint_states"])
    assert 0.6 * 100 * wall < n < 1.3 * 100 * wall, f"{n} joint states in {wall:.2f} s"
    stamps = [stamp_s(m) for m in p.msgs["/joint_states"]]
    assert np.all(np.diff(stamps) > 0)
    sim = stamps[-1] - stamps[0]
    assert 0.6 * wall < sim < 1.2 * wall, f"sim time {sim:.2f} s in {wall:.2f} s wall"
    assert p.msgs["/clock"] and p.msgs["/camera/image_raw"]
    assert list(p.last("/joint_states").name) == NAMES


def test_commands_move_the_arm_and_bad_ones_are_not_applied(bridge):
    p = bridge.probe
    a = arm.ik([0.35, 0.1, 0.15])
    hold(p, a, 1.5)
    assert np.allclose(q_now(p), a, atol=0.03)
    before = p.latched["/sim/rejected_commands"][-1]
    far = arm.ik([0.3, -0.25, 0.05])
    bad = [list(far[:3]), [far[0], math.nan, far[2], far[3]], [math.inf, *far[1:]],
           [far[0], far[1], far[2], arm.UPPER[3] + 0.2]]
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        for cmd in bad:
            p.send(cmd)
        p.spin(0.05)
    assert p.until(lambda: p.latched["/sim/rejected_commands"][-1] >= before + len(bad))
    p.spin(0.3)
    assert np.allclose(q_now(p), a, atol=0.03), "a rejected command moved the arm"


def test_watchdog_holds_current_position_when_commands_stop(bridge):
    p = bridge.probe
    start = arm.ik([0.25, -0.2, 0.2])
    hold(p, start, 1.5)
    goal = start.copy()
    goal[0] = 1.5   # a big yaw move: takes ~0.35 s, longer than command_timeout (0.1 s)
    p.send(goal)    # ... and then the commander dies
    p.spin(1.5)
    q = q_now(p)
    assert abs(q[0] - goal[0]) > 0.2, f"arm reached the stale target {q} despite the watchdog"
    assert q[0] > start[0] + 0.1, "the accepted command was not applied at all"
    p.spin(0.5)
    assert np.allclose(q_now(p), q, atol=0.01), "arm not holding after the watchdog fired"
    assert "holding current position" in bridge.output()


def test_trajectory_runs_to_its_end(bridge):
    p = bridge.probe
    goal = arm.ik([0.4, 0.0, 0.1])
    traj = JointTrajectory(joint_names=NAMES)
    traj.points = [JointTrajectoryPoint(positions=list(goal), time_from_start=Duration(nanosec=600_000_000))]
    p.traj.publish(traj)
    p.spin(1.2)   # longer than command_timeout: the watchdog must not cut the trajectory short
    assert np.allclose(q_now(p), goal, atol=0.03)


def test_training_like_run_performs_zero_resets(bridge):
    p = bridge.probe
    assert p.until(lambda: p.latched["/sim/reset_count"])
    assert p.latched["/sim/reset_count"][-1] == 0
