"""Gazebo Harmonic version of the mbarl push task (for users who have Gazebo; not run here).

    ros2 launch sim/gazebo/gazebo_push.launch.py [gui:=false]

Starts `gz sim` on push_world.sdf, ros_gz_bridge with ros_gz_bridge.yaml, image_transport's
republish node for /camera/image_raw/compressed, and mbarl_sim.gz_relay, which offers
/arm_controller/commands and /arm_controller/joint_trajectory. Needs ros-jazzy-ros-gz-sim,
ros-jazzy-ros-gz-bridge, ros-jazzy-image-transport(-plugins) and Gazebo Harmonic.
Only the robot-facing topics exist here: no /sim/... evaluation topics and no lock-step mode.
"""
import os
import sys

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

HERE = os.path.dirname(os.path.abspath(__file__))
SIM_DIR = os.path.dirname(HERE)
WORLD = os.path.join(HERE, "push_world.sdf")
BRIDGE_YAML = os.path.join(HERE, "ros_gz_bridge.yaml")


def generate_launch_description():
    gui = LaunchConfiguration("gui")
    return LaunchDescription([
        DeclareLaunchArgument("gui", default_value="false", description="open the Gazebo GUI"),
        ExecuteProcess(cmd=["gz", "sim", "-r", WORLD], condition=IfCondition(gui), output="screen"),
        ExecuteProcess(cmd=["gz", "sim", "-r", "-s", "--headless-rendering", WORLD],
                       condition=UnlessCondition(gui), output="screen"),
        Node(package="ros_gz_bridge", executable="parameter_bridge", name="ros_gz_bridge",
             parameters=[{"config_file": BRIDGE_YAML, "use_sim_time": True}], output="screen"),
        Node(package="image_transport", executable="republish", name="camera_compressor",
             arguments=["raw", "compressed"],
             remappings=[("in", "/camera/image_raw"), ("out/compressed", "/camera/image_raw/compressed")],
             parameters=[{"use_sim_time": True}]),
        ExecuteProcess(cmd=[sys.executable, "-m", "mbarl_sim.gz_relay", "--ros-args", "-p", "use_sim_time:=true"],
                       additional_env={"PYTHONPATH": SIM_DIR}, output="screen"),
    ])
