"""The simulated Franka Panda (models/franka/, sim/mbarl_sim/franka.py): its operational-space
controller holds still, reaches end-effector position and orientation targets, never asks the
motors for more than their limits, and the gripper follows its width command. The model's URDF
is checked against MuJoCo in nodes/phase_arbiter/tests/urdf_fk.rs."""
import re

import numpy as np
import pytest

from mbarl_sim.franka import MAX_WIDTH, FrankaArm, quat_error

STEPS_PER_SECOND = 500  # 2 ms physics steps


@pytest.fixture()
def arm():
    return FrankaArm()


def test_the_ready_pose_points_the_hand_down_in_front_of_the_base(arm):
    pos, quat = arm.ee_pose()
    assert np.allclose(pos, [0.307, 0.0, 0.487], atol=2e-3), pos
    z_axis = arm.data.site_xmat[arm.site].reshape(3, 3)[:, 2]
    assert z_axis[2] < -0.999, z_axis
    assert arm.gripper_width() == pytest.approx(MAX_WIDTH)


def test_it_holds_still_on_its_own_target(arm):
    start, _ = arm.ee_pose()
    arm.step(STEPS_PER_SECOND)
    pos, _ = arm.ee_pose()
    assert np.linalg.norm(pos - start) < 1e-6


def test_it_reaches_a_position_target_keeping_the_orientation(arm):
    start, quat0 = arm.ee_pose()
    target = start + np.array([0.10, 0.10, -0.15])
    arm.set_target(target)
    worst_torque = 0.0
    for _ in range(STEPS_PER_SECOND):
        tau = arm.torques()
        worst_torque = max(worst_torque, float(np.max(np.abs(tau) / arm.torque_limit)))
        arm.step()
    pos, _ = arm.ee_pose()
    assert np.linalg.norm(pos - target) < 2e-3
    arm.step(STEPS_PER_SECOND)
    pos, quat = arm.ee_pose()
    assert np.linalg.norm(pos - target) < 1e-3
    assert np.linalg.norm(quat_error(quat0, quat)) < 0.05
    assert worst_torque <= 1.0


def test_it_turns_the_hand_to_an_orientation_target(arm):
    pos0, quat0 = arm.ee_pose()
    turn = np.zeros(4)
    import mujoco
    mujoco.mju_axisAngle2Quat(turn, np.array([0.0, 0.0, 1.0]), 0.4)
    target = np.zeros(4)
    mujoco.mju_mulQuat(target, turn, quat0)
    arm.set_target(pos0, target)
    arm.step(2 * STEPS_PER_SECOND)
    pos, quat = arm.ee_pose()
    assert np.linalg.norm(quat_error(target, quat)) < 0.02
    assert np.linalg.norm(pos - pos0) < 2e-3


def test_the_gripper_follows_its_width_command(arm):
    arm.set_gripper(0.02)
    arm.step(STEPS_PER_SECOND // 2)
    assert arm.gripper_width() == pytest.approx(0.02, abs=3e-3)
    arm.set_gripper(1.0)  # clipped to fully open
    arm.step(STEPS_PER_SECOND // 2)
    assert arm.gripper_width() == pytest.approx(MAX_WIDTH, abs=3e-3)


def test_the_reach_task_starts_and_ends_where_it_says():
    from mbarl_sim.franka_env import SUCCESS_RADIUS, FrankaEnv
    env = FrankaEnv(render=False, init_radius=0.0)
    assert env.success("reverse") and not env.success("forward")
    assert env.reward("forward") == pytest.approx(-np.linalg.norm(env.goal - env.start), abs=2e-3)
    env.reset("reverse")
    assert env.distance("forward") < SUCCESS_RADIUS and env.success("forward")
    t = env.time
    env.set_pose_target(env.start, None)
    for _ in range(40):   # 2 s of control periods back to the start
        env.control_step()
    assert env.success("reverse")
    assert env.time == pytest.approx(t + 40 * env.control_period)
    assert list(env.joint_names[-2:]) == ["panda_finger_joint1", "panda_finger_joint2"]


def test_the_bridge_refuses_malformed_pose_targets():
    from geometry_msgs.msg import PoseStamped
    from mbarl_sim.franka_bridge import check_pose
    lower, upper = np.array([0.1, -0.6, 0.02]), np.array([0.9, 0.6, 1.0])

    def pose(frame="panda0_link0", xyz=(0.4, 0.0, 0.4), wxyz=(0.0, 1.0, 0.0, 0.0)):
        m = PoseStamped()
        m.header.frame_id = frame
        m.pose.position.x, m.pose.position.y, m.pose.position.z = xyz
        o = m.pose.orientation
        o.w, o.x, o.y, o.z = wxyz
        return m

    assert check_pose(pose(), "panda0_link0", lower, upper) is None
    assert check_pose(pose(frame=""), "panda0_link0", lower, upper) is None
    assert "frame" in check_pose(pose(frame="world"), "panda0_link0", lower, upper)
    assert "non-finite" in check_pose(pose(xyz=(float("nan"), 0.0, 0.4)), "panda0_link0", lower, upper)
    assert "norm" in check_pose(pose(wxyz=(0.0, 0.0, 0.0, 0.0)), "panda0_link0", lower, upper)
    assert "outside" in check_pose(pose(xyz=(0.4, 0.0, 1.5)), "panda0_link0", lower, upper)


def test_the_shipped_urdf_is_what_the_generator_makes_of_the_model():
    """models/franka/panda.urdf is generated (models/mjcf_to_urdf.py): a changed model needs a
    regenerated URDF, with every link's mass and inertia and the visual meshes it names."""
    import subprocess
    import sys
    from pathlib import Path
    models = Path(__file__).resolve().parents[2] / "models"
    out = subprocess.run([sys.executable, str(models / "mjcf_to_urdf.py"), "panda_scene.xml", "panda0_link0",
                          "end_effector", "panda_hand_tcp", "panda"], cwd=models / "franka",
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert out == (models / "franka/panda.urdf").read_text()
    assert out.count("<inertial>") == 10 and out.count("<visual>") == 11   # 10 bodies weigh; 11 meshes show
    for name in re.findall(r'filename="([^"]+)"', out):
        assert (models / "franka" / name).is_file(), name
