"""Kinematics of the 4-joint sim arm (see assets/arm_scene.xml for the same numbers).

joint1 yaws about z; joint2..joint4 pitch in the vertical plane that joint1 selects. The
end effector ("ee") is the centre of the flat paddle. Analytic FK/IK are used to sample initial
states and by the scripted experts; nothing in the learning nodes uses them.
"""
from __future__ import annotations

import math

import numpy as np

JOINT_NAMES = ("joint1", "joint2", "joint3", "joint4")
SHOULDER_Z = 0.12   # height of the joint2 axis above the table
UPPER_ARM = 0.30    # joint2 -> joint3
FOREARM = 0.28      # joint3 -> joint4
TOOL = 0.10         # joint4 -> paddle centre
LOWER = np.array([-1.6, -0.6, 0.0, -0.6])
UPPER = np.array([1.6, 1.9, 2.8, 3.0])
TOOL_DOWN = math.pi  # joint2 + joint3 + joint4 when the tool points straight down


def fk(q) -> np.ndarray:
    """Paddle centre position (x, y, z) for joint positions q."""
    q1, q2, q3, q4 = (float(v) for v in q[:4])
    a2, a3, a4 = q2, q2 + q3, q2 + q3 + q4
    r = UPPER_ARM * math.sin(a2) + FOREARM * math.sin(a3) + TOOL * math.sin(a4)
    z = SHOULDER_Z + UPPER_ARM * math.cos(a2) + FOREARM * math.cos(a3) + TOOL * math.cos(a4)
    return np.array([r * math.cos(q1), r * math.sin(q1), z])


def ik(p, tool_pitch: float = TOOL_DOWN, margin: float = 1e-3) -> np.ndarray:
    """Joint positions that put the paddle centre at p with the tool at `tool_pitch`
    (pi = pointing down), elbow up. Unreachable targets are projected onto the workspace;
    the result is clipped to the joint limits shrunk by `margin`."""
    x, y, z = (float(v) for v in p[:3])
    q1 = math.atan2(y, x)
    r = math.hypot(x, y)
    wr = r - TOOL * math.sin(tool_pitch)
    wz = z - TOOL * math.cos(tool_pitch) - SHOULDER_Z
    d = math.hypot(wr, wz)
    d = min(max(d, abs(UPPER_ARM - FOREARM) + 1e-4), UPPER_ARM + FOREARM - 1e-4)
    c3 = (d * d - UPPER_ARM ** 2 - FOREARM ** 2) / (2 * UPPER_ARM * FOREARM)
    q3 = math.acos(min(1.0, max(-1.0, c3)))
    alpha = math.atan2(wr, wz)
    beta = math.atan2(FOREARM * math.sin(q3), UPPER_ARM + FOREARM * math.cos(q3))
    q2 = alpha - beta
    q4 = tool_pitch - q2 - q3
    q = np.array([q1, q2, q3, q4])
    return np.clip(q, LOWER + margin, UPPER - margin)
