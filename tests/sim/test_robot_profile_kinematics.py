"""The sim robot profile's kinematic chain and workspace box (config/robots/sim_arm.yaml) against
MuJoCo: the chain's forward kinematics (URDF semantics, the same as the arbiter's Rust FK in
nodes/phase_arbiter/src/kinematics.rs) gives MuJoCo's "ee" site, and every initial state and
every scripted-expert trajectory of every task stays inside the workspace box, so the arbiter
never refuses what the experts do."""
import zlib
from pathlib import Path

import mujoco
import numpy as np
import pytest
import yaml

from mbarl_sim.env import SimEnv
from mbarl_sim.experts import run_episode
from mbarl_sim.tasks import DIRECTIONS, TASKS

PROFILE = Path(__file__).resolve().parents[2] / "config" / "robots" / "sim_arm.yaml"


def profile():
    return yaml.safe_load(PROFILE.read_text())["/**"]["ros__parameters"]


def rot(axis, angle):
    """Rotation matrix about a unit axis (Rodrigues)."""
    a = np.asarray(axis, dtype=float)
    a = a / np.linalg.norm(a)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def rpy(r, p, y):
    return rot([0, 0, 1], y) @ rot([0, 1, 0], p) @ rot([1, 0, 0], r)


def chain_fk(params, q):
    k = params["kinematics"]
    xyz = np.reshape(k["joint_origin_xyz"], (-1, 3))
    angles = np.reshape(k["joint_origin_rpy"], (-1, 3))
    axes = np.reshape(k["joint_axis"], (-1, 3))
    r, t = np.eye(3), np.zeros(3)
    for i, qi in enumerate(q):
        t = t + r @ xyz[i]
        r = r @ rpy(*angles[i]) @ rot(axes[i], qi)
    return t + r @ np.asarray(k["tool_xyz"], dtype=float)


def in_box(params, p, tol=0.0):
    lo, hi = np.asarray(params["workspace_min"]), np.asarray(params["workspace_max"])
    return bool(np.all(p >= lo - tol) and np.all(p <= hi + tol))


def test_chain_matches_mujoco_ee_site():
    params = profile()
    env = SimEnv("reach", render=False)
    rng = np.random.default_rng(3)
    lo, hi = np.asarray(params["position_lower"]), np.asarray(params["position_upper"])
    for _ in range(200):
        q = rng.uniform(lo, hi)
        env.data.qpos[env.task.arm_qpos] = q
        mujoco.mj_kinematics(env.model, env.data)
        site = env.data.site_xpos[env.task.ee_site]
        np.testing.assert_allclose(chain_fk(params, q), site, atol=1e-9)


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("task", sorted(TASKS))
def test_initial_states_and_expert_trajectories_stay_in_the_box(task, direction):
    params = profile()
    env = SimEnv(task, render=False, seed=zlib.crc32(f"box/{task}/{direction}".encode()))
    for _ in range(100):
        env.reset(direction)
        q = env.joint_positions()
        assert in_box(params, chain_fk(params, q)), f"initial state {q}"
    outside = []

    def record(q, state, action):
        for what, joints in (("measured", q), ("commanded", action)):
            p = chain_fk(params, joints)
            if not in_box(params, p):
                outside.append((what, np.round(joints, 3), np.round(p, 3)))

    for _ in range(5):
        run_episode(env, direction, record=record)
    assert not outside, outside[:5]
