"""Scripted-expert commander: drives the arm through the bridge like any other commander.

    python -m mbarl_sim.expert --task push --direction forward --episodes 20 [--lockstep]
    python -m mbarl_sim.expert --task door --direction reverse --episodes 20 --in-process

ROS mode: each episode calls /sim/eval_reset (forward) or /sim/reset_reverse (reverse), then
reads /joint_states and the sim-only /sim/task_state and publishes position targets on
/arm_controller/commands until /sim/success (or /sim/reverse_success) holds for a few steps,
then --tail-steps more (a demonstrator who stays at the goal for a moment).
In lock-step mode it sends one command per received state; in real-time mode at --rate Hz.
--in-process runs the same experts on a SimEnv without ROS. --save FILE.npz writes the steps
(joint positions, task state, action, success) of all episodes. Exit code 0 when >= 95% solved.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .experts import HOLD, HORIZON, continues, make_expert, run_episode


class Recorder:
    def __init__(self):
        self.rows = {"episode": [], "q": [], "state": [], "action": []}
        self.episode = 0

    def __call__(self, q, state, action):
        self.rows["episode"].append(self.episode)
        self.rows["q"].append(np.asarray(q, float))
        self.rows["state"].append(np.asarray(state, float))
        self.rows["action"].append(np.asarray(action, float))

    def save(self, path, solved, task, direction):
        np.savez(path, task=task, direction=direction, solved=np.array(solved),
                 **{k: np.array(v) for k, v in self.rows.items()})


def run_in_process(args, record) -> list[bool]:
    from .env import SimEnv
    env = SimEnv(args.task, render=False, seed=args.seed)
    solved = []
    for ep in range(args.episodes):
        record.episode = ep
        ok, steps = run_episode(env, args.direction, args.max_steps, record=record,
                                tail_steps=args.tail_steps)
        print(f"episode {ep}: {'solved' if ok else 'FAILED'} in {steps} steps", flush=True)
        solved.append(ok)
    return solved


def run_ros(args, record, ros_argv) -> list[bool]:
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Bool, Float64MultiArray
    from std_srvs.srv import Trigger

    from . import commander as C
    from . import qos

    rclpy.init(args=ros_argv)
    node = Node("sim_expert")
    latest = {"js": None, "state": None, "success": False, "rsuccess": False}
    names = args.joint_names.split(",")

    def on_js(msg):
        latest["js"] = msg

    node.create_subscription(JointState, args.joint_states_topic, on_js, qos.STATE)
    node.create_subscription(Float64MultiArray, "/sim/task_state", lambda m: latest.__setitem__("state", m), qos.STATE)
    node.create_subscription(Bool, "/sim/success", lambda m: latest.__setitem__("success", m.data), qos.STATE)
    node.create_subscription(Bool, "/sim/reverse_success", lambda m: latest.__setitem__("rsuccess", m.data), qos.STATE)
    pub = node.create_publisher(Float64MultiArray, args.command_topic, qos.COMMANDS)
    reset = node.create_client(Trigger, "/sim/eval_reset" if args.direction == "forward" else "/sim/reset_reverse")

    def spin_until(pred, timeout):
        return C.spin_until(node, pred, timeout)

    def js_time():
        return C.stamp_of(latest["js"])

    def state_time():
        return latest["state"].data[0] if latest["state"] is not None else -1.0

    C.wait_for_bridge(node, reset, pub, args.timeout, args.command_topic)
    horizon = args.max_steps or HORIZON[args.task]
    solved = []
    try:
        for ep in range(args.episodes):
            record.episode = ep
            t_reset = C.reset(node, reset, args.timeout)
            if not spin_until(lambda: js_time() > t_reset and state_time() >= js_time() - 1e-6, args.timeout):
                raise SystemExit("no state after reset")
            expert = make_expert(args.task, args.direction)
            held, ok, steps, tail = 0, False, 0, args.tail_steps
            period = 1.0 / args.rate
            next_t = time.monotonic()
            while continues(steps, horizon, ok, tail):
                if ok:
                    tail -= 1
                steps += 1
                js, st = latest["js"], latest["state"]
                idx = [list(js.name).index(n) for n in names]
                q = np.array(js.position)[idx]
                state = np.array(st.data[1:])
                action = expert.act(q, state)
                record(q, state, action)
                acted_at = js_time()
                pub.publish(Float64MultiArray(data=[float(a) for a in action]))
                if args.lockstep:
                    if not spin_until(lambda: js_time() > acted_at and state_time() >= js_time() - 1e-6, args.timeout):
                        raise SystemExit("lock-step bridge did not answer a command")
                    spin_until(lambda: False, 0.0)   # drain the step's /sim/... messages
                else:
                    next_t += period
                    spin_until(lambda: time.monotonic() >= next_t, period + 1.0)
                if not ok:
                    held = C.success_streak(latest, args.direction, held)
                    ok = held >= HOLD
            print(f"episode {ep}: {'solved' if ok else 'FAILED'} in {steps} steps", flush=True)
            solved.append(ok)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return solved


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    from rclpy.utilities import remove_ros_args
    p = argparse.ArgumentParser(prog="python -m mbarl_sim.expert", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, choices=sorted(HORIZON))
    p.add_argument("--direction", default="forward", choices=("forward", "reverse"))
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=0, help="control steps per episode (0: task default)")
    p.add_argument("--lockstep", action="store_true", help="the bridge runs with lockstep:=true")
    p.add_argument("--rate", type=float, default=20.0, help="command rate in real-time mode (Hz)")
    p.add_argument("--tail-steps", type=int, default=0,
                   help="steps an episode goes on after the task held (the demonstrator stays)")
    p.add_argument("--in-process", action="store_true", help="no ROS: step a SimEnv directly")
    p.add_argument("--seed", type=int, default=0, help="--in-process only")
    p.add_argument("--save", default="", help="write the episodes to this .npz file")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the bridge")
    p.add_argument("--command-topic", default="/arm_controller/commands")
    p.add_argument("--joint-states-topic", default="/joint_states")
    p.add_argument("--joint-names", default="joint1,joint2,joint3,joint4")
    args = p.parse_args(remove_ros_args(argv)[1:])
    record = Recorder()
    solved = run_in_process(args, record) if args.in_process else run_ros(args, record, argv)
    n = len(solved)
    print(f"{args.task} {args.direction}: solved {sum(solved)}/{n}", flush=True)
    if args.save:
        record.save(args.save, solved, args.task, args.direction)
    return 0 if n and sum(solved) >= 0.95 * n else 1


if __name__ == "__main__":
    sys.exit(main())
