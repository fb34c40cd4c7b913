"""The simulated Panda as a ROS 2 arm (sim/mbarl_sim/franka_bridge.py): its scripted expert, a
commander of PoseStamped targets, reaches and returns through the bridge in lock-step and in real
time; the bridge holds the hand when commands stop; the in-process expert solves >= 95 %."""
import os
import subprocess
import sys
import time

from sim_rosprobe import SIM_DIR, FrankaBridge


def run_expert(domain_id, *args):
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONPATH=str(SIM_DIR))
    return subprocess.run([sys.executable, "-m", "mbarl_sim.franka_expert", *args], cwd=SIM_DIR,
                          env=env, capture_output=True, text=True, timeout=240)


def test_the_in_process_expert_reaches_and_returns():
    for direction in ("forward", "reverse"):
        r = run_expert(0, "--in-process", "--episodes", "20", "--direction", direction, "--seed", "3")
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"franka_reach {direction}: solved 20/20" in r.stdout, r.stdout


def test_the_expert_drives_the_bridge_lockstep_both_ways():
    b = FrankaBridge("-p", "lockstep:=true", "-p", "publish_image:=false")
    try:
        b.ready()
        for direction in ("forward", "reverse"):
            r = run_expert(b.domain_id, "--direction", direction, "--episodes", "3", "--lockstep")
            assert r.returncode == 0, r.stdout + r.stderr + b.output()
            assert f"franka_reach {direction}: solved 3/3" in r.stdout
        p = b.probe
        assert p.until(lambda: p.latched["/sim/reset_count"] and p.latched["/sim/reset_count"][-1] == 6)
        assert not p.latched["/sim/rejected_commands"] or p.latched["/sim/rejected_commands"][-1] == 0
    finally:
        assert b.stop() == 0


def test_the_expert_drives_the_bridge_in_real_time_and_the_bridge_holds_when_it_stops():
    b = FrankaBridge("-p", "publish_image:=false")
    try:
        b.ready()
        r = run_expert(b.domain_id, "--direction", "forward", "--episodes", "2")
        assert r.returncode == 0, r.stdout + r.stderr + b.output()
        assert "franka_reach forward: solved 2/2" in r.stdout
        deadline = time.monotonic() + 5
        while "holding current position" not in b.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "no command for 0.50 s: holding current position" in b.output()
    finally:
        assert b.stop() == 0
