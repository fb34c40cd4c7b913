"""SimEnv: one MuJoCo model + data for a task, stepped in control periods, rendered headless.

No ROS here: the bridge, the in-process experts, the tests and the benchmark all use this.
Rendering needs MUJOCO_GL=egl (set by default below when no display backend is chosen).
"""
from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from . import arm  # noqa: E402
from .camera import HeadlessCamera  # noqa: E402
from .tasks import make_task  # noqa: E402


# Where reverse episodes (/sim/reset_reverse) start: "task", the task's own reverse
# initial-state distribution (door: open 1.1-1.4 rad, arm at rest); "forward_end", where the
# forward expert leaves the scene after a forward reset (door: open about 1 rad, the hand at the
# handle), which is where a reset-free robot's backward phases begin.
REVERSE_STARTS = ("task", "forward_end")


class SimEnv:
    def __init__(self, task: str = "push", control_rate: float = 20.0, substeps: int = 10,
                 image_width: int = 64, image_height: int = 64, render: bool = True,
                 seed: int = 0, camera: str = "cam", init_radius: float | None = None,
                 reverse_start: str = "task"):
        if control_rate <= 0 or substeps < 1:
            raise ValueError("control_rate must be > 0 and substeps >= 1")
        if reverse_start not in REVERSE_STARTS:
            raise ValueError(f"reverse_start must be one of {REVERSE_STARTS}, not {reverse_start!r}")
        self.reverse_start = reverse_start
        self.task = make_task(task)
        if init_radius is not None and init_radius >= 0:
            self.task.set_init_radius(init_radius)
        self.model = self.task.load_model()
        self.model.opt.timestep = 1.0 / (control_rate * substeps)
        self.data = mujoco.MjData(self.model)
        self.task.bind(self.model)
        self.control_rate = float(control_rate)
        self.substeps = int(substeps)
        self.timestep = self.model.opt.timestep
        self.rng = np.random.default_rng(seed)
        self.joint_names = arm.JOINT_NAMES
        ranges = np.array([self.model.jnt_range[self.model.joint(n).id] for n in self.joint_names])
        self.lower, self.upper = ranges[:, 0].copy(), ranges[:, 1].copy()
        self.camera_view = HeadlessCamera(self.model, camera, image_width, image_height, render)
        self.width, self.height = self.camera_view.width, self.camera_view.height
        self.can_render = self.camera_view.enabled
        # Simulation time is monotonic across resets (it stamps every message and drives /clock).
        self.time = 0.0
        self.direction = "forward"
        self.reset("forward")

    # --- state -------------------------------------------------------------------------------
    def reset(self, direction: str = "forward") -> None:
        if direction == "reverse" and self.reverse_start == "forward_end":
            self._run_forward_expert()
        else:
            self.task.reset(self.data, self.rng, direction)
        self.direction = direction

    def _run_forward_expert(self) -> None:
        """A forward reset, then the forward scripted expert until the task is done (held for
        the experts' HOLD steps, or its horizon): the state the forward expert ends in. It
        takes no simulation time (the clock is restored)."""
        from .experts import HOLD, HORIZON, make_expert
        self.task.reset(self.data, self.rng, "forward")
        expert = make_expert(self.task.name, "forward")
        clock, held = self.time, 0
        for _ in range(HORIZON[self.task.name]):
            self.control_step(expert.act(self.joint_positions(), self.task_state()))
            held = held + 1 if self.success("forward") else 0
            if held >= HOLD:
                break
        self.time = clock

    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self.task.arm_qpos].copy()

    def joint_velocities(self) -> np.ndarray:
        return self.data.qvel[self.task.arm_dof].copy()

    def joint_efforts(self) -> np.ndarray:
        return self.data.actuator_force[:4].copy()

    def target(self) -> np.ndarray:
        return self.data.ctrl[:4].copy()

    def task_state(self) -> np.ndarray:
        return self.task.state(self.data)

    def success(self, direction: str = "forward") -> bool:
        return self.task.success(self.data, direction)

    def reward(self, direction: str = "forward") -> float:
        return self.task.reward(self.data, direction)

    # --- stepping ------------------------------------------------------------------------------
    def set_target(self, q) -> None:
        """Position targets for the four joints (validated by the caller)."""
        self.data.ctrl[:4] = q

    def physics_step(self, n: int = 1) -> None:
        mujoco.mj_step(self.model, self.data, nstep=int(n))
        self.time += n * self.timestep

    def control_step(self, q=None) -> None:
        """Apply target q (if given) and advance one control period."""
        if q is not None:
            self.set_target(q)
        self.physics_step(self.substeps)

    @property
    def control_period(self) -> float:
        return self.substeps * self.timestep

    def render(self) -> np.ndarray:
        """RGB frame (height x width x 3, uint8, top row first) from the fixed camera."""
        return self.camera_view.render(self.data)

    def camera_fovy(self) -> float:
        return self.camera_view.fovy()

    def close(self) -> None:
        """Free the renderer; call from the thread that rendered."""
        self.camera_view.close()
