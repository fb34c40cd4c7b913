"""Helpers shared by the whole-suite tests (tests/e2e): environment, binaries, demos, launch
files, `mbarl launch`, and small rclpy probes.

The release binaries come from $MBARL_BIN_DIR when set (e.g. a build of a branch in its own
target dir), else $CARGO_TARGET_DIR/release (scripts/test.sh builds them).
"""
import csv
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from domains import domain  # noqa: E402,F401  (the tests' ROS domain ids: slot + run offset)

TARGET = Path(os.environ.get("MBARL_BIN_DIR") or
              Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release")
PY = os.environ.get("MBARL_ROS_PYTHON", sys.executable)


def env(domain):
    e = dict(os.environ)
    e.update(
        ROS_DOMAIN_ID=str(domain),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        PYTHONPATH=f"{ROOT / 'sim'}:{e.get('PYTHONPATH', '')}",
        MUJOCO_GL=e.get("MUJOCO_GL", "egl"),
        PATH=f"{TARGET}:{e['PATH']}",
    )
    return e


def binary(name):
    p = TARGET / name
    assert p.exists(), f"{p} missing: scripts/test.sh builds the release binaries"
    return str(p)


def stop(proc, sig=signal.SIGINT, timeout=20):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def record_demos(run_dir, domain, episodes=10):
    """The main job's demos (scripts/run.sh): reach, with the sim's task reward that the shipped
    launch files' forward policy trains with."""
    subprocess.run(
        ["bash", str(ROOT / "sim/record_demos.sh"), "--task", "reach", "--episodes", str(episodes),
         "--run-dir", str(run_dir), "--domain", str(domain), "--mbarl", binary("mbarl"),
         "--reward-topic", "/sim/task_reward"],
        env=env(domain), check=True, timeout=600,
        stdout=subprocess.DEVNULL,
    )
    for role in ("forward", "backward"):
        assert (run_dir / "demos" / role / "reach" / "dataset.yaml").exists()


def launch_file(run_dir, tmp_path, name, domain, edit=None):
    """The shipped launch file `name` on `run_dir` in `domain`; `edit(text) -> text` may change
    more (e.g. bridge parameters or the restart policy)."""
    text = (ROOT / "config/launch" / name).read_text()
    text = re.sub(r"(?m)^run_dir: .*$", f"run_dir: {run_dir}", text)
    text = re.sub(r"(?m)^(\s+run_dir: ).*$", rf"\g<1>{run_dir}", text)
    if edit is not None:
        text = edit(text)
    text += f"ros_domain_id: {domain}\n"
    path = tmp_path / "launch.yaml"
    path.write_text(text)
    return path


def start_launch(launch_path, domain, out_path, status_every=10):
    """`mbarl launch` in its own process group, output in `out_path`."""
    log = open(out_path, "w")
    proc = subprocess.Popen(
        [binary("mbarl"), "launch", str(launch_path), "--base", str(ROOT),
         "--status-every", str(status_every)],
        env=env(domain), stdout=log, stderr=subprocess.STDOUT,
    )
    proc.log_file = log
    return proc


def stop_launch(proc, timeout=40):
    stop(proc, timeout=timeout)
    proc.log_file.close()


STARTED = re.compile(r"\[mbarl launch\] started (\S+) \(pid (\d+)\)")


def launched_pids(out_path):
    """{name: [pid of each start, in order]} from `mbarl launch`'s output."""
    pids = {}
    for m in STARTED.finditer(Path(out_path).read_text(errors="replace")):
        pids.setdefault(m[1], []).append(int(m[2]))
    return pids


def csv_rows(path):
    """Complete rows only: a row still being written (no newline yet) is left for later."""
    text = path.read_text()
    complete = text[: text.rfind("\n") + 1]
    return list(csv.DictReader(io.StringIO(complete)))


def phase_switches(run_dir):
    return [(r["from"], r["to"]) for r in csv_rows(run_dir / "metrics/phases.csv")]


class Probe:
    """A plain rclpy node in `domain`, spun by the caller (`spin_for`, `spin_until`)."""

    def __init__(self, domain, name="e2e_probe"):
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self.ctx = Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = rclpy.create_node(name, context=self.ctx)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)

    def spin_for(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=min(0.05, max(0.0, end - time.monotonic())))

    def spin_until(self, cond, timeout):
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.05)
        return cond()

    def close(self):
        import rclpy
        rclpy.try_shutdown(context=self.ctx)


def read_latched_uint64(topic, domain, timeout):
    """The latched value of a std_msgs/UInt64 topic, read by a plain rclpy node."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import UInt64

    probe = Probe(domain)
    try:
        got = []
        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
        probe.node.create_subscription(UInt64, topic, lambda m: got.append(m.data), qos)
        assert probe.spin_until(lambda: got, timeout), \
            f"no {topic} in domain {domain} within {timeout} s"
        return got[-1]
    finally:
        probe.close()
