#!/usr/bin/env bash
# npm run bench: the figures in docs/PERFORMANCE.md, measured on a Wormhole
# mount and on a tmpfs directory in the same run (these machines are noisy:
# compare the two, not figures across runs).
#   BENCH_ONLY="fio meta pjdfstest memory network redundancy" to choose; default all.
#   TRIALS, SIZE_MIB  propagation trials (100) and remote-read file size (1024) of the network figures;
#             SIZE_MIB is also the data restored by the redundancy figure (default 2048 there)
#   EVAL_DIR  the third-party checks (default ../shared/eval)
#   PJD_SRC   a built pjdfstest (default ~/.cache/pjdfstest); skipped if absent
#   BENCH_FILES  files for the memory measurement (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/setup.sh
need_root
ensure_packages
ensure_node
ensure_build

EVAL_DIR=${EVAL_DIR:-$(cd ../shared/eval 2>/dev/null && pwd || true)}
[ -n "$EVAL_DIR" ] && [ -x "$EVAL_DIR/fio.sh" ] || die "set EVAL_DIR to the directory holding fio.sh, meta.sh and pjdfstest.sh"
ONLY=${BENCH_ONLY:-fio meta pjdfstest memory network redundancy}
PJD_SRC=${PJD_SRC:-$HOME/.cache/pjdfstest}
N_FILES=${BENCH_FILES:-100000}

WORK=$(mktemp -d /tmp/wormhole-bench.XXXXXX)
WH="node $(pwd)/bin/wormhole.js --home $WORK/home"
MNT=$WORK/mnt
TMPFS=$WORK/tmpfs
OUT=$WORK/results.txt
cleanup() {
  $WH daemon stop >/dev/null 2>&1 || true
  mountpoint -q "$TMPFS" && umount "$TMPFS"
  mountpoint -q "$MNT" && umount -l "$MNT"
  rm -rf "$WORK"
}
trap cleanup EXIT

$WH daemon start >/dev/null
$WH network create bench --mount "$MNT" >/dev/null
mkdir -p "$TMPFS" && mount -t tmpfs -o size=4g tmpfs "$TMPFS"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), node $(node --version)" | tee -a "$OUT"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)" | tee -a "$OUT"

has() { case " $ONLY " in *" $1 "*) return 0;; *) return 1;; esac; }

if has fio; then
  for d in "$MNT" "$TMPFS"; do
    say "fio on $d"
    "$EVAL_DIR/fio.sh" "$d" 2>/dev/null | tee -a "$OUT" | tail -5
  done
fi
if has meta; then
  for d in "$MNT" "$TMPFS"; do
    say "meta on $d"
    "$EVAL_DIR/meta.sh" "$d" 10000 2>/dev/null | tee -a "$OUT" | tail -10
  done
fi
if has pjdfstest; then
  if [ -x "$PJD_SRC/pjdfstest" ]; then
    say "pjdfstest on the mount (a few minutes)"
    PJD_SRC=$PJD_SRC PJD_JOBS=2 "$EVAL_DIR/pjdfstest.sh" "$MNT" 2>/dev/null | tee -a "$OUT" | tail -3
  else
    say "pjdfstest skipped: no built pjdfstest in $PJD_SRC (see docs/PERFORMANCE.md)"
  fi
fi
if has memory; then
  say "daemon memory with $N_FILES files"
  node scripts/make-files.mjs "$MNT/many" "$N_FILES"
  pid=$(cat "$WORK/home/wormholed.pid")
  rss() { awk '/VmRSS/{printf "%.1f MiB", $2/1024}' "/proc/$pid/status"; }
  echo "memory: $N_FILES files, daemon RSS $(rss) (kernel caching their inodes)" | tee -a "$OUT"
  sync; echo 3 >/proc/sys/vm/drop_caches
  sleep 1
  echo "memory: $N_FILES files, daemon RSS $(rss) after the kernel dropped its caches" | tee -a "$OUT"
  ls -f "$MNT/many" | wc -l >/dev/null
  find "$MNT/many" -type f | wc -l | xargs -I{} echo "memory: find lists {} files" | tee -a "$OUT"
  echo "memory: daemon RSS $(rss) after listing them all" | tee -a "$OUT"
fi
if has network; then
  say "network: pods over loopback TLS (propagation latency, remote reads)"
  $WH daemon stop >/dev/null 2>&1 || true
  mkdir -p "$WORK/net"
  node scripts/bench-network.mjs "$WORK/net" | grep '^network:' | tee -a "$OUT"
fi
if has redundancy; then
  say "redundancy: placement balance, and restoring R after losing one of five pods (SIZE_MIB, default 2048)"
  $WH daemon stop >/dev/null 2>&1 || true
  mkdir -p "$WORK/red"
  node scripts/bench-redundancy.mjs "$WORK/red" | grep '^redundancy:' | tee -a "$OUT"
fi
echo
say "summary"
grep -E 'SUMMARY|pjdfstest:|memory:|network:|redundancy:' "$OUT"
cp "$OUT" "/tmp/wormhole-bench-$(date +%Y%m%d-%H%M%S).txt"
