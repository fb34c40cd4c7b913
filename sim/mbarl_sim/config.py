"""Bridge parameters: defaults come from sim/config/bridge.yaml (a ROS 2 params file) and are
declared as ROS parameters, so `--ros-args -p name:=value` and `--params-file` override them."""
from __future__ import annotations

from pathlib import Path

import yaml
from rcl_interfaces.msg import ParameterDescriptor

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULTS_FILE = CONFIG_DIR / "bridge.yaml"


def load_defaults(path: Path = DEFAULTS_FILE, node_name: str = "sim_bridge") -> dict:
    with open(path) as f:
        doc = yaml.safe_load(f)
    for key in (node_name, "/" + node_name, "/**"):
        if key in doc:
            return dict(doc[key]["ros__parameters"])
    raise KeyError(f"{path}: no '{node_name}: ros__parameters:' section")


def _coerce(default, value):
    """Accept `-p control_rate:=20` for a float default, `[0, 1]` for a float list, etc."""
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(default, float):
        return float(value)
    if isinstance(default, int):
        return int(value)
    if isinstance(default, str):
        return str(value)
    if isinstance(default, list):
        items = list(value)
        if default and isinstance(default[0], float):
            return [float(x) for x in items]
        if default and isinstance(default[0], str):
            return [str(x) for x in items]
        return items
    return value


def declare(node, defaults: dict) -> dict:
    """Declare every default as a (dynamically typed) parameter of `node`; return resolved values."""
    values = {}
    for name, default in defaults.items():
        node.declare_parameter(name, default, ParameterDescriptor(dynamic_typing=True))
        values[name] = _coerce(default, node.get_parameter(name).value)
    return values
