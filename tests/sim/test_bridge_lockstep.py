"""The bridge in lock-step mode, over real rclpy/DDS: topics and headers, one control step per
command with /clock advancing, bad commands rejected and counted, evaluation resets counted."""
import math

import numpy as np
import pytest
from builtin_interfaces.msg import Duration
from std_msgs.msg import UInt64
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from mbarl_sim import arm
from sim_rosprobe import LATCHED, Bridge, stamp_s

PERIOD = 0.05  # 20 Hz
NAMES = ["joint1", "joint2", "joint3", "joint4"]


@pytest.fixture(scope="module")
def bridge():
    b = Bridge("-p", "lockstep:=true", "-p", "task:=push", "-p", "image_width:=64",
               "-p", "image_height:=64", "-p", "control_rate:=20", "-p", "republish_period:=0.3")
    try:
        yield b.ready()
    finally:
        assert b.stop() == 0, "bridge did not exit cleanly"


def js_stamp(p):
    return stamp_s(p.last("/joint_states"))


def step(p, q, timeout=10.0):
    """Send one command and wait for the joint state of the next step."""
    t = js_stamp(p)
    p.send(q)
    assert p.until(lambda: js_stamp(p) > t + 1e-9, timeout), "no step after a valid command"
    return js_stamp(p)


def test_topics_headers_and_sizes(bridge):
    p = bridge.probe
    # even the state before any command is stamped (a zero stamp reads as "not set", and its
    # idle re-sends as an arm that runs on its own)
    assert p.until(lambda: p.msgs["/joint_states"])
    assert stamp_s(p.msgs["/joint_states"][0]) == pytest.approx(PERIOD, abs=1e-9)
    assert p.until(lambda: all(p.last(t) is not None for t in (
        "/camera/image_raw", "/camera/image_raw/compressed", "/camera/camera_info", "/clock",
        "/sim/task_state", "/sim/success", "/sim/task_reward")))
    js = p.last("/joint_states")
    assert list(js.name) == NAMES
    assert len(js.position) == len(js.velocity) == len(js.effort) == 4
    img = p.last("/camera/image_raw")
    assert (img.width, img.height, img.encoding, img.step) == (64, 64, "rgb8", 192)
    assert len(img.data) == 64 * 64 * 3
    assert img.header.frame_id == "camera_optical_frame"
    jpeg = p.last("/camera/image_raw/compressed")
    assert bytes(jpeg.data[:2]) == b"\xff\xd8" and "jpeg" in jpeg.format
    assert jpeg.header.frame_id == "camera_optical_frame"
    info = p.last("/camera/camera_info")
    assert (info.width, info.height) == (64, 64) and info.k[0] > 0 and info.k[8] == 1.0
    assert info.header.frame_id == "camera_optical_frame"
    # one step: every stream carries the same sim-time stamp, /clock included
    t = step(bridge.probe, arm.ik([0.25, -0.05, 0.2]))
    assert p.until(lambda: all(stamp_s(p.last(k)) >= t - 1e-9 for k in (
        "/camera/image_raw", "/camera/camera_info", "/clock")))
    for k in ("/camera/image_raw", "/camera/image_raw/compressed", "/camera/camera_info", "/clock"):
        assert stamp_s(p.last(k)) == pytest.approx(t, abs=1e-9), k


def test_one_control_step_per_command_and_clock_advances(bridge):
    p = bridge.probe
    t0 = js_stamp(p)
    target = arm.ik([0.35, 0.05, 0.15])
    stamps = [step(p, target) for _ in range(5)]
    assert np.allclose(np.diff([t0] + stamps), PERIOD, atol=1e-6)
    assert p.until(lambda: stamp_s(p.last("/clock")) >= stamps[-1] - 1e-9)
    assert stamp_s(p.last("/clock")) == pytest.approx(t0 + 5 * PERIOD, abs=1e-6)
    # commands sent back to back: still exactly one step each
    p.clear()
    for _ in range(4):
        p.send(target)
    assert p.until(lambda: p.last("/joint_states") is not None
                   and stamp_s(p.last("/joint_states")) >= stamps[-1] + 4 * PERIOD - 1e-6)
    p.spin(0.8)
    seen = sorted({round(stamp_s(m), 6) for m in p.msgs["/joint_states"]})
    assert seen == pytest.approx([stamps[-1] + k * PERIOD for k in range(1, 5)], abs=1e-6)
    # no command, no time: while idle the latest state is only re-published with the same stamp
    assert stamp_s(p.last("/clock")) == pytest.approx(stamps[-1] + 4 * PERIOD, abs=1e-6)
    # and the arm went where it was told
    for _ in range(20):
        step(p, target)
    assert np.allclose(p.last("/joint_states").position, target, atol=0.02)


