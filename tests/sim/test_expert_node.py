"""The scripted expert as a ROS commander: resets through /sim, drives the arm through
/arm_controller/commands and solves push in both directions against the lock-step bridge."""
import os
import subprocess
import sys

import numpy as np

from sim_rosprobe import SIM_DIR, Bridge


def run_expert(domain_id, *args):
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONPATH=str(SIM_DIR))
    return subprocess.run([sys.executable, "-m", "mbarl_sim.expert", *args], cwd=SIM_DIR, env=env,
                          capture_output=True, text=True, timeout=240)


def test_expert_node_solves_push_both_directions_lockstep():
    b = Bridge("-p", "lockstep:=true", "-p", "task:=push")
    try:
        b.ready()
        for direction in ("forward", "reverse"):
            r = run_expert(b.domain_id, "--task", "push", "--direction", direction, "--episodes", "3", "--lockstep")
            assert r.returncode == 0, r.stdout + r.stderr + b.output()
            assert f"push {direction}: solved 3/3" in r.stdout
        p = b.probe
        assert p.until(lambda: p.latched["/sim/reset_count"] and p.latched["/sim/reset_count"][-1] == 6)
    finally:
        assert b.stop() == 0


def test_expert_node_solves_reach_both_directions_real_time():
    b = Bridge("-p", "task:=reach")
    try:
        b.ready()
        for direction in ("forward", "reverse"):
            r = run_expert(b.domain_id, "--task", "reach", "--direction", direction, "--episodes", "2")
            assert r.returncode == 0, r.stdout + r.stderr + b.output()
            assert f"reach {direction}: solved 2/2" in r.stdout
    finally:
        assert b.stop() == 0


def test_expert_in_process_cli_records_demos(tmp_path):
    out = tmp_path / "door_reverse.npz"
    r = run_expert(0, "--task", "door", "--direction", "reverse", "--episodes", "2", "--in-process",
                   "--save", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    demo = np.load(out)
    assert demo["solved"].tolist() == [True, True]
    assert demo["q"].shape[1] == 4 and demo["action"].shape == demo["q"].shape
    assert set(demo["episode"].tolist()) == {0, 1}
