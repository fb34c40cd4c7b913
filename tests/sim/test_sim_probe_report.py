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


def test_practice_counts_solved_forward_and_undone_backward_phases(tmp_path):
    """practice(): from the ground-truth log, forward phases begun unsolved in which the task
    was solved and those that ended with it solved, and backward phases begun with the block away from its start that ended with
    it back there; phases begun before `after` are left out."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from sim_probe_report import practice
    run = tmp_path / "run"
    # 4 cycles of 10 + 10 steps; the block moves 5 mm a step in cycles 1 and 2
    write_run(run, 4, {1, 2})
    rows = list(csv.DictReader(open(run / "metrics/sim_probe.csv")))
    # the forward task "solved" at step 25 (cycle 1's forward phase, which drifts off it
    # again) and at step 50 (the last step of cycle 2's forward phase: left done)
    for r in rows:
        r["success"] = 1 if int(r["step"]) in (25, 50) else 0
    with open(run / "metrics/sim_probe.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    p = practice(run)
    # every forward phase begins unsolved; the block is away from its start when the backward
    # phases of cycles 1-3 begin (cycle 0's begins at the start: no practice), and none of
    # them brings it back
    assert p == dict(forward_phases=4, forward_solved=2, forward_left_done=1, backward_phases=3,
                     backward_undone=0), p
    late = practice(run, after=40)
    assert late == dict(forward_phases=2, forward_solved=1, forward_left_done=1, backward_phases=2,
                        backward_undone=0), late
    assert practice(tmp_path / "missing") is None
