"""scripts/learn_curve.py's launch files: on the push tasks with the task state the arbiter gets
the object rule, and its dimensions are the block's in the sim's task state; without the task
state (pixels, reach) it gets none (the arbiter would find no object to check)."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]


def load_learn_curve():
    spec = importlib.util.spec_from_file_location("learn_curve", ROOT / "scripts/learn_curve.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["learn_curve"] = module
    spec.loader.exec_module(module)
    return module


def arbiter_params(lc, tmp_path, task, obs, state_topic):
    run = tmp_path / f"{task}_{obs}"
    run.mkdir()
    path = lc.write_launch(run, task, obs, "medal", 0, 30, 200, state_topic, [])
    launch = yaml.safe_load(path.read_text())
    return next(p for p in launch["processes"] if p["name"] == "phase_arbiter")["params"]


def test_push_with_task_state_gets_the_block_rule(tmp_path):
    from mbarl_sim.env import SimEnv
    lc = load_learn_curve()
    params = arbiter_params(lc, tmp_path, "push", "state", lc.STATE_TOPIC)
    idx = params["object_state_indices"]
    assert len(idx) == len(params["object_lower"]) == len(params["object_upper"]) == 3
    env = SimEnv("push", render=False)
    try:
        names = env.task.state_names
        assert [names[i] for i in idx] == ["block_x", "block_y", "block_z"], names
        block = env.task_state()[idx]
        assert np.all(block > params["object_lower"]) and np.all(block < params["object_upper"])
    finally:
        env.close()
    # the arbiter declares these parameters
    config = (ROOT / "nodes/phase_arbiter/src/config.rs").read_text()
    for name in ("object_state_indices", "object_lower", "object_upper"):
        assert f'"{name}"' in config


def test_no_rule_without_the_task_state(tmp_path):
    lc = load_learn_curve()
    assert "object_state_indices" not in arbiter_params(lc, tmp_path, "push", "pixels", "")
    assert "object_state_indices" not in arbiter_params(lc, tmp_path, "reach", "state", "")
