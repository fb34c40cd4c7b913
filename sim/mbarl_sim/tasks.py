"""Task registry: MJCF loading, initial-state distributions, ground-truth success, dense reward
and a low-dim `state` vector for each task.

Every task has two directions. `forward` is the task itself (reach the goal, push the block into
the goal region, open the door); `reverse` undoes it (back to the start region, close the door).
The reverse initial-state distribution is the forward goal distribution, as in EARL.
Ground truth here is for evaluation and scripted experts only; the learner never sees it.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from pathlib import Path

import mujoco
import numpy as np

from . import arm

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DIRECTIONS = ("forward", "reverse")
HOME_EE = np.array([0.24, -0.10, 0.22])   # paddle centre of the arm's rest pose
ARM_NOISE = 0.08                           # uniform +- noise on each joint of the rest pose


def _check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    return direction


def _disc(rng: np.random.Generator, radius: float) -> np.ndarray:
    """Uniform sample in a disc of `radius` (2-D)."""
    r = radius * math.sqrt(rng.uniform())
    a = rng.uniform(0.0, 2.0 * math.pi)
    return np.array([r * math.cos(a), r * math.sin(a)])


class Task(ABC):
    """Base class. Subclasses set `name`, `xml`, `state_names` and the hooks below."""

    name = ""
    xml = ""
    state_names: tuple[str, ...] = ()

    def load_model(self) -> mujoco.MjModel:
        return mujoco.MjModel.from_xml_path(str(ASSETS / self.xml))

    # --- per-model ids -------------------------------------------------------------------------
    def bind(self, model: mujoco.MjModel) -> None:
        """Cache ids for `model`; called once by SimEnv after loading."""
        self.model = model
        self.ee_site = model.site("ee").id
        self.arm_qpos = np.array([model.jnt_qposadr[model.joint(n).id] for n in arm.JOINT_NAMES])
        self.arm_dof = np.array([model.jnt_dofadr[model.joint(n).id] for n in arm.JOINT_NAMES])

    def ee(self, data: mujoco.MjData) -> np.ndarray:
        return data.site_xpos[self.ee_site].copy()

    # --- hooks ---------------------------------------------------------------------------------
    def sample_arm(self, rng: np.random.Generator) -> np.ndarray:
        q = arm.ik(HOME_EE) + rng.uniform(-ARM_NOISE, ARM_NOISE, size=4)
        return np.clip(q, arm.LOWER + 1e-3, arm.UPPER - 1e-3)

    def reset(self, data: mujoco.MjData, rng: np.random.Generator, direction: str) -> None:
        """Sample an initial state of `direction` into `data` (arm targets = arm positions)."""
        _check_direction(direction)
        mujoco.mj_resetData(self.model, data)
        q = self.sample_arm_for(rng, direction)
        data.qpos[self.arm_qpos] = q
        data.ctrl[:4] = q
        self.reset_objects(data, rng, direction)
        mujoco.mj_forward(self.model, data)

    def sample_arm_for(self, rng: np.random.Generator, direction: str) -> np.ndarray:
        return self.sample_arm(rng)

    def reset_objects(self, data, rng, direction) -> None:
        pass

    def set_init_radius(self, radius: float) -> None:
        """Widen or narrow the object's reset spread (bridge parameter `init_radius`): e.g.
        demonstrations from more varied object positions than the evaluation resets use."""
        if not hasattr(self, "init_radius"):
            raise ValueError(f"task {self.name!r} has no object reset spread (init_radius)")
        if not 0.0 <= radius <= self.max_init_radius():
            raise ValueError(f"init_radius {radius} m out of range for task {self.name!r} "
                             f"(0 .. {self.max_init_radius():.3f} m)")
        self.init_radius = float(radius)

    def max_init_radius(self) -> float:
        return 0.1

    @abstractmethod
    def success(self, data: mujoco.MjData, direction: str = "forward") -> bool:
        ...

    @abstractmethod
    def reward(self, data: mujoco.MjData, direction: str = "forward") -> float:
        ...

    @abstractmethod
    def state(self, data: mujoco.MjData) -> np.ndarray:
        ...


class ReachTask(Task):
    """Move the paddle into the goal sphere (forward) and back into the start sphere (reverse)."""

    name = "reach"
    xml = "reach.xml"
    goal = np.array([0.40, 0.18, 0.12])
    start = np.array([0.22, -0.14, 0.16])
    radius = 0.05          # success: paddle centre within this distance of the region centre
    init_radius = 0.03     # initial paddle position: uniform in a ball of this radius
    state_names = ("ee_x", "ee_y", "ee_z", "goal_x", "goal_y", "goal_z", "start_x", "start_y", "start_z")

    def sample_arm_for(self, rng, direction):
        centre = self.start if direction == "forward" else self.goal
        while True:
            off = rng.uniform(-self.init_radius, self.init_radius, size=3)
            if np.linalg.norm(off) <= self.init_radius:
                break
        q = arm.ik(centre + off)
        q[3] += rng.uniform(-0.1, 0.1)
        return np.clip(q, arm.LOWER + 1e-3, arm.UPPER - 1e-3)

    def _target(self, direction):
        return self.goal if _check_direction(direction) == "forward" else self.start

    def success(self, data, direction="forward"):
        return bool(np.linalg.norm(self.ee(data) - self._target(direction)) < self.radius)

    def reward(self, data, direction="forward"):
        return -float(np.linalg.norm(self.ee(data) - self._target(direction)))

    def state(self, data):
        return np.concatenate([self.ee(data), self.goal, self.start])


class PushTask(Task):
    """Push the block from the start region into the goal region (forward) and back (reverse)."""

    name = "push"
    xml = "push.xml"
    start = np.array([0.26, 0.0])
    goal = np.array([0.42, 0.0])
    radius = 0.05          # success: block centre (xy) within this distance of the region centre
    init_radius = 0.03     # initial block position: uniform in a disc of this radius
    half = 0.02            # block half size
    state_names = ("ee_x", "ee_y", "ee_z", "block_x", "block_y", "block_z", "block_yaw",
                   "goal_x", "goal_y", "start_x", "start_y")

    block_joint = "block_free"   # the block's joint in the MJCF

    def bind(self, model):
        super().bind(model)
        j = model.joint(self.block_joint).id
        self.block_qpos = model.jnt_qposadr[j]
        self.block_body = model.body("block").id

    def reset_objects(self, data, rng, direction):
        centre = self.start if direction == "forward" else self.goal
        xy = centre + _disc(rng, self.init_radius)
        yaw = rng.uniform(-0.4, 0.4)
        a = self.block_qpos
        data.qpos[a:a + 3] = (xy[0], xy[1], self.half)
        data.qpos[a + 3:a + 7] = (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))

    def max_init_radius(self) -> float:
        # wider would start some episodes already within the other region (solved)
        return float(np.linalg.norm(self.goal - self.start)) - self.radius - 1e-6

    def block(self, data) -> np.ndarray:
        return data.xpos[self.block_body].copy()

    def block_yaw(self, data) -> float:
        w, x, y, z = data.xquat[self.block_body]
        return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))

    def _target(self, direction):
        return self.goal if _check_direction(direction) == "forward" else self.start

    def success(self, data, direction="forward"):
        return bool(np.linalg.norm(self.block(data)[:2] - self._target(direction)) < self.radius)

    def reward(self, data, direction="forward"):
        b = self.block(data)
        to_goal = np.linalg.norm(b[:2] - self._target(direction))
        to_block = np.linalg.norm(self.ee(data) - b)
        return -float(to_goal + 0.5 * to_block)

    def state(self, data):
        return np.concatenate([self.ee(data), self.block(data), [self.block_yaw(data)], self.goal, self.start])


class PushRailTask(PushTask):
    """`push` with the block on a linear rail along x (sim/assets/push_rail.xml): it can only
    move between the start and goal regions, so the scene stays reversible (a free block can be
    pushed where the paddle cannot get behind it again). Same state, reward, success and expert
    as `push`; the block's initial position varies along x only."""

    name = "push_rail"
    xml = "push_rail.xml"
    block_joint = "block_slide"
    rail_origin = 0.26     # block x at slide position 0 (the body's pos in the XML)

    def reset_objects(self, data, rng, direction):
        centre = self.start if direction == "forward" else self.goal
        x = centre[0] + rng.uniform(-self.init_radius, self.init_radius)
        data.qpos[self.block_qpos] = x - self.rail_origin

    def max_init_radius(self) -> float:
        # the rail's stops (x 0.20 and 0.45 m): 0.03 m past the goal region's centre
        return 0.03


