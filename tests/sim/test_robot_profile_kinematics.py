"""The sim robot profile's kinematic chain and workspace box (config/robots/sim_arm.yaml) against
MuJoCo: the forward kinematics of the URDF chain it names (models/sim_arm/sim_arm.urdf, computed
here independently of the arbiter's Rust FK, which nodes/phase_arbiter/tests/urdf_fk.rs checks)
gives MuJoCo's "ee" site, and every initial state and
every scripted-expert trajectory of every task stays inside the workspace box (the task's own,
config/tasks/TASK.yaml, where it has one), so the arbiter never refuses what the experts do."""
import zlib
from pathlib import Path

import mujoco
import numpy as np
import pytest
import yaml

from mbarl_sim.env import SimEnv
from mbarl_sim.experts import run_episode
from mbarl_sim.tasks import DIRECTIONS, TASKS

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "config" / "robots" / "sim_arm.yaml"


def profile(task=None):
    """The robot profile's parameters, with the task's parameters file over them where one exists
    (the order of a launch file's params_files: the later file wins)."""
    params = yaml.safe_load(PROFILE.read_text())["/**"]["ros__parameters"]
    task_file = ROOT / "config" / "tasks" / f"{task}.yaml"
    if task is not None and task_file.exists():
        params = {**params, **yaml.safe_load(task_file.read_text())["/**"]["ros__parameters"]}
    return params


def rot(axis, angle):
    """Rotation matrix about a unit axis (Rodrigues)."""
    a = np.asarray(axis, dtype=float)
    a = a / np.linalg.norm(a)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def rpy(r, p, y):
    return rot([0, 0, 1], y) @ rot([0, 1, 0], p) @ rot([1, 0, 0], r)


def urdf_chain(params):
    """The profile's URDF chain, base link to tip link: [(type, origin xyz, rpy, axis)]."""
    import xml.etree.ElementTree as ET
    k = params["kinematics"]
    root = ET.parse(ROOT / k["urdf_file"]).getroot()
    by_child = {j.find("child").get("link"): j for j in root.findall("joint")}
    chain, link = [], k["tip_link"]
    while link != k["base_link"]:
        j = by_child[link]
        o = j.find("origin")
        axis = j.find("axis")
        chain.append((j.get("type"),
                      np.fromstring(o.get("xyz", "0 0 0"), sep=" "),
                      np.fromstring(o.get("rpy", "0 0 0"), sep=" "),
                      np.fromstring(axis.get("xyz"), sep=" ") if axis is not None else None))
        link = j.find("parent").get("link")
    return chain[::-1]


def chain_fk(params, q):
    r, t = np.eye(3), np.zeros(3)
    qs = iter(q)
    for kind, xyz, angles, axis in urdf_chain(params):
        t = t + r @ xyz
        r = r @ rpy(*angles)
        if kind != "fixed":
            r = r @ rot(axis, next(qs))
    return t


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
    params = profile(task)
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
