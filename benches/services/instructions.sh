#!/usr/bin/env bash
# User-space instructions per request of the builds `throughput.sh` left in
# WORK (the generated `orders`, `bare`, and the ablation's builds when they
# are there), counted by valgrind's callgrind: the same count on every run,
# whatever else the machine does, where requests per second on a shared
# 2-core machine swing by a third between rounds. It counts what the server
# process executes in user space (hyper, axum, tonic, the layers, the
# handler, malloc), not the kernel's TCP work, which is the same for every
# build: a build's extra instructions are all of its extra cost, but its
# ratio to bare overstates the throughput cost by the kernel's share.
#
# Each server runs under callgrind with instrumentation off; after a warm-up,
# it is switched on for a fixed load (wrk for REST, h2load with a gRPC body
# for gRPC), then dumped. Needs valgrind (callgrind_control,
# callgrind_annotate), wrk, h2load, curl, taskset.
#
# Usage: benches/services/instructions.sh [DUR=8] [CALLS=20000]
#   WORK  the folder throughput.sh built in (default target/service-bench)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
DUR=${1:-8}; CALLS=${2:-20000}
WORK=${WORK:-$ROOT/target/service-bench}
for tool in valgrind callgrind_control callgrind_annotate wrk h2load curl taskset; do
  command -v $tool >/dev/null || { echo "missing: $tool"; exit 2; }
done
[[ -x $WORK/bin-generated && -x $WORK/bin-bare && -f $WORK/body.bin ]] \
  || { echo "run throughput.sh first (WORK=$WORK)"; exit 2; }
OUT=$WORK/instructions-$(date +%Y%m%dT%H%M%S); mkdir -p "$OUT"
SERVERS=()
for s in generated bare no-metrics no-auth no-tracing; do
  [[ -x $WORK/bin-$s ]] && SERVERS+=("$s")
done
RPC=/orders.OrderService/GetOrder

# Instructions per request of server $2 under load $1 (rest or grpc).
count() {
  local proto=$1 s=$2 port=19400 vp total n
  HTTP_ADDR=127.0.0.1:$port GRPC_ADDR=127.0.0.1:$((port + 1)) KAFKA_BROKERS=127.0.0.1:1 \
    taskset -c 0 valgrind --tool=callgrind --instr-atstart=no \
      --callgrind-out-file="$OUT/$proto-$s.%p" "$WORK/bin-$s" >"$OUT/$proto-$s.log" 2>&1 &
  vp=$!
  for _ in $(seq 120); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/orders/12345" && break; sleep 1
  done
  local h2=(taskset -c 1 h2load -c 4 -m 16 -t 1 -d "$WORK/body.bin"
            -H 'content-type: application/grpc' -H 'te: trailers'
            "http://127.0.0.1:$((port + 1))$RPC")
  if [[ $proto == rest ]]; then
    taskset -c 1 wrk -t1 -c8 -d3s "http://127.0.0.1:$port/orders/12345" >/dev/null
  else
    "${h2[@]}" -n 2000 >/dev/null
  fi
  callgrind_control -i on "$vp" >/dev/null 2>&1
  if [[ $proto == rest ]]; then
    taskset -c 1 wrk -t1 -c8 -d"${DUR}s" "http://127.0.0.1:$port/orders/12345" >"$OUT/$proto-$s.load"
    n=$(awk '/requests in/{print $1}' "$OUT/$proto-$s.load")
  else
    "${h2[@]}" -n "$CALLS" >"$OUT/$proto-$s.load"
    n=$(awk '/^requests:/{print $8}' "$OUT/$proto-$s.load")
  fi
  callgrind_control -i off "$vp" >/dev/null 2>&1
  callgrind_control -d "$vp" >/dev/null 2>&1
  kill "$vp"; wait "$vp" 2>/dev/null || true
  total=$(for f in "$OUT/$proto-$s".*[0-9]; do
            callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",", "", $1); print $1}'
          done | awk '{t += $1} END {print t}')
  echo "$proto,$s,$n,$total,$((total / n))" | tee -a "$OUT/instructions.csv"
}
echo "proto,server,requests,instructions,per_request" > "$OUT/instructions.csv"
for proto in rest grpc; do
  for s in "${SERVERS[@]}"; do count "$proto" "$s"; done
done
python3 - "$OUT/instructions.csv" <<'PY' | tee "$OUT/summary.txt"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
per = {(r["proto"], r["server"]): int(r["per_request"]) for r in rows}
for proto in ("rest", "grpc"):
    bare, full = per[(proto, "bare")], per[(proto, "generated")]
    print(f"{proto}: bare {bare} instructions/request, generated {full}: "
          f"{full / bare:.3f}x bare, {full - bare:+d} per request")
    for part in ("metrics", "auth", "tracing"):
        without = per.get((proto, f"no-{part}"))
        if without is not None:
            print(f"{proto}:   {part}: {full - without:+d} per request "
                  f"({(full - without) / full:+.1%} of the generated build's)")
PY
