"""Each scripted expert solves its task in both directions from random initial states
(>= 95% of 20 tries), in-process (no ROS)."""
import zlib

import pytest

from mbarl_sim.env import SimEnv
from mbarl_sim.experts import run_episode
from mbarl_sim.tasks import DIRECTIONS, TASKS

TRIES = 20


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("task", sorted(TASKS))
def test_expert_solves(task, direction):
    env = SimEnv(task, render=False, seed=zlib.crc32(f"{task}/{direction}".encode()))
    results = [run_episode(env, direction) for _ in range(TRIES)]
    solved = sum(ok for ok, _ in results)
    assert solved >= 0.95 * TRIES, f"{task} {direction}: solved {solved}/{TRIES}: {results}"
