"""gz_relay: ros2_control-style command topics for the Gazebo version of the push task.

ros_gz_bridge has no std_msgs/Float64MultiArray mapping, so with Gazebo this node offers
/arm_controller/commands (Float64MultiArray position targets) and
/arm_controller/joint_trajectory (JointTrajectory), validates them exactly like the MuJoCo bridge
(wrong length, NaN/inf, beyond limits: rejected, logged, counted on /sim/rejected_commands) and
forwards them as trajectory_msgs/JointTrajectory on /gz/arm_controller/joint_trajectory, which
ros_gz_bridge hands to Gazebo's JointTrajectoryController. A position command becomes a
one-point trajectory reaching the target after one control period.

    python -m mbarl_sim.gz_relay --ros-args -p use_sim_time:=true
Parameters: the bridge's (sim/config/bridge.yaml: joint names/limits, topics, control_rate) plus
`gz_trajectory_topic`.
"""
from __future__ import annotations

import sys

import numpy as np
import rclpy
from builtin_interfaces.msg import Duration
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray, UInt64
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from . import qos
from .commands import check_positions, parse_trajectory
from .config import declare, load_defaults
from .process import spin_then_exit


class GzRelay(Node):
    def __init__(self):
        super().__init__("gz_relay")
        defaults = load_defaults()
        defaults["gz_trajectory_topic"] = "/gz/arm_controller/joint_trajectory"
        self.cfg = c = declare(self, defaults)
        self.names = list(c["joint_names"])
        self.lower, self.upper = np.array(c["joint_lower"]), np.array(c["joint_upper"])
        self.period_ns = int(round(1e9 / c["control_rate"]))
        self.rejected = 0
        self.last = None
        self.out = self.create_publisher(JointTrajectory, c["gz_trajectory_topic"], qos.COMMANDS)
        self.pub_rejected = self.create_publisher(UInt64, "/sim/rejected_commands", qos.LATCHED)
        self.pub_rejected.publish(UInt64(data=0))
        self.create_subscription(Float64MultiArray, c["command_topic"], self._on_command, qos.COMMANDS)
        self.create_subscription(JointTrajectory, c["trajectory_topic"], self._on_trajectory, qos.COMMANDS)

    def _reject(self, source, why):
        self.rejected += 1
        self.get_logger().error(f"rejected {source} command, not applied: {why} ({self.rejected} rejected so far)")
        self.pub_rejected.publish(UInt64(data=self.rejected))

    def _on_command(self, msg):
        why = check_positions(msg.data, self.lower, self.upper)
        if why:
            return self._reject(self.cfg["command_topic"], why)
        self.last = [float(v) for v in msg.data]
        point = JointTrajectoryPoint(positions=self.last,
                                     time_from_start=Duration(sec=0, nanosec=self.period_ns))
        self.out.publish(JointTrajectory(joint_names=self.names, points=[point]))

    def _on_trajectory(self, msg):
        if not msg.points:   # "stop": passed on as it is, like the MuJoCo bridge's hold
            self.out.publish(JointTrajectory(joint_names=self.names))
            return
        points = [(p.positions, p.time_from_start.sec + p.time_from_start.nanosec * 1e-9) for p in msg.points]
        traj, why = parse_trajectory(msg.joint_names, points, self.names, self.lower, self.upper,
                                     start=np.zeros(len(self.names)))
        if why:
            return self._reject(self.cfg["trajectory_topic"], why)
        out = JointTrajectory(joint_names=self.names)
        for t, q in zip(traj.times, traj.positions):
            ns = int(round(t * 1e9))
            out.points.append(JointTrajectoryPoint(
                positions=[float(v) for v in q],
                time_from_start=Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)))
        self.out.publish(out)


def main(argv=None) -> None:
    rclpy.init(args=sys.argv if argv is None else argv)
    spin_then_exit(GzRelay(), "gz_relay")

if __name__ == "__main__":
    main()
