"""Scripted experts: one closed-loop policy per task x direction.

An expert maps (joint positions, task state) to joint position targets, exactly what a commander
sends on /arm_controller/commands. The task state is the ground-truth vector of tasks.py, which
the ROS expert node reads from the sim-only topic /sim/task_state. Experts plan paddle (end
effector) waypoints and convert them with the arm's analytic IK, moving at most `step` metres per
control period. `run_episode` is the in-process (no ROS) version used by tests and demos.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from . import arm
from .tasks import DIRECTIONS, DoorTask, PushTask, ReachTask


class Expert(ABC):
    step = 0.03      # max paddle displacement per control period (m)
    z_high = 0.10    # travel height of the paddle centre above obstacles

    def __init__(self, direction: str = "forward"):
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}")
        self.direction = direction
        self.forward = direction == "forward"

    def reset(self) -> None:
        pass

    def act(self, q: np.ndarray, state: np.ndarray) -> np.ndarray:
        target, step = self.waypoint(np.asarray(state, dtype=float))
        ee = np.asarray(state[:3], dtype=float)
        delta = target - ee
        n = np.linalg.norm(delta)
        if n > step:
            delta *= step / n
        return arm.ik(ee + delta)

    @abstractmethod
    def waypoint(self, state: np.ndarray) -> tuple[np.ndarray, float]:
        """Paddle position to head for and the step size to use."""

    def travel(self, ee: np.ndarray, pre_xy: np.ndarray, low_z: float, tol: float = 0.012):
        """Go to pre_xy at travel height (lifting first when low and away from it), then descend."""
        d = np.linalg.norm(ee[:2] - pre_xy)
        if d > tol:
            if ee[2] < self.z_high - 0.02 and d > 2 * tol:
                return np.array([ee[0], ee[1], self.z_high]), self.step
            return np.array([pre_xy[0], pre_xy[1], self.z_high]), self.step
        return np.array([pre_xy[0], pre_xy[1], low_z]), self.step


class ReachExpert(Expert):
    def waypoint(self, state):
        target = ReachTask.goal if self.forward else ReachTask.start
        d = np.linalg.norm(target - state[:3])
        return target.copy(), min(self.step, max(0.004, 0.5 * d))


class PushExpert(Expert):
    z_push = 0.024     # paddle centre height while pushing (block centre is at 0.02)
    done_tol = 0.012   # stop pushing when the block is this close to the region centre

    def waypoint(self, state):
        ee, block = state[:3], state[3:5]
        target = PushTask.goal if self.forward else PushTask.start
        e = target - block
        dist = np.linalg.norm(e)
        if dist < self.done_tol:
            return np.array([ee[0], ee[1], max(ee[2], self.z_push)]), self.step
        u = e / dist
        perp = np.array([-u[1], u[0]])
        rel = ee[:2] - block
        s, lat = rel @ u, rel @ perp
        behind = -(PushTask.half + 0.008 + 0.004)
        if s < behind + 0.012 and s > behind - 0.06 and abs(lat) < 0.02 and ee[2] < 0.05:
            # push through the block centre; slow down near the goal
            return np.array([block[0], block[1], self.z_push]), min(0.015, max(0.004, 0.6 * dist))
        pre = block + u * (behind - 0.03)
        return self.travel(ee, pre, self.z_push)


class DoorExpert(Expert):
    z_door = 0.032      # paddle centre height at the panel
    z_high = 0.13       # clears the 0.062 m panel
    rho = 0.13          # contact point: distance from the hinge along the panel
    offset = 0.02       # paddle centre to panel mid-plane while in contact
    lead = 0.25         # push toward the arc point this far (rad) ahead of the door

    def waypoint(self, state):
        ee, angle = state[:3], float(state[3])
        sign = 1.0 if self.forward else -1.0
        if (self.forward and angle >= 1.05) or (not self.forward and angle <= 0.06):
            return np.array([ee[0], ee[1], max(ee[2], self.z_door)]), self.step
        h = DoorTask.hinge

        def contact(a):
            return h + self.rho * np.array([math.sin(a), -math.cos(a)])

        def push_dir(a):
            return np.array([math.cos(a), math.sin(a)])

        c, p = contact(angle), push_dir(angle)
        rel = ee[:2] - c
        s = sign * (rel @ p)                 # < 0: paddle on the pushing side of the panel
        along = rel @ np.array([math.sin(angle), -math.cos(angle)])
        if -0.09 < s < 0.0 and abs(along) < 0.05 and ee[2] < 0.07:
            a2 = angle + sign * self.lead
            goal = contact(a2) - sign * push_dir(a2) * self.offset
            return np.array([goal[0], goal[1], self.z_door]), 0.02
        pre = c - sign * p * 0.06
        return self.travel(ee, pre, self.z_door)


EXPERTS = {"reach": ReachExpert, "push": PushExpert, "push_rail": PushExpert, "push_pen": PushExpert, "door": DoorExpert}


def make_expert(task: str, direction: str) -> Expert:
    try:
        return EXPERTS[task](direction)
    except KeyError:
        raise ValueError(f"no expert for task {task!r}; known: {sorted(EXPERTS)}") from None


HORIZON = {"reach": 100, "push": 300, "push_rail": 300, "push_pen": 300, "door": 300}   # control steps (20 Hz) per episode
HOLD = 3   # success must hold this many consecutive control steps


def run_episode(env, direction: str, horizon: int | None = None, record=None,
                tail_steps: int = 0) -> tuple[bool, int]:
    """Reset `env` (a SimEnv) to `direction`'s initial distribution and run the expert until
    the task holds HOLD steps, then `tail_steps` more (the demonstrator stays at the goal).
    Returns (solved, steps). `record(q, state, action)` is called every step when given."""
    env.reset(direction)
    expert = make_expert(env.task.name, direction)
    horizon = horizon or HORIZON[env.task.name]
    held, solved, steps = 0, False, 0
    while continues(steps, horizon, solved, tail_steps):
        if solved:
            tail_steps -= 1
        steps += 1
        q, state = env.joint_positions(), env.task_state()
        action = expert.act(q, state)
        if record is not None:
            record(q, state, action)
        env.control_step(action)
        if not solved:
            held = held + 1 if env.success(direction) else 0
            solved = held >= HOLD
    return solved, steps


def continues(steps: int, horizon: int, solved: bool, tail_steps: int) -> bool:
    """Whether an expert episode takes another step: until solved within `horizon`, then for
    `tail_steps` (what is left of them) more."""
    return tail_steps > 0 if solved else steps < horizon
