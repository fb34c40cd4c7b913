"""FrankaEnv: the simulated Panda (franka.FrankaArm) with a task, stepped in control periods and
rendered headless, with the interface the Franka bridge needs. No ROS here.

Task `franka_reach` (reset-free reach and return): forward, bring the hand's centre point
within 3 cm of the goal; reverse, bring it back within 3 cm of where the ready pose holds it.
Its state (ground truth, /sim/task_state) is the hand's centre point, the goal and the start, as
the 4-joint arm's reach. Rewards: minus the distance (m).
"""
from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from .camera import HeadlessCamera  # noqa: E402
from .franka import ARM_JOINTS, FINGER_JOINTS, READY, FrankaArm  # noqa: E402

TASKS = ("franka_reach",)
SUCCESS_RADIUS = 0.03
# where the hand's centre point is in the ready pose (the reverse task's target), and the goal
START = np.array([0.30675, -0.00011, 0.48722])
GOAL_OFFSET = np.array([0.15, 0.15, -0.20])
# as the 4-joint arm's reach (sim/mbarl_sim/tasks.py): the hand's centre point, the goal, the start
STATE_NAMES = ("ee_x", "ee_y", "ee_z", "goal_x", "goal_y", "goal_z", "start_x", "start_y", "start_z")


class FrankaEnv:
    def __init__(self, task: str = "franka_reach", control_rate: float = 20.0,
                 image_width: int = 128, image_height: int = 128, render: bool = True,
                 seed: int = 0, camera: str = "front", init_radius: float = 0.05):
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {task!r}")
        if control_rate <= 0:
            raise ValueError("control_rate must be > 0")
        self.arm = FrankaArm()
        self.model, self.data = self.arm.model, self.arm.data
        self.timestep = float(self.model.opt.timestep)
        self.substeps = max(1, round(1.0 / (control_rate * self.timestep)))
        self.joint_names = ARM_JOINTS + FINGER_JOINTS
        self.qadr = np.array([self.model.joint(n).qposadr[0] for n in self.joint_names])
        self.dadr = np.array([self.model.joint(n).dofadr[0] for n in self.joint_names])
        self.start, _ = self.arm.ee_pose()
        if np.linalg.norm(self.start - START) > 1e-4:
            raise RuntimeError(f"the ready pose's hand is at {self.start}, not {START}: the model changed")
        self.goal = self.start + GOAL_OFFSET
        self.state_names = STATE_NAMES
        self.rng = np.random.default_rng(seed)
        self.init_radius = float(init_radius)
        self.camera_view = HeadlessCamera(self.model, camera, image_width, image_height, render)
        self.width, self.height = self.camera_view.width, self.camera_view.height
        self.can_render = self.camera_view.enabled
        self.time = 0.0   # monotonic across resets: it stamps every message
        self.reset("forward")

    # --- state -------------------------------------------------------------------------------
    def reset(self, direction: str = "forward") -> None:
        """Forward: the ready pose, the hand moved up to `init_radius` at random; reverse: the
        hand near the goal. The controller settles the arm there (no sim time passes)."""
        self.arm.reset(READY)
        centre = self.goal if direction == "reverse" else self.start
        offset = self.rng.uniform(-1.0, 1.0, 3)
        offset *= self.init_radius * self.rng.uniform() / max(np.linalg.norm(offset), 1e-9)
        self.arm.set_target(centre + offset)
        self.arm.step(int(1.5 / self.timestep))
        self.arm.set_target(self.arm.ee_pose()[0])
        self.data.qvel[:] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self.qadr].copy()

    def joint_velocities(self) -> np.ndarray:
        return self.data.qvel[self.dadr].copy()

    def joint_efforts(self) -> np.ndarray:
        return self.data.qfrc_actuator[self.dadr].copy()

    def ee_position(self) -> np.ndarray:
        return self.arm.ee_pose()[0]

    def task_state(self) -> np.ndarray:
        return np.concatenate([self.ee_position(), self.goal, self.start])

    def distance(self, direction: str = "forward") -> float:
        return float(np.linalg.norm(self.ee_position() - (self.start if direction == "reverse" else self.goal)))

    def success(self, direction: str = "forward") -> bool:
        return self.distance(direction) < SUCCESS_RADIUS

    def reward(self, direction: str = "forward") -> float:
        return -self.distance(direction)

    # --- stepping ------------------------------------------------------------------------------
    def set_pose_target(self, pos, quat_wxyz) -> None:
        self.arm.set_target(pos, quat_wxyz)

    def set_gripper(self, width: float) -> None:
        self.arm.set_gripper(width)

    def physics_step(self, n: int = 1) -> None:
        self.arm.step(int(n))
        self.time += n * self.timestep

    def control_step(self) -> None:
        self.physics_step(self.substeps)

    @property
    def control_period(self) -> float:
        return self.substeps * self.timestep

    def render(self) -> np.ndarray:
        """RGB frame (height x width x 3, uint8) from the fixed camera "front"."""
        return self.camera_view.render(self.data)

    def camera_fovy(self) -> float:
        return self.camera_view.fovy()

    def close(self) -> None:
        self.camera_view.close()
