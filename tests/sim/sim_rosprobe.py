"""Test helpers: a sim bridge in a subprocess and a probe node (plain rclpy defaults) that talks
to it through real DDS, each pair in its own rclpy context and ROS domain."""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState
from std_msgs.msg import Bool, Float64, Float64MultiArray, UInt64
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

SIM_DIR = Path(__file__).resolve().parents[2] / "sim"
sys.path.insert(0, str(SIM_DIR.parent / "tests"))
from domains import domain  # noqa: E402  (the tests' ROS domain ids: slot + run offset)
_domains = itertools.count()
SIM_SLOTS = range(104, 116)


def next_domain_id() -> int:
    """The next of this run's sim-test ROS domains (slots 104..115 in turn, tests/domains.py)."""
    return domain(SIM_SLOTS[next(_domains) % len(SIM_SLOTS)])

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)

TOPICS = {
    "/joint_states": JointState,
    "/camera/image_raw": Image,
    "/camera/image_raw/compressed": CompressedImage,
    "/camera/camera_info": CameraInfo,
    "/clock": Clock,
    "/sim/success": Bool,
    "/sim/reverse_success": Bool,
    "/sim/task_reward": Float64,
    "/sim/task_state": Float64MultiArray,
}
LATCHED_TOPICS = {"/sim/reset_count": UInt64, "/sim/rejected_commands": UInt64}


def stamp_s(msg) -> float:
    s = msg.header.stamp if hasattr(msg, "header") else msg.clock
    return s.sec + s.nanosec * 1e-9


class Probe:
    """Subscribes with rclpy's default QoS (depth 10 = RELIABLE, VOLATILE), as any node would."""

    def __init__(self, domain_id: int):
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = Node("sim_test_probe", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.msgs = defaultdict(list)
        for topic, typ in TOPICS.items():
            self.node.create_subscription(typ, topic, self._store(topic), 10)
        self.latched = {}
        for topic, typ in LATCHED_TOPICS.items():
            self.subscribe_latched(topic, typ)
        self.cmd = self.node.create_publisher(Float64MultiArray, "/arm_controller/commands", 10)
        self.traj = self.node.create_publisher(JointTrajectory, "/arm_controller/joint_trajectory", 10)
        self.eval_reset = self.node.create_client(Trigger, "/sim/eval_reset")
        self.reset_reverse = self.node.create_client(Trigger, "/sim/reset_reverse")

    def _store(self, topic):
        return lambda m: self.msgs[topic].append(m)

    def subscribe_latched(self, topic, typ):
        self.latched[topic] = []
        return self.node.create_subscription(typ, topic, lambda m: self.latched[topic].append(m.data), LATCHED)

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)

    def until(self, pred, timeout: float = 15.0) -> bool:
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end:
                return False
            self.executor.spin_once(timeout_sec=0.01)
        return True

    def last(self, topic):
        return self.msgs[topic][-1] if self.msgs[topic] else None

    def clear(self) -> None:
        self.msgs.clear()

    def send(self, values) -> None:
        self.cmd.publish(Float64MultiArray(data=[float(v) for v in values]))

    def call(self, client, timeout: float = 10.0):
        assert client.wait_for_service(timeout_sec=timeout), "service not available"
        fut = client.call_async(Trigger.Request())
        self.until(fut.done, timeout)
        assert fut.done(), "service call timed out"
        return fut.result()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


class SimProcess:
    """`python -m <module> --ros-args ...` in its own ROS domain, plus a Probe in that domain."""

    def __init__(self, module: str, *ros_args: str):
        self.domain_id = next_domain_id()
        env = dict(os.environ, ROS_DOMAIN_ID=str(self.domain_id), PYTHONPATH=str(SIM_DIR),
                   PYTHONUNBUFFERED="1")
        self.log = tempfile.NamedTemporaryFile("w+", prefix=module.split(".")[-1] + "_", suffix=".log",
                                               delete=False)
        self.proc = subprocess.Popen([sys.executable, "-m", module, "--ros-args", *ros_args],
                                     cwd=SIM_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.probe = Probe(self.domain_id)

    def ready(self, timeout: float = 30.0) -> "Bridge":
        """Wait until joint states flow and our command publisher is matched."""
        ok = self.probe.until(lambda: self.probe.last("/joint_states") is not None
                              and self.probe.cmd.get_subscription_count() > 0
                              and self.probe.traj.get_subscription_count() > 0, timeout)
        assert ok, f"bridge not ready:\n{self.output()}"
        return self

    def output(self) -> str:
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()[-4000:]

    def stop(self) -> int:
        """SIGINT, then up to 20 s for a clean exit (a loaded 2-core CI machine once took more
        than 10), else SIGKILL; the return code (-9 after a kill). After a kill or any other
        non-zero exit, its log's tail is printed."""
        self.probe.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.log.seek(0)
                print(f"{self.proc.args[2]} did not exit within 20 s of SIGINT; its log ends:\n"
                      + "".join(self.log.readlines()[-30:]), flush=True)
        if self.proc.returncode not in (0, -9):
            self.log.seek(0)
            print(f"{self.proc.args[2]} exited with {self.proc.returncode}; its log ends:\n"
                  + "".join(self.log.readlines()[-30:]), flush=True)
        self.log.close()
        os.unlink(self.log.name)
        return self.proc.returncode


class Bridge(SimProcess):
    """The MuJoCo sim bridge: `python -m mbarl_sim.bridge --ros-args ...`."""

    def __init__(self, *ros_args: str):
        super().__init__("mbarl_sim.bridge", *ros_args)


class FrankaBridge(SimProcess):
    """The simulated Panda's bridge: `python -m mbarl_sim.franka_bridge --ros-args ...`."""

    def __init__(self, *ros_args: str):
        super().__init__("mbarl_sim.franka_bridge", *ros_args)

    def ready(self, timeout: float = 30.0) -> "FrankaBridge":
        """Wait until joint states flow."""
        ok = self.probe.until(lambda: self.probe.last("/joint_states") is not None, timeout)
        assert ok, f"franka bridge not ready:\n{self.output()}"
        return self
