"""Sim benchmark: lock-step control steps/s and real-time /joint_states jitter.

    /root/.cache/mbarl/venv-ros/bin/python sim/bench_sim.py [--steps 600] [--seconds 10] [--task push]

1. in-process: SimEnv control steps/s, physics only and with a 64x64 render (+ JPEG) per step;
2. lock-step over ROS: the real bridge (lockstep:=true, 64x64 image) in one process, a commander
   in another that sends a command, waits for that step's /joint_states AND /camera/image_raw,
   and repeats: control steps/s as a learner would see them;
3. real-time: the bridge at joint_state_rate 100 Hz, a subscriber process records /joint_states
   arrival times: p50/p99/max inter-arrival (ms).
Each bridge runs in its own ROS domain with localhost-only discovery.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SIM_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(SIM_DIR))
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"


def in_process(task: str, steps: int) -> dict:
    import simplejpeg

    from mbarl_sim.env import SimEnv
    env = SimEnv(task, image_width=64, image_height=64)
    q = env.joint_positions()
    env.render()
    out = {}
    for label, render in (("physics", False), ("physics+render64+jpeg", True)):
        t = time.perf_counter()
        for _ in range(steps):
            env.control_step(q)
            if render:
                simplejpeg.encode_jpeg(env.render(), quality=90, colorspace="RGB")
        out[label] = steps / (time.perf_counter() - t)
    env.close()
    return out


def commander(steps: int) -> None:
    """Lock-step commander (separate process): one command per received step."""
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Float64MultiArray

    from mbarl_sim import arm, qos

    rclpy.init()
    node = Node("bench_commander")
    last = {"js": -1.0, "img": -1.0, "q": None}

    def st(m):
        return m.header.stamp.sec + m.header.stamp.nanosec * 1e-9

    def on_js(m):
        last["js"], last["q"] = st(m), m.position

    node.create_subscription(JointState, "/joint_states", on_js, 10)
    node.create_subscription(Image, "/camera/image_raw", lambda m: last.__setitem__("img", st(m)), 10)
    pub = node.create_publisher(Float64MultiArray, "/arm_controller/commands", qos.COMMANDS)

    def until(pred, timeout=30.0):
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end:
                raise SystemExit("bench commander: timed out waiting for the bridge")
            rclpy.spin_once(node, timeout_sec=0.005)

    until(lambda: pub.get_subscription_count() > 0 and last["js"] >= 0 and last["img"] >= 0)
    targets = [arm.ik([0.30, -0.10, 0.15]), arm.ik([0.35, 0.10, 0.10])]

    def one(k):
        t = last["js"]
        pub.publish(Float64MultiArray(data=[float(v) for v in targets[(k // 20) % 2]]))
        until(lambda: last["js"] > t + 1e-9 and last["img"] > t + 1e-9, 10.0)

    for k in range(20):   # warm-up
        one(k)
    t0 = time.perf_counter()
    for k in range(steps):
        one(k)
    dt = time.perf_counter() - t0
    print(json.dumps({"steps": steps, "seconds": dt, "steps_per_s": steps / dt}), flush=True)
    node.destroy_node()
    rclpy.shutdown()


def listener(seconds: float) -> None:
    """Records /joint_states arrival times (separate process)."""
    import numpy as np
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import JointState

    rclpy.init()
    node = Node("bench_listener")
    arrivals = []
    node.create_subscription(JointState, "/joint_states", lambda m: arrivals.append(time.monotonic()), 10)
    end = time.monotonic() + 30.0
    while not arrivals and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.01)
    if not arrivals:
        raise SystemExit("bench listener: no /joint_states")
    t_start = time.monotonic() + 1.0          # 1 s warm-up
    end = t_start + seconds
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.01)
    a = np.array([t for t in arrivals if t >= t_start])
    d = np.diff(a) * 1000.0
    print(json.dumps({"messages": len(a), "rate_hz": (len(a) - 1) / (a[-1] - a[0]),
                      "p50_ms": float(np.percentile(d, 50)), "p99_ms": float(np.percentile(d, 99)),
                      "max_ms": float(d.max()), "min_ms": float(d.min())}), flush=True)
    node.destroy_node()
    rclpy.shutdown()


def _spawn(args, domain):
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONPATH=str(SIM_DIR))
    return subprocess.Popen([sys.executable, *args], cwd=SIM_DIR, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _run_pair(bridge_args, client_args, domain, timeout):
    bridge = _spawn(["-m", "mbarl_sim.bridge", "--ros-args", *bridge_args], domain)
    try:
        client = _spawn([__file__, *client_args], domain)
        out, err = client.communicate(timeout=timeout)
        if client.returncode != 0:
            raise SystemExit(f"bench client failed:\n{out}\n{err}")
        return json.loads(out.strip().splitlines()[-1])
    finally:
        _stop(bridge)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="push")
    p.add_argument("--steps", type=int, default=600, help="lock-step control steps to time")
    p.add_argument("--seconds", type=float, default=10.0, help="real-time jitter sample length")
    p.add_argument("--commander", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--listener", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.commander:
        return commander(a.steps)
    if a.listener:
        return listener(a.seconds)

    domain = 150 + os.getpid() % 60
    print(f"mbarl sim bench: task={a.task}, 64x64 image, 20 Hz control x 10 substeps, "
          f"{os.cpu_count()} cpus, load avg {os.getloadavg()[0]:.2f}", flush=True)
    r = in_process(a.task, a.steps)
    for k, v in r.items():
        print(f"in-process {k:24s} {v:8.0f} control steps/s", flush=True)
    r = _run_pair(["-p", f"task:={a.task}", "-p", "lockstep:=true", "-p", "image_width:=64",
                   "-p", "image_height:=64"], ["--commander", "--steps", str(a.steps)], domain, 600)
    print(f"lock-step over ROS (bridge + commander processes, 64x64 image + JPEG): "
          f"{r['steps_per_s']:.0f} control steps/s ({r['steps']} steps in {r['seconds']:.2f} s; target >= 150)",
          flush=True)
    r = _run_pair(["-p", f"task:={a.task}", "-p", "joint_state_rate:=100.0", "-p", "image_width:=64",
                   "-p", "image_height:=64"], ["--listener", "--seconds", str(a.seconds)], domain + 1, 600)
    print(f"real-time /joint_states at 100 Hz: {r['rate_hz']:.1f} Hz over {r['messages']} msgs, inter-arrival "
          f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, min {r['min_ms']:.2f} ms, max {r['max_ms']:.2f} ms",
          flush=True)


if __name__ == "__main__":
    main()
