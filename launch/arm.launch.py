"""Launch mbarl on a real arm with ros2_control and a camera (`ros2 launch`).

    ros2 launch launch/arm.launch.py robot_profile:=/path/to/my_arm.yaml preset:=pixels run_dir:=/data/runs/peg
    (task_params:=/path/to/my_task.yaml: a second parameters file over the profile, e.g. the
    task's workspace box as in config/tasks/reach.yaml)

The arm driver (ros2_control with a forward_command_controller or joint_trajectory_controller)
and the camera driver run as usual; mbarl only talks to their standard topics:
/joint_states, /camera/image_raw (or .../compressed), /arm_controller/commands (remap to your
controller). Build the nodes first (see docs/real-arm.md).
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# The six mbarl nodes: (package, executable, node name).
NODES = [
    ("camera_encoder", "camera_encoder", "camera_encoder"),
    ("world_model", "world_model", "world_model"),
    ("policy", "forward_policy", "forward_policy"),
    ("policy", "backward_policy", "backward_policy"),
    ("demo_classifier", "demo_classifier", "demo_classifier"),
    ("phase_arbiter", "phase_arbiter", "phase_arbiter"),
]


def generate_launch_description():
    preset = LaunchConfiguration("preset")
    run_dir = LaunchConfiguration("run_dir")
    command_topic = LaunchConfiguration("command_topic")
    task_reward_topic = LaunchConfiguration("task_reward_topic")
    args = [
        DeclareLaunchArgument("robot_profile", default_value=os.path.join(ROOT, "config/robots/generic_ros2_control_arm.yaml"),
                              description="robot profile params file (joints, limits, command interface)"),
        DeclareLaunchArgument("task_params", default_value="",
                              description="a task's params file read after the robot profile (its "
                                          "values win), e.g. a workspace box around the task; "
                                          "empty: none"),
        DeclareLaunchArgument("preset", default_value="pixels", description="algorithm preset in config/presets/"),
        DeclareLaunchArgument("run_dir", default_value=os.path.join(ROOT, "runs/arm"), description="run directory"),
        DeclareLaunchArgument("command_topic", default_value="/arm_controller/commands",
                              description="your controller's command topic"),
        DeclareLaunchArgument("task_reward_topic", default_value="",
                              description="std_msgs/Float64 task reward of your robot, if it has one "
                                          "(empty: the goal classifier gives the forward reward)"),
    ]
    # With a task reward the arbiter stamps it into every transition and the forward policy uses it.
    extra = {
        "phase_arbiter": {"task_reward_topic": task_reward_topic},
        "forward_policy": {"use_transition_task_reward": ParameterValue(
            PythonExpression(["'", task_reward_topic, "' != ''"]), value_type=bool)},
    }
    preset_file = PathJoinSubstitution([ROOT, "config/presets", [preset, ".yaml"]])

    def nodes(context):
        # the robot profile, then the task's file where one is given (the later file wins)
        files = [LaunchConfiguration(a).perform(context) for a in ("robot_profile", "task_params")]
        files = [f for f in files if f]
        return [
            Node(
                package=package,
                executable=executable,
                name=name,
                output="screen",
                respawn=True,        # a crashed node restarts; the arbiter holds the arm meanwhile
                respawn_delay=2.0,
                parameters=[*files, preset_file, {"run_dir": run_dir, **extra.get(name, {})}],
                remappings=[("/arm_controller/commands", command_topic)],
            )
            for package, executable, name in NODES
        ]

    return LaunchDescription(args + [OpaqueFunction(function=nodes)])
