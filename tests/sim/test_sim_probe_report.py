"""scripts/sim_probe_report.py on a synthetic run: the per-cycle object travel and where the
arbiter's stillness rule (object_still_cycles) would have asked for help."""
import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIELDS = ["step", "reward", "success", "sim_time", "ee_x", "ee_y", "ee_z", "block_x", "block_y",
          "block_z", "block_yaw", "goal_x", "goal_y", "start_x", "start_y"]


def write_run(run: Path, cycles: int, moving_cycles: set, steps_per_phase: int = 10):
    (run / "metrics").mkdir(parents=True)
    phases, probe = [], []
    step, x = 0, 0.26
    for c in range(cycles):
        for kind in ("Forward", "Backward"):
            phases.append({"unix_time_s": 0, "cycle": c, "total_steps": step, "from": "", "to": kind,
                           "reason": "step budget"})
            for _ in range(steps_per_phase):
                step += 1
                if c in moving_cycles:
                    x += 0.005  # 5 mm a step: the block is being pushed
                probe.append({"step": step, "reward": -0.3, "success": 0, "sim_time": step * 0.05,
                              "ee_x": 0.1, "ee_y": 0.0, "ee_z": 0.2, "block_x": x, "block_y": 0.0,
                              "block_z": 0.02, "block_yaw": 0.0, "goal_x": 0.42, "goal_y": 0.0,
                              "start_x": 0.26, "start_y": 0.0})
    for name, rows, fields in (("phases.csv", phases, list(phases[0])), ("sim_probe.csv", probe, FIELDS)):
        with open(run / "metrics" / name, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)


def report(run: Path, *args) -> str:
    out = subprocess.run([sys.executable, str(ROOT / "scripts/sim_probe_report.py"), str(run), *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()[-1]


def test_stillness_rule_fires_after_its_cycles_in_a_row(tmp_path):
    # cycles 0-1 push the block, 2-7 leave it: 6 still cycles in a row
    write_run(tmp_path / "run", cycles=8, moving_cycles={0, 1})
    line = report(tmp_path / "run", "--still-cycles", "4")
    assert "Cycles: 8; the object moved < 0.01 m in 6; longest run of such cycles 6" in line, line
    # the 4th still cycle is cycle 5, whose last step is 6 cycles x 20 steps
    assert "asked for help at env step 120" in line, line
    assert "never" in report(tmp_path / "run", "--still-cycles", "7")