def test_bad_commands_rejected_counted_and_not_applied(bridge):
    p = bridge.probe
    step(p, arm.ik([0.3, 0.0, 0.2]))
    assert p.until(lambda: p.latched["/sim/rejected_commands"])
    before = p.latched["/sim/rejected_commands"][-1]
    p.spin(0.4)
    js = p.last("/joint_states")
    t, q = stamp_s(js), list(js.position)
    ok = list(arm.ik([0.3, 0.0, 0.2]))
    bad = [
        ok[:3],                                   # too short
        ok + [0.0],                               # too long
        [ok[0], math.nan, ok[2], ok[3]],          # NaN
        [ok[0], ok[1], math.inf, ok[3]],          # +inf
        [-math.inf, ok[1], ok[2], ok[3]],         # -inf
        [ok[0], ok[1], arm.UPPER[2] + 0.01, ok[3]],   # beyond the upper limit
        [arm.LOWER[0] - 0.5, ok[1], ok[2], ok[3]],    # beyond the lower limit
        [],                                       # empty
    ]
    for cmd in bad:
        p.send(cmd)
    traj = JointTrajectory(joint_names=["joint1", "joint2", "joint3", "elbow"])
    traj.points = [JointTrajectoryPoint(positions=ok, time_from_start=Duration(sec=1))]
    p.traj.publish(traj)                          # unknown joint name
    n_bad = len(bad) + 1
    assert p.until(lambda: p.latched["/sim/rejected_commands"][-1] == before + n_bad), \
        f"counter {p.latched['/sim/rejected_commands']}, expected +{n_bad}\n{bridge.output()}"
    p.spin(0.7)
    # nothing was applied: no step was taken and the arm did not move
    assert js_stamp(p) == pytest.approx(t, abs=1e-9)
    assert list(p.last("/joint_states").position) == q
    assert "rejected" in bridge.output()
    # a late subscriber gets the counter (latched)
    late = []
    p.node.create_subscription(UInt64, "/sim/rejected_commands", lambda m: late.append(m.data), LATCHED)
    assert p.until(lambda: late and late[-1] == before + n_bad)
    # valid commands still work
    step(p, ok)


def test_trajectory_spans_its_duration_in_control_steps(bridge):
    p = bridge.probe
    t0 = js_stamp(p)
    goal = arm.ik([0.3, -0.1, 0.12])
    traj = JointTrajectory(joint_names=list(reversed(NAMES)))
    traj.points = [JointTrajectoryPoint(positions=list(reversed(goal)), time_from_start=Duration(nanosec=200_000_000))]
    p.traj.publish(traj)
    assert p.until(lambda: js_stamp(p) >= t0 + 4 * PERIOD - 1e-6)
    p.spin(0.4)
    assert js_stamp(p) == pytest.approx(t0 + 4 * PERIOD, abs=1e-6)


def test_eval_reset_counts_and_resets_to_forward_distribution(bridge):
    p = bridge.probe
    assert p.until(lambda: p.latched["/sim/reset_count"])
    n0 = p.latched["/sim/reset_count"][-1]
    res = p.call(p.eval_reset)
    assert res.success and f"reset_count={n0 + 1}" in res.message
    t_reset = float(res.message.split("sim_time=")[1])
    assert p.until(lambda: p.latched["/sim/reset_count"][-1] == n0 + 1)
    assert p.until(lambda: js_stamp(p) > t_reset and p.last("/sim/task_state").data[0] > t_reset)
    p.spin(0.2)
    assert p.last("/sim/success").data is False           # forward task not solved at its start
    assert p.last("/sim/reverse_success").data is True    # block is in the start region
    block = np.array(p.last("/sim/task_state").data[4:6])
    assert np.linalg.norm(block - [0.26, 0.0]) < 0.05
    res = p.call(p.reset_reverse)
    assert res.success
    assert p.until(lambda: p.latched["/sim/reset_count"][-1] == n0 + 2)
    t_reset = float(res.message.split("sim_time=")[1])
    assert p.until(lambda: p.last("/sim/task_state").data[0] > t_reset)
    p.spin(0.2)
    assert p.last("/sim/success").data is True            # reverse start = forward goal
