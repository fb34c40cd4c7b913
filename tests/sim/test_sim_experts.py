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


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_reach_expert_stays_at_the_goal_for_its_tail(direction):
    """`tail_steps`: the episode goes on that many steps after the task held, and the expert
    keeps it done (demonstrations that show staying at the goal, not only getting there)."""
    ok, steps = run_episode(SimEnv("reach", render=False, seed=7), direction)
    assert ok
    env, done = SimEnv("reach", render=False, seed=7), []   # the same start
    ok_tail, steps_tail = run_episode(env, direction, tail_steps=15,
                                      record=lambda q, s, a: done.append(env.success(direction)))
    assert ok_tail
    assert steps_tail == len(done) == steps + 15, (steps, steps_tail, len(done))
    # each record is the state before its step: at the goal from the hold through the tail
    assert all(done[-15:]), done