class PushPenTask(PushTask):
    """`push` with the block in a pen (sim/assets/push_pen.xml): rims that stop the block but
    not the arm keep its centre within x 0.20..0.47 m, y -0.08..0.08 m, so the paddle can
    always get behind it again (a free block can be knocked out of reach of the demonstrated
    motion for good). Same state, reward, success, expert and initial states as `push`; the
    block still slides and turns freely in the plane."""

    name = "push_pen"
    xml = "push_pen.xml"
    # the block centre's range in the pen (rims' inner faces minus the block's half size)
    pen_x = (0.20, 0.47)
    pen_y = (-0.08, 0.08)

    def max_init_radius(self) -> float:
        # the front rim: 0.05 m past the goal region's centre
        return 0.05


class DoorTask(Task):
    """Open the hinged door (forward) and close it again (reverse): EARL's sawyer-door analogue."""

    name = "door"
    xml = "door.xml"
    hinge = np.array([0.28, 0.22])   # hinge axis position (xy); closed panel runs toward -y
    panel_length = 0.18
    open_angle = 0.9        # forward success: door angle >= this (rad)
    closed_angle = 0.15     # reverse success: door angle <= this (rad)
    state_names = ("ee_x", "ee_y", "ee_z", "door_angle", "handle_x", "handle_y", "handle_z")

    def bind(self, model):
        super().bind(model)
        j = model.joint("door_hinge").id
        self.door_qpos = model.jnt_qposadr[j]
        self.handle_site = model.site("handle").id

    def reset_objects(self, data, rng, direction):
        if direction == "forward":
            data.qpos[self.door_qpos] = rng.uniform(0.0, 0.08)
        else:
            data.qpos[self.door_qpos] = rng.uniform(1.1, 1.4)

    def angle(self, data) -> float:
        return float(data.qpos[self.door_qpos])

    def success(self, data, direction="forward"):
        if _check_direction(direction) == "forward":
            return self.angle(data) >= self.open_angle
        return self.angle(data) <= self.closed_angle

    def reward(self, data, direction="forward"):
        a = self.angle(data)
        target = 1.2 if _check_direction(direction) == "forward" else 0.0
        to_handle = np.linalg.norm(self.ee(data) - data.site_xpos[self.handle_site])
        return -float(abs(a - target) + 0.5 * to_handle)

    def state(self, data):
        return np.concatenate([self.ee(data), [self.angle(data)], data.site_xpos[self.handle_site]])


TASKS: dict[str, type[Task]] = {t.name: t for t in (ReachTask, PushTask, PushRailTask, PushPenTask, DoorTask)}


def make_task(name: str) -> Task:
    try:
        return TASKS[name]()
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known: {sorted(TASKS)}") from None
