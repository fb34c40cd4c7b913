#!/usr/bin/env bash
# Sets up everything (scripts/setup.sh) and runs all of mbarl's tests:
# formatting, clippy, the Rust tests (unit, integration, interop with a real ROS 2 peer),
# and the Python tests (interface files, simulator). Exits non-zero if anything fails.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MBARL_ROOT"

scripts/setup.sh || { mbarl_log "setup failed"; exit 1; }

failed=()
step() {
  local name="$1"; shift
  mbarl_log "== $name: $*"
  local t0=$SECONDS
  if "$@"; then mbarl_log "== $name: ok ($((SECONDS - t0)) s)"; else mbarl_log "== $name: FAILED ($((SECONDS - t0)) s)"; failed+=("$name"); fi
}

step fmt cargo fmt --all --check
step clippy cargo clippy --workspace --all-targets --locked -- -D warnings
step cargo-test cargo test --workspace --locked
pytest_dirs=()
for d in tests/python tests/sim; do [ -d "$d" ] && pytest_dirs+=("$d"); done
if [ ${#pytest_dirs[@]} -gt 0 ]; then
  step pytest "$MBARL_ROS_PYTHON" -m pytest -q -p no:cacheprovider "${pytest_dirs[@]}"
fi

if [ ${#failed[@]} -gt 0 ]; then
  mbarl_log "FAILED: ${failed[*]}"
  exit 1
fi
mbarl_log "all tests passed"
