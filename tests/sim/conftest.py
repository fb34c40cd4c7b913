"""Shared set-up for the sim tests (run with the ROS venv's python, see sim/README.md).

Puts sim/ and this directory on sys.path and keeps DDS discovery on localhost. Helpers live in
sim_rosprobe.py (never import from a conftest: another test directory has its own).
Missing dependencies fail at import: nothing here is skipped.
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sim"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
