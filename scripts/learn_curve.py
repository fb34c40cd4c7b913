#!/usr/bin/env python3
"""Learning-curve experiments (EARL protocol) on the simulated arm: for a task, runs the agents
with the same seeds and writes a results table, a CSV and a PNG (through `mbarl eval`).

Agents:
  mbarl  model-based (MBPO rollouts through the world model), this suite's default
  medal  model-free MEDAL: the same code with `model_based: false`
  naive  forward-only: no backward policy, forward phases follow each other without resets
  bc     behaviour cloning on the demonstrations alone (no RL: `alm.rl_weight` 0), forward-only

Per run: a training sim (lock-step) with the whole suite (`mbarl launch`), an evaluation sim in
its own ROS domain where `deployed_eval` deploys the newest forward policy from the forward
initial-state distribution whenever a new checkpoint appears (it never feeds training), and a
probe on the training domain that averages /sim/task_reward over every step (the continuing,
lifetime average reward) and reads /sim/reset_count (must stay 0). Ground truth (/sim/*) is
only read here, never by the learners.

When the arbiter asks for help (a NeedsHelp row in metrics/phases.csv), `--on-help` decides:
`reset` (default) stands in for the operator: the training sim is reset to the forward initial
distribution (/sim/eval_reset, counted in /sim/reset_count and the results' resets column)
and `mbarl resume --scene-reset` lets the arbiter go on with a forward phase (a run that asks
again after `--max-help-resets` such resets ends); `stop` ends the run there; `wait` leaves it holding until its budget (no operator).

  scripts/learn_curve.sh --task reach --obs state --agents mbarl,medal,naive --seeds 0,1,2

Run with the ROS venv's python (scripts/learn_curve.sh does the set-up and the release build).
SIGINT (Ctrl-C) or SIGTERM ends the current run as its budget would (processes stopped, reset
count read, summary and results table written) and starts no further run.
"""
import argparse
import csv
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim_probe_report import practice  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
PY = os.environ.get("MBARL_ROS_PYTHON", sys.executable)
ROUND = re.compile(r"deployed success (\d+)/(\d+) .*after (\d+) env steps")
# per task: phase budget (steps) and deployed-episode length
TASKS = {"reach": (80, 100), "push": (200, 200), "push_rail": (200, 200), "push_pen": (200, 200), "door": (200, 200),
         "franka_reach": (80, 100)}
# Fully observed state (EARL's state observations): the sim's low-dim task state (end effector,
# objects, goal; `sim_time` in front pairs it by stamp) joins the joint positions and
# velocities. On by default where joints alone cannot show the task (push, push_rail, push_pen, door).
STATE_TOPIC = "/sim/task_state"
# The task reward the learners train with (the arbiter's task_reward_topic). Demonstrations
# are recorded with it by default, as EARL's demonstrations carry their rewards: without it the
# world model's reward head labels them, extrapolating to states (the block at the goal) that
# the learners' own data reaches late or never.
REWARD_TOPIC = "/sim/task_reward"
# The sim's reverse-task reward: with `--backward-reward sim` the backward policy's reward (and
# its demonstrations'), instead of the demo-state classifier. A real arm has no such reward.
REVERSE_REWARD_TOPIC = "/sim/reverse_reward"
TASK_STATE_DEFAULT = {"reach": False, "push": True, "push_rail": True, "push_pen": True, "door": True,
                      "franka_reach": False}
# The arbiter's object rule (object_state_indices/object_lower/object_upper): the block's x, y,
# z in the task state (sim/mbarl_sim/tasks.py, PushTask.state) must stay over the table
# (sim/assets/arm_scene.xml: x -0.13..0.77, y -0.5..0.5, top at z = 0); a block pushed off it
# cannot come back, and the arbiter asks for help instead of training on for nothing.
BLOCK_ON_TABLE = {"object_state_indices": [3, 4, 5], "object_lower": [-0.13, -0.5, -0.05],
                  "object_upper": [0.77, 0.5, 0.3]}
