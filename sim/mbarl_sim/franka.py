"""The simulated Franka Panda (models/franka/panda_scene.xml): an operational-space controller
that tracks end-effector pose targets at the physics rate, and a parallel gripper that follows a
width command.

The arm's joints are torque-driven. Every physics step (2 ms) the controller computes

    tau = J^T Lambda (Kp e - Kd J qdot) + N^T (Kn (q_rest - q) - Dn qdot) + bias

with e the pose error (position; orientation as a rotation vector) of the "end_effector" site,
Lambda the task-space inertia, N the dynamically consistent null space (it keeps the elbow near
the rest pose) and bias MuJoCo's gravity and Coriolis forces; torques are clipped to the motors'
limits. This is what a Cartesian impedance controller on a real Franka does (franka_ros2's
example controller), here with full gravity and inertia compensation.

Nothing in the learning nodes uses this module: it is the simulated robot's side.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

MODEL = Path(__file__).resolve().parents[2] / "models" / "franka" / "panda_scene.xml"
ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
EE_SITE = "end_effector"
# franka_ros2's "ready" pose: the hand points down, 0.31 m in front of the base, 0.49 m up. This
# model's joint 6 is turned by (about) pi/2 against the real arm's (its range -1.66..2.11 rad
# against 0..3.75): the real ready pose's pi/2 is 0 here.
READY = np.array([0.0, -np.pi / 4, 0.0, -3 * np.pi / 4, 0.0, 0.0, np.pi / 4])
MAX_WIDTH = 0.08  # fully open: each finger 0.04 m


@dataclass
class Gains:
    """Stiffness of the task-space spring (N/m, Nm/rad) and of the null-space posture spring;
    damping is critical (2 sqrt(k)) unless given."""
    position: float = 400.0
    orientation: float = 1000.0
    null_space: float = 10.0


def quat_error(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """The rotation vector (rad, world frame) that turns `current` into `target` (w, x, y, z)."""
    conj = np.array([current[0], -current[1], -current[2], -current[3]])
    diff = np.zeros(4)
    mujoco.mju_mulQuat(diff, target, conj)
    if diff[0] < 0:  # the short way round
        diff = -diff
    vec = np.zeros(3)
    mujoco.mju_quat2Vel(vec, diff, 1.0)
    return vec


class FrankaArm:
    """The Panda in MuJoCo: `set_target`, `set_gripper`, then `step(n)` physics steps."""

    def __init__(self, model_path: Path = MODEL, gains: Gains = Gains()):
        self.model = mujoco.MjModel.from_xml_path(str(model_path))
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.qadr = np.array([m.joint(n).qposadr[0] for n in ARM_JOINTS])
        self.dadr = np.array([m.joint(n).dofadr[0] for n in ARM_JOINTS])
        self.arm_act = np.array([m.actuator(n).id for n in ARM_JOINTS])
        self.finger_act = np.array([m.actuator(n).id for n in FINGER_JOINTS])
        self.finger_qadr = np.array([m.joint(n).qposadr[0] for n in FINGER_JOINTS])
        self.torque_limit = m.actuator_ctrlrange[self.arm_act, 1].copy()
        self.site = m.site(EE_SITE).id
        self.gains = gains
        self.rest = READY.copy()
        self.reset(READY)

    # --- state -----------------------------------------------------------------------------
    def reset(self, q: np.ndarray, width: float = MAX_WIDTH) -> None:
        """Puts the arm at joint positions `q` at rest, the gripper at `width`, and targets
        where the hand is."""
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self.qadr] = q
        self.data.qpos[self.finger_qadr] = width / 2
        mujoco.mj_forward(self.model, self.data)
        self.target_pos, self.target_quat = self.ee_pose()
        self.set_gripper(width)

    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self.qadr].copy()

    def gripper_width(self) -> float:
        """The distance between the fingers (m): the sum of the two finger joints."""
        return float(self.data.qpos[self.finger_qadr].sum())

    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """The end-effector site's position and orientation (w, x, y, z), world frame."""
        pos = self.data.site_xpos[self.site].copy()
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self.site])
        return pos, quat

    # --- commands --------------------------------------------------------------------------
    def set_target(self, pos, quat=None) -> None:
        """The pose the controller pulls the end effector to (quat: w, x, y, z; None keeps the
        target orientation)."""
        self.target_pos = np.asarray(pos, dtype=float).copy()
        if quat is not None:
            q = np.asarray(quat, dtype=float)
            self.target_quat = q / np.linalg.norm(q)

    def set_gripper(self, width: float) -> None:
        """Opens or closes the fingers to `width` (m, clipped to 0..0.08)."""
        w = float(np.clip(width, 0.0, MAX_WIDTH))
        self.data.ctrl[self.finger_act] = w / 2

    # --- control ---------------------------------------------------------------------------
    def torques(self) -> np.ndarray:
        """The operational-space control torques for the current state (module docs)."""
        m, d, g = self.model, self.data, self.gains
        jp = np.zeros((3, m.nv))
        jr = np.zeros((3, m.nv))
        mujoco.mj_jacSite(m, d, jp, jr, self.site)
        jac = np.vstack([jp, jr])[:, self.dadr]
        full = np.zeros((m.nv, m.nv))
        mujoco.mj_fullM(m, d, full)
        mass = full[np.ix_(self.dadr, self.dadr)]
        mass_inv = np.linalg.inv(mass)
        lam = np.linalg.pinv(jac @ mass_inv @ jac.T, rcond=1e-4)
        pos, quat = self.ee_pose()
        err = np.concatenate([self.target_pos - pos, quat_error(self.target_quat, quat)])
        kp = np.array([g.position] * 3 + [g.orientation] * 3)
        qd = d.qvel[self.dadr]
        force = lam @ (kp * err - 2 * np.sqrt(kp) * (jac @ qd))
        tau = jac.T @ force
        # null space: keep the posture near the rest pose without disturbing the hand
        jbar = mass_inv @ jac.T @ lam
        null = np.eye(len(self.dadr)) - jac.T @ jbar.T
        q = d.qpos[self.qadr]
        tau += null @ (g.null_space * (self.rest - q) - 2 * np.sqrt(g.null_space) * qd)
        tau += d.qfrc_bias[self.dadr]
        return np.clip(tau, -self.torque_limit, self.torque_limit)

    def step(self, n: int = 1) -> None:
        """`n` physics steps, the controller run before each."""
        for _ in range(n):
            self.data.ctrl[self.arm_act] = self.torques()
            mujoco.mj_step(self.model, self.data)
