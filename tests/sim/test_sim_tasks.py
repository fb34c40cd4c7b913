"""Tasks load, render a non-blank 64x64 frame, and have consistent initial states and success."""
import numpy as np
import pytest

from mbarl_sim import arm
from mbarl_sim.env import SimEnv
from mbarl_sim.tasks import DIRECTIONS, TASKS

TASK_NAMES = sorted(TASKS)


def test_three_tasks_registered():
    assert {"reach", "push", "door"} <= set(TASK_NAMES)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_renders_non_blank_64x64(task):
    env = SimEnv(task, image_width=64, image_height=64)
    try:
        img = env.render()
        assert img.shape == (64, 64, 3) and img.dtype == np.uint8
        assert img.mean() > 20, "frame is (nearly) black"
        assert img.reshape(-1, 3).std(axis=0).max() > 10, "frame is uniform"
        colours = {tuple(c) for c in (img.reshape(-1, 3) // 32)}
        assert len(colours) >= 6, "too few distinct colours: scene not visible"
        # the arm moves in the picture
        env.control_step(arm.ik([0.45, 0.15, 0.05]))
        for _ in range(10):
            env.control_step()
        assert np.abs(env.render().astype(int) - img.astype(int)).sum() > 1000
    finally:
        env.close()


@pytest.mark.parametrize("task", TASK_NAMES)
def test_initial_distributions_and_success(task):
    env = SimEnv(task, render=False, seed=7)
    for direction in DIRECTIONS:
        other = "reverse" if direction == "forward" else "forward"
        starts = []
        for _ in range(10):
            env.reset(direction)
            for _ in range(3):
                env.control_step()   # settle: the initial state is at rest
            # a fresh episode of `direction` is not solved yet, but is the goal of the other one
            assert not env.success(direction), (task, direction)
            assert env.success(other), (task, direction)
            assert np.isfinite(env.reward(direction))
            state = env.task_state()
            assert state.shape == (len(env.task.state_names),)
            starts.append(state)
        # the distribution is a distribution, not a point
        assert np.ptp(np.array(starts), axis=0).max() > 0.01


def test_seeded_resets_are_reproducible():
    a, b = SimEnv("push", render=False, seed=3), SimEnv("push", render=False, seed=3)
    for _ in range(3):
        a.reset("forward")
        b.reset("forward")
        assert np.array_equal(a.data.qpos, b.data.qpos)


def test_fk_ik_roundtrip():
    for p in ([0.25, -0.1, 0.2], [0.42, 0.1, 0.03], [0.3, 0.2, 0.12]):
        assert np.allclose(arm.fk(arm.ik(p)), p, atol=1e-6)


def test_fk_matches_mujoco():
    env = SimEnv("reach", render=False)
    rng = np.random.default_rng(0)
    for _ in range(5):
        q = rng.uniform(arm.LOWER, arm.UPPER)
        env.data.qpos[env.task.arm_qpos] = q
        import mujoco
        mujoco.mj_forward(env.model, env.data)
        assert np.allclose(env.task.ee(env.data), arm.fk(q), atol=1e-9)


def test_limits_match_mjcf():
    env = SimEnv("push", render=False)
    assert np.allclose(env.lower, arm.LOWER) and np.allclose(env.upper, arm.UPPER)


def test_init_radius_widens_the_push_block_spread():
    default, wide = SimEnv("push", render=False, seed=5), SimEnv("push", render=False, seed=5, init_radius=0.08)
    for env, lo, hi in ((default, 0.0, 0.03), (wide, 0.05, 0.08)):
        for direction in DIRECTIONS:
            centre = env.task.start if direction == "forward" else env.task.goal
            far = []
            for _ in range(60):
                env.reset(direction)
                far.append(np.linalg.norm(env.task.block(env.data)[:2] - centre))
                assert not env.success(direction), "a fresh episode is never solved"
            assert lo <= max(far) <= hi + 1e-9, (env.task.init_radius, direction, max(far))
    # negative: the task's own spread
    assert SimEnv("push", render=False, init_radius=-1.0).task.init_radius == 0.03


@pytest.mark.parametrize("task,radius", [("push", 0.2), ("push", -0.0 - 1e-3), ("door", 0.05)])
def test_init_radius_rejects_what_the_task_cannot_do(task, radius):
    env = SimEnv(task, render=False)
    with pytest.raises(ValueError, match="init_radius"):
        env.task.set_init_radius(radius)


def test_push_rail_block_stays_on_its_rail_and_the_expert_solves_both_ways():
    """push_rail: the block moves along x only, between the start and goal regions, however the
    paddle hits it; the scripted expert solves both directions (demonstrations can be recorded)."""
    from mbarl_sim.experts import run_episode

    env = SimEnv("push_rail", render=False, seed=11)
    for direction in DIRECTIONS:
        solved = [run_episode(env, direction)[0] for _ in range(5)]
        assert all(solved), (direction, solved)
    # sweep the paddle through the block sideways and past the rail's ends
    env.reset("forward")
    xs = []
    for target in ([0.26, -0.12, 0.03], [0.26, 0.12, 0.03], [0.10, 0.0, 0.03], [0.60, 0.0, 0.03], [0.15, 0.0, 0.03]):
        for _ in range(25):
            env.control_step(arm.ik(target))
            s = env.task_state()
            xs.append(s[3])
            assert abs(s[4]) < 1e-6 and abs(s[6]) < 1e-6, "block y and yaw stay 0"
    assert min(xs) >= 0.20 - 0.015 and max(xs) <= 0.45 + 0.015, (min(xs), max(xs))
    assert max(xs) - min(xs) > 0.05, "the paddle moved the block along the rail"
    # a wider reset spread would start blocks beyond the rail's stops
    with pytest.raises(ValueError, match="out of range"):
        SimEnv("push_rail", render=False, init_radius=0.05)


def _sweep_block(env, targets, steps=30):
    """Drives the paddle through `targets` (xyz); returns the block's and the paddle's xy per step."""
    block, paddle = [], []
    for target in targets:
        for _ in range(steps):
            env.control_step(arm.ik(target))
            s = env.task_state()
            paddle.append(s[0:2])
            block.append(s[3:5])
    return np.array(block), np.array(paddle)


def test_push_pen_keeps_the_block_in_reach_but_not_the_arm_out():
    """push_pen: the rims stop the block (it stays where the paddle can get behind it), the
    paddle passes over them, and the scripted expert solves both directions. The same sweep
    knocks the free `push` block out of the pen's range (the reason the pen exists)."""
    from mbarl_sim.experts import run_episode
    from mbarl_sim.tasks import PushPenTask

    sweep = ([0.26, -0.15, 0.03], [0.26, 0.15, 0.03], [0.10, 0.0, 0.03], [0.60, 0.0, 0.03],
             [0.40, 0.15, 0.03], [0.40, -0.15, 0.03], [0.15, 0.05, 0.03], [0.55, -0.05, 0.03])
    env = SimEnv("push_pen", render=False, seed=11)
    for direction in DIRECTIONS:
        solved = [run_episode(env, direction)[0] for _ in range(5)]
        assert all(solved), (direction, solved)
    env.reset("forward")
    block, _ = _sweep_block(env, sweep)
    tol = 0.015  # soft contacts and a turned block's corners
    (x0, x1), (y0, y1) = PushPenTask.pen_x, PushPenTask.pen_y
    assert block[:, 0].min() >= x0 - tol and block[:, 0].max() <= x1 + tol, block[:, 0]
    assert block[:, 1].min() >= y0 - tol and block[:, 1].max() <= y1 + tol, block[:, 1]
    assert np.ptp(block[:, 1]) > 0.05, "the paddle moved the block about in the pen"
    # the arm reaches past every rim where the block is not
    env.reset("forward")
    _, paddle = _sweep_block(env, ([0.12, 0.12, 0.03], [0.55, 0.12, 0.03], [0.55, -0.12, 0.03]))
    assert paddle[:, 0].min() < 0.18 - 0.02 and paddle[:, 0].max() > 0.49 + 0.02, paddle[:, 0]
    assert np.abs(paddle[:, 1]).max() > 0.10 + 0.01, paddle[:, 1]

    # random joint targets: the links sweep the table too and can lift the block; it stays in
    lo, hi = np.array([-1.6, -0.6, 0.0, -0.6]), np.array([1.6, 1.9, 2.8, 3.0])  # ctrlrange
    rng = np.random.default_rng(0)
    positions = []
    for _ in range(30):
        env.reset("forward")
        for _ in range(40):
            q = rng.uniform(lo, hi)
            for _ in range(8):
                env.control_step(q)
                positions.append(env.task_state()[3:5])
    block = np.array(positions)
    assert block[:, 0].min() >= x0 - tol and block[:, 0].max() <= x1 + tol, block[:, 0]
    assert np.abs(block[:, 1]).max() <= y1 + tol, block[:, 1]

    free = SimEnv("push", render=False, seed=11)
    free.reset("forward")
    block, _ = _sweep_block(free, sweep)
    outside = (block[:, 0] < x0 - tol) | (block[:, 0] > x1 + tol) | (np.abs(block[:, 1]) > y1 + tol)
    assert outside.any(), "the free block leaves the pen's range under the same sweep"


def test_a_block_pushed_off_the_table_lands_on_the_floor_and_stays_finite():
    # A training run's block once went over the table's edge and fell for ever (ee-block distance
    # 870 km by the end, an average task reward of -16,000). The room now has a floor.
    env = SimEnv("push", render=False, seed=3)
    try:
        qpos = env.task.block_qpos
        env.data.qpos[qpos:qpos + 3] = [0.9, 0.0, 0.05]   # past the table's edge (x <= 0.77 m)
        for _ in range(200):
            env.control_step()
        z = env.task.block(env.data)[2]
        assert -0.76 < z < -0.70, z
        assert np.isfinite(env.task_state()).all() and abs(env.task.reward(env.data, "forward")) < 10
    finally:
        env.close()


@pytest.mark.parametrize("task", ["door", "push", "reach"])
def test_reverse_episodes_can_start_where_the_forward_expert_ends(task):
    """reverse_start="forward_end": a reverse reset runs the forward expert from a forward reset
    (no simulation time passes), so the scene is where a reset-free robot's backward phases
    begin; the reverse expert still undoes the task from there."""
    from mbarl_sim.experts import run_episode
    env = SimEnv(task, render=False, seed=3, reverse_start="forward_end")
    for _ in range(3):
        clock = env.time
        env.reset("reverse")
        assert env.time == clock
        assert env.success("forward"), "the forward expert finished the task"
        assert not env.success("reverse")
    solved = [run_episode(env, "reverse")[0] for _ in range(5)]
    assert sum(solved) >= 4, solved
    with pytest.raises(ValueError):
        SimEnv(task, render=False, reverse_start="elsewhere")
