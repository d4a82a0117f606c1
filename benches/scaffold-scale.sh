#!/usr/bin/env bash
# How `scaffold` scales with the number of services (issue 17, item 4): time
# and peak memory of the release build on generated flows files of 10, 100
# and 300 services, beside copies of the tree it writes, measured in the same
# run. Two shapes:
#  - hub:   one Kafka flow from `hub` to N-1 consumers (the widest context);
#  - chain: N services in a line, s0001 -> s0002 -> …, the links cycling
#           through an event (Kafka), a request (REST) and a strict,
#           high-throughput request (gRPC), so every template is rendered.
# Each file is scaffolded with `--dry-run` (plan only) and for real into a
# fresh folder. Baselines, on the tree the real run wrote: `cp -r`, and
# `cp -r` then `sync` of every copied file, since scaffold makes each file
# durable before renaming it into place. The summary gives the growth of
# time with ×10 services (10 → 100) and ×3 (100 → 300): linear is ×10, ×3.
# Wall time of a real run is mostly the disk making files durable, and
# varies with whatever else uses the disk; the CPU time (user + system, as
# hyperfine measures it) is the tool's own work, and steadier.
# Needs hyperfine, jq and GNU time (/usr/bin/time).
# Usage: benches/scaffold-scale.sh [SIZES="10 100 300"] [RUNS=5]
#   WORK      scratch folder (default target/scaffold-scale)
#   GEN_ONLY  set to 1 to only write the flows files into WORK
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/.." && pwd)
SIZES=${1:-10 100 300}; RUNS=${2:-5}
WORK=${WORK:-$ROOT/target/scaffold-scale}; mkdir -p "$WORK"

# hub N: `hub` publishes one event to N-1 consumers c0001 … .
hub() {
  local n=$1 i
  printf 'version: 1\nsystem: hub%s\nflows:\n  - name: fanout\n    from: hub\n    to:\n' "$n"
  for ((i = 1; i < n; i++)); do printf '      - c%04d\n' "$i"; done
  printf '    interaction: event\n    coupling: loose\n    delivery: at-least-once\n'
}

# chain N: s0001 -> s0002 -> … -> sN, one flow per link.
chain() {
  local n=$1 i
  printf 'version: 1\nsystem: chain%s\nflows:\n' "$n"
  for ((i = 1; i < n; i++)); do
    printf '  - name: link-%04d\n    from: s%04d\n    to: s%04d\n' "$i" "$i" $((i + 1))
    case $((i % 3)) in
      0) printf '    interaction: event\n    coupling: loose\n    delivery: at-least-once\n' ;;
      1) printf '    interaction: request-response\n    transport: rest\n' ;;
      2) printf '    interaction: request-response\n    contract: strict\n    throughput: 5000\n    latency_ms: 10\n' ;;
    esac
  done
}

for shape in hub chain; do
  for n in $SIZES; do "$shape" "$n" >"$WORK/$shape-$n.yaml"; done
done
[ "${GEN_ONLY:-}" = 1 ] && exit 0

for tool in hyperfine jq; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install $tool)"; exit 2; }
done
[ -x /usr/bin/time ] || { echo "missing: /usr/bin/time (apt-get install time)"; exit 2; }
(cd "$ROOT" && cargo build --release -q)
BIN=$ROOT/target/release/commsadvise
OUT=$WORK/run-$(date +%Y%m%dT%H%M%S); mkdir -p "$OUT"
uptime | tee "$OUT/uptime-start.txt"

mean() { jq -r ".results[$2].mean" "$1"; }
cpu() { jq -r ".results[$2] | .user + .system" "$1"; }
rss_mb() { # peak RSS in MB of one run of the command
  /usr/bin/time -f %M -o "$OUT/rss" "$@" >/dev/null 2>&1
  awk '{ printf "%.1f", $1 / 1024 }' "$OUT/rss"
}

{
  echo "time: mean wall seconds (cpu: user + system seconds); memory: peak RSS in MB"
  printf '%-6s %5s %7s %5s | %8s %8s %8s %8s %8s %9s | %8s %8s %8s\n' \
    shape svcs out_KB files dry dry_cpu real real_cpu cp cp+sync dry_MB real_MB cp_MB
} >"$OUT/table.txt"
for shape in hub chain; do
  for n in $SIZES; do
    flows=$WORK/$shape-$n.yaml; tree=$WORK/$shape-$n.tree
    rm -rf "$tree" "$WORK/new" "$WORK/copy"
    "$BIN" scaffold --out "$tree" "$flows" >/dev/null
    kb=$(du -sk "$tree" | cut -f1); files=$(find "$tree" -type f | wc -l)
    json=$OUT/$shape-$n.json
    hyperfine --style basic -N -w 1 -r "$RUNS" --export-json "$json" \
      -n "$shape $n: scaffold --dry-run" --prepare true \
      "$BIN scaffold --dry-run --out $WORK/new $flows" \
      -n "$shape $n: scaffold --out NEW" --prepare "rm -rf $WORK/new" \
      "$BIN scaffold --out $WORK/new $flows" \
      -n "$shape $n: cp -r of the same tree" --prepare "rm -rf $WORK/copy" \
      "cp -r $tree $WORK/copy" \
      -n "$shape $n: cp -r, then sync of every file" --prepare "rm -rf $WORK/copy" \
      "sh -c 'cp -r $tree $WORK/copy && find $WORK/copy -type f -exec sync {} +'" \
      2>&1 | tee -a "$OUT/hyperfine.txt"
    rm -rf "$WORK/new" "$WORK/copy"
    dry_mb=$(rss_mb "$BIN" scaffold --dry-run --out "$WORK/new" "$flows")
    real_mb=$(rss_mb "$BIN" scaffold --out "$WORK/new" "$flows")
    cp_mb=$(rss_mb cp -r "$tree" "$WORK/copy")
    rm -rf "$WORK/new" "$WORK/copy" "$tree"
    dry=$(mean "$json" 0); real=$(mean "$json" 1); cp=$(mean "$json" 2); cps=$(mean "$json" 3)
    dry_cpu=$(cpu "$json" 0); real_cpu=$(cpu "$json" 1)
    printf '%-6s %5s %7s %5s | %8.3f %8.3f %8.3f %8.3f %8.3f %9.3f | %8s %8s %8s\n' \
      "$shape" "$n" "$kb" "$files" "$dry" "$dry_cpu" "$real" "$real_cpu" "$cp" "$cps" \
      "$dry_mb" "$real_mb" "$cp_mb" >>"$OUT/table.txt"
    echo "$shape $n $dry $real $dry_cpu $real_cpu" >>"$OUT/means.txt"
  done
done

# Growth between consecutive sizes of one shape: services ×k, time ×t.
{
  echo
  echo "growth of time with the services (linear: time × = services ×):"
  awk '$1 == shape {
         printf "  %-6s %4s → %4s services (×%.0f): time: dry-run ×%.2f, real ×%.2f;", \
           $1, n, $2, $2 / n, $3 / dry, $4 / real
         printf " cpu: dry-run ×%.2f, real ×%.2f\n", $5 / dcpu, $6 / rcpu }
       { shape = $1; n = $2; dry = $3; real = $4; dcpu = $5; rcpu = $6 }' "$OUT/means.txt"
} >>"$OUT/table.txt"
uptime | tee "$OUT/uptime-end.txt"
echo; cat "$OUT/table.txt"
echo "(results in $OUT)"
