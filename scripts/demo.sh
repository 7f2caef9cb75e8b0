#!/usr/bin/env bash
# A running demo, from a fresh Debian machine: installs what is missing,
# builds, and starts three Wormhole pods on 127.0.0.1 (three daemons, each
# with its own home and mounted folder) joined into one network.
#   ./scripts/demo.sh         start (or show) the demo
#   ./scripts/demo.sh stop    stop the three daemons and unmount
# DEMO_DIR (default /tmp/wormhole-demo) holds the daemons' homes and folders;
# DEMO_PORT (default 7401) is the first of the three ports they listen on.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/setup.sh
DEMO_DIR=${DEMO_DIR:-/tmp/wormhole-demo}
DEMO_PORT=${DEMO_PORT:-7401}
PODS=(a b c)
CLI="node $(pwd)/bin/wormhole.js"
wh() { local pod=$1; shift; $CLI --home "$DEMO_DIR/$pod/home" "$@"; }
folder() { echo "$DEMO_DIR/$1/folder"; }

if [ "${1:-}" = stop ]; then
  for p in "${PODS[@]}"; do
    [ -d "$DEMO_DIR/$p/home" ] && wh "$p" daemon stop || true
  done
  exit 0
fi

need_root
ensure_packages
ensure_node
ensure_build

has_pod() { wh "$1" pod list --json 2>/dev/null | grep -q '"network": "demo"'; }

say "starting the demo in $DEMO_DIR: pods ${PODS[*]} on 127.0.0.1:$DEMO_PORT-$((DEMO_PORT + 2))"
port=$DEMO_PORT
for p in "${PODS[@]}"; do
  mkdir -p "$DEMO_DIR/$p"
  wh "$p" daemon start
  if ! has_pod "$p"; then
    if [ "$p" = "${PODS[0]}" ]; then
      wh "$p" network create demo --mount "$(folder "$p")" --pod "$p" --listen "127.0.0.1:$port"
    else
      token=$(wh "${PODS[0]}" invite demo --expires 10m)
      wh "$p" join "$token" --mount "$(folder "$p")" --pod "$p" --listen "127.0.0.1:$port"
    fi
  fi
  port=$((port + 1))
done
echo
wh "${PODS[0]}" pod list
A=$(folder a)
B=$(folder b)
C=$(folder c)
cat <<EOT

Three folders, one tree: $A, $B and $C are Wormhole mounts of three pods
(three daemons) joined into the network "demo". Try:
  echo hello > $A/hello.txt && cat $B/hello.txt $C/hello.txt
  cp -a /usr/share/doc $B/ && ls $C/doc | head
  mv $C/doc $C/docs && ls $A
  $CLI --home $DEMO_DIR/a/home status
  $CLI --home $DEMO_DIR/a/home pod list
Stop the demo with: ./scripts/demo.sh stop
EOT
