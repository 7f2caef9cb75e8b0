#!/usr/bin/env bash
# A running demo, from a fresh Debian machine: installs what is missing,
# builds, starts a Wormhole daemon and mounts a network folder.
#   ./scripts/demo.sh         start (or show) the demo
#   ./scripts/demo.sh stop    stop it and unmount
# DEMO_DIR (default /tmp/wormhole-demo) holds the daemon's home and the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/setup.sh
DEMO_DIR=${DEMO_DIR:-/tmp/wormhole-demo}
HOME_DIR=$DEMO_DIR/home
FOLDER=$DEMO_DIR/folder
WH="node $(pwd)/bin/wormhole.js --home $HOME_DIR"

if [ "${1:-}" = stop ]; then
  $WH daemon stop
  exit 0
fi

need_root
ensure_packages
ensure_node
ensure_build

say "starting the demo in $DEMO_DIR"
mkdir -p "$DEMO_DIR"
$WH daemon start
if ! $WH pod list --json | grep -q '"network": "demo"'; then
  $WH network create demo --mount "$FOLDER" --pod demo-pod
fi
echo
$WH status
cat <<EOT

The folder $FOLDER is a Wormhole mount. Try:
  echo hello > $FOLDER/hello.txt && cat $FOLDER/hello.txt
  cp -a /usr/share/doc $FOLDER/ && du -sh $FOLDER/doc
  $WH status
Stop the demo with: ./scripts/demo.sh stop
EOT
