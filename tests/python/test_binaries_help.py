"""Every binary answers `--help` with what it does and its parameters, exits 0, and starts
nothing: no run directory or other file appears in the folder it was started in."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
NODES = ["camera_encoder", "world_model", "forward_policy", "backward_policy", "policy",
         "demo_classifier", "phase_arbiter", "deployed_eval"]


@pytest.mark.parametrize("binary", NODES + ["mbarl"])
def test_help_prints_and_starts_nothing(binary, tmp_path):
    exe = TARGET / binary
    assert exe.exists(), f"{exe} missing: build the release binaries first (scripts/test.sh does)"
    env = {k: v for k, v in os.environ.items() if k != "MBARL_RUN_DIR"}
    out = subprocess.run([str(exe), "--help"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert list(tmp_path.iterdir()) == [], f"{binary} --help created files"
    if binary in NODES:
        first = out.stdout.splitlines()[0]
        assert first.startswith(f"{binary}: ") or binary == "policy", first
        assert "Parameters (" in out.stdout and "Usage:" in out.stdout, out.stdout
        # every parameter line carries its type and default
        assert "run_dir (string, default" in out.stdout, out.stdout
    else:
        assert "Usage:" in out.stdout, out.stdout