TASK_OBJECT = {"push": BLOCK_ON_TABLE, "push_rail": BLOCK_ON_TABLE, "push_pen": BLOCK_ON_TABLE}


class StopRequest:
    """SIGINT or SIGTERM: the current run ends as if its budget ran out (its processes stopped,
    the reset count read, its summary and the results table written) and no further run starts.
    SIGINT too, since a process started in the background of a script ignores it by default."""

    requested = False

    @classmethod
    def install(cls):
        def handler(signum, _frame):
            print(f"learn_curve: {signal.Signals(signum).name}: stopping after this run's "
                  f"clean-up", flush=True)
            cls.requested = True
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, handler)


def preset_override(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, yaml.safe_load(value)


EXPERIMENT_DEFAULTS = ROOT / "config/experiments"


def task_defaults_path(task, obs):
    return EXPERIMENT_DEFAULTS / f"{task}_{obs}.yaml"


def task_defaults(task, obs):
    """The measured settings for a task and observation mode (config/experiments/TASK_OBS.yaml):
    (learn-config overrides, node parameters) in --set and --param form, to go before the
    command line's so that those win; empty for a task without such a file."""
    path = task_defaults_path(task, obs)
    if not path.exists():
        return [], []
    doc = yaml.safe_load(path.read_text()) or {}
    unknown = set(doc) - {"learn_config", "node_params"}
    if unknown:
        raise SystemExit(f"{path}: unknown sections {sorted(unknown)} (learn_config, node_params)")
    overrides = list((doc.get("learn_config") or {}).items())
    params = []
    for key, value in (doc.get("node_params") or {}).items():
        parts = split_node_key(key)
        if parts is None:
            raise SystemExit(f"{path}: expected NODE.PARAM, got {key!r}")
        params.append((*parts, value))
    return overrides, params


def with_task_defaults(task, obs, cli_set, cli_param):
    """--set and --param lists with the task's defaults in front (applied first, so the command
    line's win); says what it added."""
    overrides, params = task_defaults(task, obs)
    if overrides or params:
        print(f"[learn_curve] defaults for {task}/{obs} from {task_defaults_path(task, obs)}: "
              f"{dict(overrides)} "
              f"{[f'{n}.{k}={v}' for n, k, v in params]}", flush=True)
    return overrides + list(cli_set), params + list(cli_param)


def task_state_dim(task):
    sys.path.insert(0, str(ROOT / "sim"))
    if is_franka(task):
        from mbarl_sim.franka_env import STATE_NAMES
        return len(STATE_NAMES)
    from mbarl_sim.tasks import TASKS as SIM_TASKS
    return len(SIM_TASKS[task].state_names)


def is_franka(task):
    """franka_* tasks run on the simulated Panda (sim/mbarl_sim/franka_bridge.py) in end-effector
    space; the others on the 4-joint arm."""
    return task.startswith("franka_")


def bridge_module(task):
    return "mbarl_sim.franka_bridge" if is_franka(task) else "mbarl_sim.bridge"


def env(domain):
    e = dict(os.environ)
    e.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
             PYTHONPATH=f"{ROOT / 'sim'}:{e.get('PYTHONPATH', '')}",
             MUJOCO_GL=e.get("MUJOCO_GL", "egl"), PATH=f"{TARGET}:{e['PATH']}")
    return e


def stop(proc, timeout=30):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def record_demos(task, demo_dir, domain, state_topic, reward_topic, init_radius=None, episodes=10,
                 reverse_start="task", backward_reward_topic="", tail_steps=0):
    if (demo_dir / "demos" / "forward" / task / "dataset.yaml").exists():
        return
    spread = [] if init_radius is None else ["--bridge-param", f"init_radius:={init_radius}"]
    spread += ["--bridge-param", f"reverse_start:={reverse_start}"]
    subprocess.run(["bash", str(ROOT / "sim/record_demos.sh"), "--task", task, "--episodes", str(episodes),
                    "--run-dir", str(demo_dir), "--domain", str(domain),
                    "--mbarl", str(TARGET / "mbarl"), "--state-topic", state_topic,
                    "--reward-topic", reward_topic, "--backward-reward-topic",
                    backward_reward_topic, "--tail-steps", str(tail_steps), *spread],
                   env=env(domain), check=True)


