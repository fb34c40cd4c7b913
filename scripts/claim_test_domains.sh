# Sourced by scripts/test.sh: this test run takes its own block of ROS domain ids (tests/domains.py
# and mbarl_testkit::domain: slot + MBARL_TEST_DOMAIN_OFFSET), held by a lock on an open file
# descriptor for as long as the sourcing shell (and any process it leaves behind) runs, so two
# runs on one host never hear each other; a third waits for the first. An offset set by the
# caller wins.
if [ -z "${MBARL_TEST_DOMAIN_OFFSET:-}" ]; then
  lock_dir="${TMPDIR:-/tmp}/mbarl-test-domains-$(id -u)"
  mkdir -p "$lock_dir"
  for offset in 0 116; do
    exec {domain_lock}>"$lock_dir/$offset.lock"
    if flock -n "$domain_lock"; then export MBARL_TEST_DOMAIN_OFFSET=$offset; break; fi
    exec {domain_lock}>&-
  done
  if [ -z "${MBARL_TEST_DOMAIN_OFFSET:-}" ]; then
    echo "[claim_test_domains] two other test runs hold this host's ROS test domains: waiting for the first to finish"
    exec {domain_lock}>"$lock_dir/0.lock"
    flock "$domain_lock"
    export MBARL_TEST_DOMAIN_OFFSET=0
  fi
fi
