#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what is missing,
# builds, lints, runs unit tests and end-to-end tests (real daemons, real
# FUSE mounts). Run as root from anywhere:  ./scripts/test.sh [unit|e2e] [filter]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/setup.sh
need_root
ensure_packages
ensure_node
ensure_build
say "lint"
npm run --silent lint || die "lint failed"
say "tests"
node scripts/run-tests.mjs "${1:-all}" "${2:-}"