def split_node_key(key):
    """NODE.PARAM -> (node, param); None when either part is missing."""
    node, dot, name = key.partition(".")
    return (node, name) if dot and node and name else None


def node_param(text):
    key, value = preset_override(text)
    parts = split_node_key(key)
    if parts is None:
        raise argparse.ArgumentTypeError(f"expected NODE.PARAM=VALUE, got {text!r}")
    return *parts, value


LAUNCH_TEMPLATE = ROOT / "config/launch/sim_reach_state.yaml"
ROBOT_PROFILE = ROOT / "config/robots/sim_arm.yaml"
FRANKA_PROFILE = ROOT / "config/robots/sim_franka.yaml"
# The presets count the 4-joint arm's joint values; the Panda has 7 arm joints.
ARM_JOINTS = {"sim_arm": 4, "franka": 7}


def params_files(task):
    """The parameters files of a run on `task`, for the suite and deployed_eval alike: the robot
    profile, then config/tasks/TASK.yaml (the task's workspace box) where it exists."""
    task_file = ROOT / "config/tasks" / f"{task}.yaml"
    profile = FRANKA_PROFILE if is_franka(task) else ROBOT_PROFILE
    return [profile] + ([task_file] if task_file.exists() else [])


AGENTS = ("mbarl", "medal", "naive", "bc")
FORWARD_ONLY = ("naive", "bc")


def write_launch(run_dir, task, obs, agent, seed, domain, phase_steps, state_topic, overrides,
                 node_params=()):
    preset = yaml.safe_load((ROOT / f"config/presets/{obs}.yaml").read_text())
    preset["seed"] = seed
    if agent == "bc":
        preset.setdefault("alm", {})["rl_weight"] = 0.0
    if is_franka(task):
        # the same values per joint (positions, velocities…) for the Panda's 7 joints
        for key in ("state_dim", "proprio_dim"):
            if key in preset["obs"]:
                preset["obs"][key] = preset["obs"][key] // ARM_JOINTS["sim_arm"] * ARM_JOINTS["franka"]
    if state_topic:
        # the preset's state_dim counts the arm's joint values (config/presets/state.yaml); the
        # task state comes in front of them
        preset["obs"]["state_dim"] += task_state_dim(task)
    for key, value in overrides:
        *path, last = key.split(".")
        node = preset
        for k in path:
            node = node.setdefault(k, {})
        node[last] = value
    (run_dir / "preset.yaml").write_text(yaml.safe_dump(preset, sort_keys=False))
    launch = yaml.safe_load(LAUNCH_TEMPLATE.read_text())
    # the robot profile, then this task's parameters file where it has one (not the template's)
    launch["params_files"] = [str(f) for f in params_files(task)]
    launch["run_dir"] = str(run_dir)
    launch["ros_domain_id"] = domain
    launch["params"]["run_dir"] = str(run_dir)
    launch["params"]["learn_config"] = str(run_dir / "preset.yaml")
    procs = []
    for p in launch["processes"]:
        params = p.setdefault("params", {})
        if p["name"] == "sim_bridge":
            params["task"] = task
            p["cmd"] = p["cmd"][:-1] + [bridge_module(task)]
            if is_franka(task):
                # frames as the demonstrations' (sim/record_demos.sh) and the arm's
                params.update(image_width=64, image_height=64)
        if p["name"] == "camera_encoder" and state_topic:
            params["state_topic"] = state_topic
        if p["name"] == "phase_arbiter":
            params.update(forward_steps=phase_steps, backward_steps=phase_steps,
                          forward_only=agent in FORWARD_ONLY)
            if state_topic:
                params.update(TASK_OBJECT.get(task, {}))
        if p["name"] in ("forward_policy", "backward_policy"):
            params["model_based"] = agent not in ("medal", "bc")
        if agent in FORWARD_ONLY and p["name"] == "backward_policy":
            continue
        params.update({name: v for node, name, v in node_params if node == p["name"]})
        procs.append(p)
    launch["processes"] = procs
    path = run_dir / "launch.yaml"
    path.write_text(yaml.safe_dump(launch, sort_keys=False))
    return path


