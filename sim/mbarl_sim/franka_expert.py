"""Scripted expert for the simulated Panda's tasks: moves the hand's target pose towards the
task's goal (forward) or back to its start (reverse), at most `STEP` metres per control period,
the hand pointing down and the gripper open: what a Cartesian-impedance commander sends.

    python -m mbarl_sim.franka_expert --direction forward --episodes 10 [--lockstep]
    python -m mbarl_sim.franka_expert --direction reverse --episodes 10 --in-process

ROS mode: each episode calls /sim/eval_reset (forward) or /sim/reset_reverse (reverse), then
publishes geometry_msgs/PoseStamped targets on /cartesian_controller/target_pose (and the open
width on /gripper_controller/commands) until /sim/success (or /sim/reverse_success) holds for a
few steps, then --tail-steps more. In lock-step mode one target per received joint state.
Exit code 0 when >= 95% of the episodes were solved.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .experts import HOLD, continues
from .franka import MAX_WIDTH
from .franka_env import GOAL_OFFSET, START

STEP = 0.01          # m per control period (0.2 m/s at 20 Hz), the sim Franka profile's step_xyz
HORIZON = 150        # control steps per episode
DOWN = np.array([0.0, 1.0, 0.0, 0.0])   # hand pointing down, as in the ready pose (w, x, y, z)


def next_target(target: np.ndarray, direction: str) -> np.ndarray:
    """The next hand target: at most STEP from the last one towards the direction's goal."""
    goal = START + GOAL_OFFSET if direction == "forward" else START
    d = goal - target
    n = np.linalg.norm(d)
    return goal.copy() if n <= STEP else target + d * (STEP / n)


def run_in_process(args) -> list[bool]:
    from .franka_env import FrankaEnv
    env = FrankaEnv(render=False, seed=args.seed)
    solved = []
    for ep in range(args.episodes):
        env.reset(args.direction)
        _, quat = env.arm.ee_pose()
        target = env.ee_position()
        held, ok, steps, tail = 0, False, 0, args.tail_steps
        while continues(steps, args.max_steps or HORIZON, ok, tail):
            if ok:
                tail -= 1
            steps += 1
            target = next_target(target, args.direction)
            env.set_pose_target(target, quat)
            env.control_step()
            if not ok:
                held = held + 1 if env.success(args.direction) else 0
                ok = held >= HOLD
        print(f"episode {ep}: {'solved' if ok else 'FAILED'} in {steps} steps", flush=True)
        solved.append(ok)
    return solved


def run_ros(args, ros_argv) -> list[bool]:
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Bool, Float64MultiArray
    from std_srvs.srv import Trigger

    from . import commander as C
    from . import qos

    rclpy.init(args=ros_argv)
    node = Node("franka_expert")
    latest = {"js": None, "state": None, "success": False, "rsuccess": False}
    node.create_subscription(JointState, "/joint_states", lambda m: latest.__setitem__("js", m), qos.STATE)
    node.create_subscription(Float64MultiArray, "/sim/task_state", lambda m: latest.__setitem__("state", m), qos.STATE)
    node.create_subscription(Bool, "/sim/success", lambda m: latest.__setitem__("success", m.data), qos.STATE)
    node.create_subscription(Bool, "/sim/reverse_success", lambda m: latest.__setitem__("rsuccess", m.data), qos.STATE)
    pose_pub = node.create_publisher(PoseStamped, args.pose_topic, qos.COMMANDS)
    grip_pub = node.create_publisher(Float64MultiArray, args.gripper_topic, qos.COMMANDS)
    reset = node.create_client(Trigger, "/sim/eval_reset" if args.direction == "forward" else "/sim/reset_reverse")

    def spin_until(pred, timeout):
        return C.spin_until(node, pred, timeout)

    def js_time():
        return C.stamp_of(latest["js"])

    C.wait_for_bridge(node, reset, pose_pub, args.timeout, args.pose_topic)
    solved = []
    try:
        for ep in range(args.episodes):
            t_reset = C.reset(node, reset, args.timeout)
            if not spin_until(lambda: js_time() > t_reset, args.timeout):
                raise SystemExit("no joint state after reset")
            target = None
            held, ok, steps, tail = 0, False, 0, args.tail_steps
            next_t = time.monotonic()
            while continues(steps, args.max_steps or HORIZON, ok, tail):
                if ok:
                    tail -= 1
                steps += 1
                if target is None:
                    # the hand's position after the reset: the sim's own (evaluation-only) ground
                    # truth is not needed, the first target is where the controller holds it
                    target = _hand_position(latest["js"])
                target = next_target(target, args.direction)
                msg = PoseStamped()
                msg.header.stamp = latest["js"].header.stamp
                msg.header.frame_id = args.base_frame
                msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in target)
                o = msg.pose.orientation
                o.w, o.x, o.y, o.z = (float(v) for v in DOWN)
                acted_at = js_time()
                grip_pub.publish(Float64MultiArray(data=[MAX_WIDTH]))
                pose_pub.publish(msg)
                if args.lockstep:
                    if not spin_until(lambda: js_time() > acted_at, args.timeout):
                        raise SystemExit("lock-step bridge did not answer a command")
                    spin_until(lambda: False, 0.0)
                else:
                    next_t += 1.0 / args.rate
                    spin_until(lambda: time.monotonic() >= next_t, 2.0)
                if not ok:
                    held = C.success_streak(latest, args.direction, held)
                    ok = held >= HOLD
            print(f"episode {ep}: {'solved' if ok else 'FAILED'} in {steps} steps", flush=True)
            solved.append(ok)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return solved


_CHAIN = None


def _hand_position(js) -> np.ndarray:
    """The hand's centre point for a joint state, by MuJoCo's forward kinematics."""
    global _CHAIN
    import mujoco
    from .franka import ARM_JOINTS, FrankaArm
    if _CHAIN is None:
        _CHAIN = FrankaArm()
    arm = _CHAIN
    q = np.array([js.position[list(js.name).index(n)] for n in ARM_JOINTS])
    arm.data.qpos[arm.qadr] = q
    mujoco.mj_kinematics(arm.model, arm.data)
    return arm.data.site_xpos[arm.site].copy()


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    from rclpy.utilities import remove_ros_args
    p = argparse.ArgumentParser(prog="python -m mbarl_sim.franka_expert", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--direction", default="forward", choices=("forward", "reverse"))
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=0, help=f"control steps per episode (0: {HORIZON})")
    p.add_argument("--lockstep", action="store_true", help="the bridge runs with lockstep:=true")
    p.add_argument("--rate", type=float, default=20.0, help="command rate in real-time mode (Hz)")
    p.add_argument("--tail-steps", type=int, default=0)
    p.add_argument("--in-process", action="store_true", help="no ROS: step a FrankaEnv directly")
    p.add_argument("--seed", type=int, default=0, help="--in-process only")
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--pose-topic", default="/cartesian_controller/target_pose")
    p.add_argument("--gripper-topic", default="/gripper_controller/commands")
    p.add_argument("--base-frame", default="panda0_link0")
    args = p.parse_args(remove_ros_args(argv)[1:])
    solved = run_in_process(args) if args.in_process else run_ros(args, argv)
    n = len(solved)
    print(f"franka_reach {args.direction}: solved {sum(solved)}/{n}", flush=True)
    return 0 if n and sum(solved) >= 0.95 * n else 1


if __name__ == "__main__":
    sys.exit(main())
