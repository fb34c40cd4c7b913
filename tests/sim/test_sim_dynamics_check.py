"""scripts/sim_dynamics_check.py (the diagnostic docs/notes/2026-12-07-results-history.md session 12 cites) runs and
its fits mean something: the position change, which the velocity nearly gives away, is far
better predicted than "nothing changes"."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dynamics_check_prints_held_out_ratios():
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts/sim_dynamics_check.py"), "--steps", "3000"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = {l.split(",")[0]: l for l in out.stdout.splitlines()}
    assert set(lines) == {"velocity change", "position change"}, out.stdout
    ratios = [float(x) for x in re.findall(r"\d+\.\d+", lines["position change"])]
    assert len(ratios) == 8, lines["position change"]
    assert all(0.0 <= r < 0.5 for r in ratios), lines["position change"]