class TrainingProbe:
    """Averages /sim/task_reward over every step and reads /sim/reset_count. With a `csv_path`
    it also logs every training step's ground truth (the sim's task state, forward success and
    reward) for diagnosis: where the object is when phases start, whether forward phases ever
    reach the goal. Nothing here is a training input."""

    def __init__(self, domain, csv_path=None):
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import Bool, Float64, Float64MultiArray, UInt64

        self.rclpy = rclpy
        self.ctx = Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = rclpy.create_node("learn_curve_probe", context=self.ctx)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        self.reward_sum, self.reward_n, self.resets = 0.0, 0, None
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(Float64, "/sim/task_reward", self._reward, 100)
        self.node.create_subscription(UInt64, "/sim/reset_count",
                                      lambda m: setattr(self, "resets", m.data), latched)
        self.csv, self.state, self.success, self.reset_client = None, None, None, None
        if csv_path is not None:
            self.csv = open(csv_path, "w")
            self.node.create_subscription(Float64MultiArray, STATE_TOPIC,
                                          lambda m: setattr(self, "state", m), 100)
            self.node.create_subscription(Bool, "/sim/success",
                                          lambda m: setattr(self, "success", m.data), 100)

    def _reward(self, m):
        self.reward_sum += m.data
        self.reward_n += 1
        # The bridge publishes a step's state and success before its reward.
        if self.csv is not None and self.state is not None:
            if self.csv.tell() == 0:
                names = self.state.layout.dim[0].label.split(",") if self.state.layout.dim else []
                self.csv.write(",".join(["step", "reward", "success"] + names) + "\n")
            row = [str(self.reward_n), f"{m.data:.4f}", str(int(bool(self.success)))]
            self.csv.write(",".join(row + [f"{v:.4f}" for v in self.state.data]) + "\n")

    def reset_sim(self, timeout=10.0):
        """The operator's scripted reset: /sim/eval_reset on the training sim. (success, message)."""
        from std_srvs.srv import Trigger
        if self.reset_client is None:
            self.reset_client = self.node.create_client(Trigger, "/sim/eval_reset")
        if not self.reset_client.wait_for_service(timeout_sec=timeout):
            return False, f"/sim/eval_reset not served within {timeout:.0f} s"
        future = self.reset_client.call_async(Trigger.Request())
        self.rclpy.spin_until_future_complete(self.node, future, executor=self.ex,
                                              timeout_sec=timeout)
        if not future.done():
            return False, f"/sim/eval_reset did not answer within {timeout:.0f} s"
        return future.result().success, future.result().message

    def spin(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.ex.spin_once(timeout_sec=0.05)

    def close(self):
        if self.csv is not None:
            self.csv.close()
        self.rclpy.try_shutdown(context=self.ctx)


def help_requests(run_dir):
    """How many times the arbiter has asked for help: complete NeedsHelp rows of phases.csv."""
    path = run_dir / "metrics/phases.csv"
    if not path.exists():
        return 0
    text = path.read_text(errors="replace")
    lines = text.split("\n")[1:-1]   # the header, and a line still being written
    return sum(1 for row in csv.reader(lines) if len(row) >= 5 and row[4] == "NeedsHelp")


def answer_help(probe, domain, n):
    """Stands in for the operator after help request `n`: resets the training sim, resumes the
    arbiter. Returns what happened, for the run's log."""
    ok, msg = probe.reset_sim()
    if not ok:
        return f"scripted reset failed ({msg}); the arbiter keeps holding"
    note = f"learn_curve --on-help reset: scripted reset of the scene (help request {n})"
    try:
        out = subprocess.run([str(TARGET / "mbarl"), "resume", "--scene-reset", "--domain",
                              str(domain), "--note", note], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return f"sim reset ({msg}), but mbarl resume did not return within 60 s"
    said = out.stdout.strip() or (out.stderr.strip().splitlines() or [""])[-1]
    if out.returncode != 0:
        return f"sim reset ({msg}), but mbarl resume failed: {said}"
    return f"sim reset ({msg}); {said}"


# The arbiter's parameters that make its command rule (phase_arbiter::config::
# command_rule_params): deployed_eval applies the same rule, so it gets the same values.
COMMAND_RULE_PARAMS = ("joint_names", "position_lower", "position_upper", "max_velocity", "max_step",
                       "control_rate_hz", "workspace_min", "workspace_max", "command_interface")
COMMAND_RULE_PREFIXES = ("kinematics.", "gripper.", "cartesian.")


def command_rule_args(node_params):
    """`-p` arguments for deployed_eval: the phase_arbiter --params of its command rule."""
    out = []
    for node, name, value in node_params:
        if node == "phase_arbiter" and (name in COMMAND_RULE_PARAMS or name.startswith(COMMAND_RULE_PREFIXES)):
            out += ["-p", f"{name}:={json.dumps(value)}"]
    return out


def one_run(args, task, agent, seed, demo_dir, i):
    phase_steps, episode_steps = TASKS[task]
    name = f"{task}_{args.obs}_{agent}_s{seed}"
    run_dir = (args.out / name).resolve()
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    shutil.copytree(demo_dir / "demos", run_dir / "demos")
    train_domain, eval_domain = args.domain, args.domain + 1
    launch = write_launch(run_dir, task, args.obs, agent, seed, train_domain, phase_steps,
                          args.state_topic, args.set, args.param)
    log = open(run_dir / "launch.out", "w")
    started = time.monotonic()
    suite = subprocess.Popen([str(TARGET / "mbarl"), "launch", str(launch), "--base", str(ROOT),
                              "--status-every", "30"], env=env(train_domain), stdout=log,
                             stderr=subprocess.STDOUT)
    bridge = subprocess.Popen([PY, "-m", bridge_module(task), "--ros-args", "-p", f"task:={task}",
                               "-p", "lockstep:=true", "-p", "image_width:=64",
                               "-p", "image_height:=64"], env=env(eval_domain),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (run_dir / "logs").mkdir(exist_ok=True)
    eval_log = open(run_dir / "logs/deployed_eval.log", "a")

    def start_watcher():
        w = subprocess.Popen(
            [str(TARGET / "deployed_eval"), "--ros-args"]
            + [a for f in params_files(task) for a in ("--params-file", str(f))]
            + ["-p", f"learn_config:={run_dir / 'preset.yaml'}",
             "-p", f"run_dir:={run_dir}", "-p", f"episodes:={args.episodes}",
             "-p", f"max_steps:={episode_steps}", "-p", "watch_period_s:=5.0",
             "-p", f"sampled_episodes:={args.sampled_episodes}"]
            + (["-p", f"state_topic:={args.state_topic}"] if args.state_topic else [])
            + command_rule_args(args.param),
            env=env(eval_domain), stdout=subprocess.PIPE, stderr=eval_log, text=True)
        os.set_blocking(w.stdout.fileno(), False)
        return w

    watcher, watcher_restarts = start_watcher(), 0
    (run_dir / "metrics").mkdir(exist_ok=True)
    probe = TrainingProbe(train_domain, run_dir / "metrics/sim_probe.csv")
    rounds, above, helps_seen, helps_answered = [], 0, 0, 0
    try:
        while time.monotonic() - started < args.max_wall_s and not StopRequest.requested:
            probe.spin(1.0)
            if suite.poll() is not None:
                print(f"{name}: mbarl launch stopped (see {run_dir}/launch.out)", flush=True)
                break
            helps = help_requests(run_dir)
            if helps > helps_seen:
                helps_seen = helps
                print(f"{name}: the arbiter asks for help (request {helps}; see "
                      f"{run_dir}/metrics/phases.csv)", flush=True)
                if args.on_help == "stop":
                    print(f"{name}: --on-help stop: ending the run", flush=True)
                    break
                if args.on_help == "reset":
                    if helps_answered >= args.max_help_resets:
                        print(f"{name}: {helps_answered} scripted resets already "
                              f"(--max-help-resets): ending the run", flush=True)
                        break
                    print(f"{name}: {answer_help(probe, train_domain, helps)}", flush=True)
                    helps_answered += 1
            for line in iter(watcher.stdout.readline, ""):
                m = ROUND.search(line)
                if m:
                    r = (int(m[1]) / int(m[2]), int(m[3]))
                    rounds.append(r)
                    print(f"{name}: {line.strip()}", flush=True)
                    above = above + 1 if r[0] >= args.threshold else 0
            if watcher.poll() is not None:
                # without it there are no rounds, and the run would go on to its wall budget
                if watcher_restarts >= 3:
                    print(f"{name}: deployed_eval exited {watcher_restarts + 1} times (last code "
                          f"{watcher.returncode}, see {run_dir}/logs/deployed_eval.log); "
                          f"stopping the run", flush=True)
                    break
                watcher_restarts += 1
                print(f"{name}: deployed_eval exited with code {watcher.returncode} (see "
                      f"{run_dir}/logs/deployed_eval.log); restarting it", flush=True)
                watcher = start_watcher()
            steps = rounds[-1][1] if rounds else 0
            if above >= args.stop_after or steps >= args.max_steps:
                break
    finally:
        stop(watcher)
        stop(suite, 60)
        stop(bridge)
        log.close()
        eval_log.close()
        probe.spin(1.0)
        resets = probe.resets
        probe.close()
    wall = time.monotonic() - started
    avg = probe.reward_sum / probe.reward_n if probe.reward_n else float("nan")
    (run_dir / "metrics").mkdir(exist_ok=True)
    (run_dir / "metrics/sim_resets.txt").write_text(f"{resets}\n")
    summary = dict(run=name, task=task, obs=args.obs, agent=agent, seed=seed,
                   rounds=rounds, lifetime_avg_reward=avg, reward_steps=probe.reward_n,
                   sim_resets=resets, help_requests=helps_seen, helps_answered=helps_answered,
                   wall_s=round(wall, 1), practice=practice(run_dir),
                   practice_after_10k=practice(run_dir, 10_000))
    (run_dir / "metrics/learn_curve.json").write_text(json.dumps(summary, indent=1))
    return run_dir, summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="reach", choices=sorted(TASKS))
    ap.add_argument("--obs", default="state", choices=["state", "pixels"])
    ap.add_argument("--agents", default="mbarl,medal,naive",
                    help=f"comma-separated, of {', '.join(AGENTS)}")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--max-steps", type=int, default=100_000, help="env-step budget per run")
    ap.add_argument("--max-wall-s", type=float, default=3600, help="wall-time budget per run")
    ap.add_argument("--task-state", action=argparse.BooleanOptionalAction, default=None,
                    help=f"state mode: observe the sim's {STATE_TOPIC} too (default: push, push_rail, push_pen, door)")
    ap.add_argument("--demo-rewards", action=argparse.BooleanOptionalAction, default=True,
                    help=f"record the demonstrations with their task reward ({REWARD_TOPIC})")
    ap.add_argument("--set", action="append", default=[], type=preset_override, metavar="KEY=VALUE",
                    help="learn-config override for every run, e.g. mbpo.real_ratio=0.8 (repeatable)")
    ap.add_argument("--param", action="append", default=[], type=node_param,
                    metavar="NODE.PARAM=VALUE",
                    help="node parameter for every run, e.g. forward_policy.updates_per_transition=4")
    ap.add_argument("--task-defaults", action=argparse.BooleanOptionalAction, default=True,
                    help=f"apply {EXPERIMENT_DEFAULTS.relative_to(ROOT)}/TASK_OBS.yaml where it "
                         "exists (the settings measured to work; --set and --param win)")
    ap.add_argument("--demos", type=int, default=10, metavar="N",
                    help="scripted-expert demonstrations per direction (forward and backward)")
    ap.add_argument("--demo-tail-steps", type=int, default=0, metavar="N",
                    help="each demonstration goes on N steps after the task held (the expert "
                         "stays at the goal, as a demonstrator waits before stopping the recording)")
    ap.add_argument("--backward-reward", choices=["classifier", "sim"], default="classifier",
                    help="the backward policy's reward: the demo-state classifier (MEDAL, what a "
                         f"real arm has) or the sim's reverse-task reward ({REVERSE_REWARD_TOPIC})")
    ap.add_argument("--backward-demos-from", choices=["task", "forward_end"], default="task",
                    help="where the backward demonstrations start: the task's reverse initial "
                         "states, or where the forward expert ends (the experts chained without a "
                         "reset, as a reset-free robot's backward phases begin)")
    ap.add_argument("--demo-init-radius", type=float, default=None, metavar="M",
                    help="record the demos with the object's reset spread widened to M metres (the "
                         "bridge's init_radius); training and evaluation keep the task's own")
    ap.add_argument("--on-help", choices=["reset", "stop", "wait"], default="reset",
                    help="when the arbiter asks for help: reset the training sim and resume it "
                         "(counted as a reset), end the run, or wait out its budget")
    ap.add_argument("--max-help-resets", type=int, default=10, metavar="N",
                    help="--on-help reset: end a run that asks for help again after N resets")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--stop-after", type=int, default=3,
                    help="stop a run after this many consecutive rounds at or above the threshold")
    ap.add_argument("--episodes", type=int, default=10, help="episodes per evaluation round")
    ap.add_argument("--sampled-episodes", type=int, default=0, metavar="N",
                    help="also deploy each checkpoint for N episodes with sampled actions, as "
                         "training acts (metrics/deployed_eval_sampled.csv)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs/learn_curve")
    ap.add_argument("--domain", type=int, default=36, help="training domain (evaluation: +1)")
    args = ap.parse_args()
    unknown_agents = set(args.agents.split(",")) - set(AGENTS)
    if unknown_agents:
        ap.error(f"--agents: unknown {', '.join(sorted(unknown_agents))} (known: {', '.join(AGENTS)})")
    StopRequest.install()
    if args.task_defaults:
        args.set, args.param = with_task_defaults(args.task, args.obs, args.set, args.param)
    processes = {p["name"] for p in yaml.safe_load(LAUNCH_TEMPLATE.read_text())["processes"]}
    unknown = {node for node, _, _ in args.param} - processes
    if unknown:
        ap.error(f"--param: no process named {', '.join(sorted(unknown))} "
                 f"(the launch file has {', '.join(sorted(processes))})")
    args.out.mkdir(parents=True, exist_ok=True)
    use_state = args.task_state if args.task_state is not None else TASK_STATE_DEFAULT[args.task]
    args.state_topic = STATE_TOPIC if use_state and args.obs == "state" else ""
    reward_topic = REWARD_TOPIC if args.demo_rewards else ""
    suffix = ("_taskstate" if args.state_topic else "") + ("_rewards" if reward_topic else "") + (
        f"_spread{args.demo_init_radius:g}" if args.demo_init_radius is not None else "") + (
        f"_{args.demos}demos" if args.demos != 10 else "") + (
        "_chained" if args.backward_demos_from == "forward_end" else "") + (
        f"_tail{args.demo_tail_steps}" if args.demo_tail_steps else "") + (
        "_bsimreward" if args.backward_reward == "sim" else "")
    demo_dir = (args.out / f"demos_{args.task}{suffix}").resolve()
    record_demos(args.task, demo_dir, args.domain + 2, args.state_topic, reward_topic,
                 args.demo_init_radius, args.demos, args.backward_demos_from,
                 REVERSE_REWARD_TOPIC if args.backward_reward == "sim" else "", args.demo_tail_steps)
    if args.backward_reward == "sim":
        args.param.append(("backward_policy", "task_reward_topic", REVERSE_REWARD_TOPIC))
    runs, summaries = [], []
    # seed-major: a budget cut short still leaves every agent with its first seeds
    for seed in [int(s) for s in args.seeds.split(",")]:
        for agent in args.agents.split(","):
            if StopRequest.requested:
                return
            run_dir, s = one_run(args, args.task, agent, seed, demo_dir, len(runs))
            runs.append(run_dir)
            summaries.append(s)
            write_results(args, runs, summaries)


def fraction(n, of):
    return f"{n}/{of} ({100 * n / of:.0f} %)" if of else "-"


def practice_cells(summary):
    """The results table's practice cells: forward phases solved, forward phases left solved,
    backward phases undone (all phases; after 10k env steps too where the run got there)."""
    cells = []
    for phases, done in (("forward_phases", "forward_solved"), ("forward_phases", "forward_left_done"),
                         ("backward_phases", "backward_undone")):
        p, late = summary.get("practice"), summary.get("practice_after_10k")
        cell = fraction(p.get(done, 0), p[phases]) if p else "-"
        if late and late[phases]:
            cell += f"; after 10k {fraction(late.get(done, 0), late[phases])}"
        cells.append(cell)
    return cells


def write_results(args, runs, summaries):
    """`mbarl eval` over the runs so far (CSV, PNG) and results.md (rewritten after each run)."""
    labels = [s["run"] for s in summaries]
    out = subprocess.run([str(TARGET / "mbarl"), "eval", *map(str, runs), "--out", str(args.out),
                          "--labels", *labels, "--threshold", str(args.threshold)],
                         capture_output=True, text=True)
    print(out.stdout, out.stderr, flush=True)
    machine = f"{platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()}"
    lines = ["| run | env steps to 80% | final success | env steps | forward phases solved | "
             "forward phases left solved | backward phases undone | lifetime avg reward | "
             "phase switches | help requests | resets | wall time |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    # `mbarl eval` prints a table per run, then one per agent ("by agent": seeds together,
    # medians and their ratios, the comparison issue 7's targets ask for)
    per_run, _, by_agent = out.stdout.partition("by agent\n")
    table = {}
    for row in per_run.splitlines()[1:]:
        parts = row.split()
        if len(parts) >= 8 and parts[0] in labels:
            table[parts[0]] = parts
    for s in summaries:
        t = table.get(s["run"])
        to80 = " ".join(t[3:-4]) if t else "-"
        final = t[-4] if t else "-"
        steps = t[2] if t else "-"
        switches, helps = (t[-3], t[-2]) if t else ("-", "-")
        fwd, left, bwd = practice_cells(s)
        lines.append(f"| {s['run']} | {to80} | {final} | {steps} | {fwd} | {left} | {bwd} | "
                     f"{s['lifetime_avg_reward']:.4f} | {switches} | {helps} | {s['sim_resets']} | "
                     f"{s['wall_s'] / 60:.1f} min |")
    if by_agent.strip():
        agent_rows = [l for l in by_agent.splitlines() if l.strip() and not l.startswith("wrote ")]
        lines += ["", "By agent (median env steps over the seeds, a run that did not reach "
                  f"{args.threshold:.0%} counted as never):", "", "```", *agent_rows, "```"]
    lines.append("\nForward phases solved: of the forward phases begun with the task not done, "
                 "those in which the sim's forward success held at some step, and those that "
                 "ended with it holding (the task left done); backward phases "
                 "undone: of those begun with the scene away from the forward start, those that "
                 "ended with it back there (sim ground truth, never a training input). All "
                 "phases, then those begun after 10k env steps.")
    lines.append(f"\nMachine: {machine}. Command: `scripts/learn_curve.sh {' '.join(sys.argv[1:])}`")
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)

if __name__ == "__main__":
    main()
