"""franka_bridge: an rclpy node that makes the simulated Panda (franka_env.FrankaEnv) look like a
Franka arm under a Cartesian impedance controller, with a gripper and a camera.

Robot-facing interface:
  pub  /joint_states                        sensor_msgs/JointState  (panda_joint1..7, panda_finger_joint1..2)
  pub  /camera/image_raw, /camera/camera_info  rgb8 frames from the fixed camera "front"
  pub  /clock                               rosgraph_msgs/Clock     (sim time)
  sub  /cartesian_controller/target_pose    geometry_msgs/PoseStamped  hand target (base frame)
  sub  /gripper_controller/commands         std_msgs/Float64MultiArray [width, m]
Sim-only evaluation interface (never used by training):
  pub  /sim/success, /sim/reverse_success, /sim/task_reward, /sim/reverse_reward, /sim/task_state
  pub  /sim/reset_count, /sim/rejected_commands  (latched)
  srv  /sim/eval_reset, /sim/reset_reverse  std_srvs/Trigger

Modes as the 4-joint arm's bridge (bridge.py): real time (physics paced to the wall clock, the
last target held, a command timeout holds the current pose) or lock-step (one control period
per accepted pose target). Defaults and parameters: sim/config/franka_bridge.yaml.
"""
from __future__ import annotations

import sys
import threading
import time

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger

from . import messages as M
from . import qos
from .config import CONFIG_DIR, declare, load_defaults
from .franka_env import FrankaEnv
from .process import spin_then_exit
from .sim_topics import BridgeCommon, SimTopics

DEFAULTS_FILE = CONFIG_DIR / "franka_bridge.yaml"


def check_pose(msg: PoseStamped, frame: str, lower, upper) -> str | None:
    """Why a pose target is refused (None: it is fine)."""
    p, q = msg.pose.position, msg.pose.orientation
    pos, quat = np.array([p.x, p.y, p.z]), np.array([q.w, q.x, q.y, q.z])
    if msg.header.frame_id not in ("", frame):
        return f"frame {msg.header.frame_id!r}, expected {frame!r}"
    if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(quat))):
        return "non-finite values"
    if abs(np.linalg.norm(quat) - 1.0) > 1e-3:
        return f"quaternion of norm {np.linalg.norm(quat):.4f}, not 1"
    if np.any(pos < lower) or np.any(pos > upper):
        return f"position {pos.round(3).tolist()} outside [{lower.tolist()}, {upper.tolist()}]"
    return None


class FrankaBridge(BridgeCommon, Node):
    def __init__(self, params: dict | None = None):
        overrides = [Parameter(k, value=v) for k, v in (params or {}).items()]
        super().__init__("franka_bridge", parameter_overrides=overrides)
        self.cfg = c = declare(self, load_defaults(DEFAULTS_FILE, "franka_bridge"))
        if self.get_parameter("use_sim_time").value:
            self.get_logger().warning("use_sim_time ignored: franka_bridge publishes /clock itself")
            self.set_parameters([Parameter("use_sim_time", value=False)])
        self.lockstep = bool(c["lockstep"])
        self.env = FrankaEnv(c["task"], control_rate=c["control_rate"], image_width=c["image_width"],
                             image_height=c["image_height"], render=c["publish_image"], seed=c["seed"],
                             init_radius=c["init_radius"])
        self.lower, self.upper = np.array(c["target_min"]), np.array(c["target_max"])
        self.lock = threading.RLock()
        self.reset_count = self.rejected = 0
        self.last_cmd_time = self.env.time
        self.holding = True
        self.last_publish_wall = 0.0
        self.cached = []
        self._running = True
        self.failure = None

        self.pub_clock = self.create_publisher(Clock, "/clock", qos.STATE)
        self.pub_js = self.create_publisher(JointState, c["joint_states_topic"], qos.STATE)
        self.pub_img = self.create_publisher(Image, c["image_topic"], qos.SENSOR) if c["publish_image"] else None
        self.pub_info = self.create_publisher(CameraInfo, c["camera_info_topic"], qos.SENSOR)
        self.sim = SimTopics(self)
        self.info_msg = M.camera_info(M.stamp(0.0), c["camera_frame_id"], self.env.width,
                                      self.env.height, self.env.camera_fovy())

        self.create_subscription(PoseStamped, c["target_pose_topic"], self._on_pose, qos.COMMANDS)
        self.create_subscription(Float64MultiArray, c["gripper_topic"], self._on_gripper, qos.COMMANDS)
        self.create_service(Trigger, "/sim/eval_reset", lambda req, res: self._on_reset("forward", res))
        self.create_service(Trigger, "/sim/reset_reverse", lambda req, res: self._on_reset("reverse", res))
        self.get_logger().info(
            f"task={c['task']} mode={'lock-step' if self.lockstep else 'real-time'} control={c['control_rate']} Hz "
            f"image={self.env.width}x{self.env.height} pose targets on {c['target_pose_topic']}")
        if self.lockstep:
            self.env.time += self.env.control_period   # never a zero stamp (see bridge.py)
            self._publish_state(render=True)
            self.create_timer(c["republish_period"], self._republish_if_idle)
            self.thread = None
        else:
            self.thread = threading.Thread(target=self._realtime_loop, name="franka_realtime", daemon=True)
            self.thread.start()

    def _publish_state(self, render: bool, sim_topics: bool = True) -> None:
        env, c = self.env, self.cfg
        t = M.stamp(env.time)
        js = M.joint_state(t, env.joint_names, env.joint_positions(), env.joint_velocities(), env.joint_efforts())
        out = [(self.pub_clock, M.clock(t))]
        if sim_topics:
            out += self.sim.messages(env, t, env.state_names)
        if render and env.can_render and self.pub_img is not None:
            out.append((self.pub_img, M.image(t, c["camera_frame_id"], env.render())))
            self.info_msg.header.stamp = t
            out.append((self.pub_info, self.info_msg))
        out.append((self.pub_js, js))   # last: a commander waiting for it has the rest
        for pub, msg in out:
            pub.publish(msg)
        if self.lockstep:
            self.cached = out
            self.last_publish_wall = time.monotonic()

    def _on_pose(self, msg: PoseStamped) -> None:
        why = check_pose(msg, self.cfg["base_frame_id"], self.lower, self.upper)
        if why:
            self._reject(self.cfg["target_pose_topic"], why)
            return
        p, q = msg.pose.position, msg.pose.orientation
        with self.lock:
            self.env.set_pose_target([p.x, p.y, p.z], [q.w, q.x, q.y, q.z])
            if self.lockstep:
                self.env.control_step()
                self._publish_state(render=True)
            else:
                self.last_cmd_time = self.env.time
                self.holding = False

    def _on_gripper(self, msg: Float64MultiArray) -> None:
        if len(msg.data) != 1 or not np.isfinite(msg.data[0]):
            self._reject(self.cfg["gripper_topic"], f"expected one finite width, got {list(msg.data)}")
            return
        with self.lock:
            self.env.set_gripper(msg.data[0])

    def _hold_here(self) -> None:
        self.env.set_pose_target(*self.env.arm.ee_pose())

    def close(self) -> None:
        self._running = False
        if self.thread is not None:
            self.thread.join(timeout=2.0)
        else:
            self.env.close()


def main(argv=None) -> None:
    rclpy.init(args=sys.argv if argv is None else argv)
    node = FrankaBridge()
    spin_then_exit(node, "franka_bridge", close=node.close, failed=lambda: node.failure is not None)


if __name__ == "__main__":
    main()
