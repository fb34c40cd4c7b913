"""docs/configuration.md's node-parameter reference is what the nodes declare: a parameter added,
removed or re-described without `scripts/param_reference.py` makes this fail."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"


def test_the_node_parameter_reference_is_current():
    assert (TARGET / "phase_arbiter").exists(), "build the release binaries first (scripts/test.sh does)"
    out = subprocess.run([sys.executable, str(ROOT / "scripts/param_reference.py"), "--check"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_check_notices_a_missing_line(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "scripts"))
    import param_reference
    page = tmp_path / "configuration.md"
    text = (ROOT / "docs/configuration.md").read_text()
    page.write_text(text.replace("| `control_rate_hz` |", "| `control_rate` |", 1))
    monkeypatch.setattr(param_reference, "PAGE", page)
    monkeypatch.setattr(sys, "argv", ["param_reference.py", "--check"])
    try:
        param_reference.main()
        raised = None
    except SystemExit as e:
        raised = e
    assert raised is not None and "stale" in str(raised.code)
