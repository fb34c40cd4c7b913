"""Launch mbarl with the MuJoCo simulated arm (`ros2 launch`), as `mbarl launch
config/launch/sim_reach_state.yaml` does without ROS 2 tooling.

    ros2 launch launch/sim.launch.py task:=push preset:=state lockstep:=true
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def generate_launch_description():
    task = LaunchConfiguration("task")
    lockstep = LaunchConfiguration("lockstep")
    args = [
        DeclareLaunchArgument("task", default_value="reach", description="reach | push | door"),
        DeclareLaunchArgument("lockstep", default_value="true", description="one control step per command"),
        DeclareLaunchArgument("preset", default_value="state"),
        DeclareLaunchArgument("run_dir", default_value=os.path.join(ROOT, "runs/sim")),
        DeclareLaunchArgument("task_reward_topic", default_value="/sim/task_reward",
                              description="the sim's dense task reward (empty: goal classifier)"),
    ]
    bridge = ExecuteProcess(
        cmd=["python3", "-m", "mbarl_sim.bridge", "--ros-args", "-p", ["task:=", task], "-p", ["lockstep:=", lockstep]],
        additional_env={"PYTHONPATH": os.path.join(ROOT, "sim"), "MUJOCO_GL": "egl"},
        output="screen",
    )
    def suite(context):
        # the task's parameters file (config/tasks/TASK.yaml: its workspace box), where it has one
        task_file = os.path.join(ROOT, "config/tasks", task.perform(context) + ".yaml")
        return [IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(HERE, "arm.launch.py")),
            launch_arguments={
                "robot_profile": os.path.join(ROOT, "config/robots/sim_arm.yaml"),
                "task_params": task_file if os.path.exists(task_file) else "",
                "preset": LaunchConfiguration("preset"),
                "run_dir": LaunchConfiguration("run_dir"),
                "task_reward_topic": LaunchConfiguration("task_reward_topic"),
            }.items(),
        )]

    return LaunchDescription(args + [bridge, OpaqueFunction(function=suite)])
