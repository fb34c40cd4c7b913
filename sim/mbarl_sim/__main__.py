"""`python -m mbarl_sim {bridge|franka_bridge|expert|gz_relay} ...`: same as `python -m mbarl_sim.<name> ...`."""
import sys

USAGE = "usage: python -m mbarl_sim {bridge|franka_bridge|expert|gz_relay} [args...]"


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("bridge", "franka_bridge", "expert", "gz_relay"):
        print(USAGE, file=sys.stderr)
        return 2
    name = sys.argv.pop(1)
    if name == "bridge":
        from .bridge import main as run
    elif name == "franka_bridge":
        from .franka_bridge import main as run
    elif name == "expert":
        from .expert import main as run
    else:
        from .gz_relay import main as run
    return run() or 0


if __name__ == "__main__":
    sys.exit(main())
