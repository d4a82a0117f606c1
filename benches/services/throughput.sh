#!/usr/bin/env bash
# Requests per second of the generated `orders` service (every layer on; its
# team-owned example handler reduced to the echo the baseline answers)
# against a bare axum + tonic server answering the same (bare/), issue 3
# item 8. Release builds; the servers pinned to CPU 0, the load generator
# (wrk for REST, h2load with a gRPC body for gRPC) to CPU 1; the servers
# take turns within each round, so drift hits all. Needs wrk, h2load
# (nghttp2-client), curl, taskset, python3 and 2 CPUs.
#
# The ablation (issue 15 item 6): three more builds of `orders`, each
# without one part of the production envelope, measured in the same rounds:
# `no-metrics` (the REST guard labels and records nothing, no metrics layer
# on the gRPC server), `no-auth` (no authentication check in the REST guard,
# no interceptor around the gRPC service) and `no-tracing` (no span opened or
# asked for on either server; tracing is off in every build, no
# OTEL_EXPORTER_OTLP_ENDPOINT, so this is the cost of the hooks themselves). A part's cost is the ratio gained by
# removing it. ABLATION=0 measures generated and bare alone. Within a round
# the servers take turns in a rotating order, so none is always measured
# right after another; all of them are started on CPU 0, and all but the one
# measured are stopped (SIGSTOP) while it is (idle, the `orders` builds
# would retry their broker now and then).
#
# Usage: benches/services/throughput.sh [ROUNDS=5] [DUR=15] [WARM=3]
#   WORK        scratch folder (default target/service-bench)
#   CARGO_TARGET_DIR  shared target for the tool and both workspaces
#                     (default $WORK/target)
# Prints a per-round table and the median ratios generated/bare, in requests
# per second and per server CPU-second (robust to other work on CPU 0). Any
# failed request stops the run. The `orders` builds run without a broker:
# the one measured keeps retrying it in the background on CPU 0, a cost
# counted against it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
ROUNDS=${1:-5}; DUR=${2:-15}; WARM=${3:-3}
WORK=${WORK:-$ROOT/target/service-bench}; mkdir -p "$WORK"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$WORK/target}
for tool in wrk h2load curl taskset python3; do
  command -v $tool >/dev/null || { echo "missing: $tool"; exit 2; }
done

# Build: the tool, the built-in example's workspace, the bare baseline.
(cd "$ROOT" && cargo build --release -q)
rm -rf "$WORK/shop"
"$CARGO_TARGET_DIR/release/commsadvise" scaffold --out "$WORK/shop" >/dev/null
# The example handler, which is the team's, also announces `order-created` on every
# call (issue 13); that is business logic, measured by the Kafka benchmarks, not
# plumbing. Here it answers as the bare server does, so the two compare layers only.
cat > "$WORK/shop/services/orders/src/handlers/get_order.rs" <<'RS'
//! `orders.OrderService/GetOrder`, edited for the throughput benchmark: the
//! example's echo, without its announcement of `order-created`.

use contract::orders::OrderRequest as Request;
use contract::orders::OrderResponse as Response;

use crate::{error::HandlerError, state::State};

#[allow(clippy::unused_async)]
pub async fn handle(_state: &State, request: Request) -> Result<Response, HandlerError> {
    Ok(Response {
        order_id: request.order_id,
        status: "CREATED".to_owned(),
    })
}
RS
(cd "$WORK/shop" && cargo build --release -q -p orders)
# Each build is kept as bin-<its name in the tables>.
cp "$CARGO_TARGET_DIR/release/orders" "$WORK/bin-generated"
SERVERS=(generated bare)
if [[ ${ABLATION:-1} == 1 ]]; then
  SRC=$WORK/shop/services/orders/src
  RUNTIME=$WORK/shop/runtime/src
  cp "$SRC/grpc.rs" "$WORK/grpc.rs.orig"
  for f in guard auth telemetry; do cp "$RUNTIME/$f.rs" "$WORK/$f.rs.orig"; done
  # Each edit must change the file: a template change that moves the line
  # stops the run rather than measure nothing.
  ablate() { # variant: edit, build, keep the binary, restore
    python3 - "$1" "$SRC" "$RUNTIME" <<'PY'
import re, sys
variant, src, runtime = sys.argv[1], sys.argv[2], sys.argv[3]
def edit(path, pattern, repl):
    text = open(path).read()
    new, n = re.subn(pattern, repl, text)
    if n == 0:
        sys.exit(f"{variant}: nothing matched {pattern!r} in {path}")
    open(path, "w").write(new)
guard, telemetry = f"{runtime}/guard.rs", f"{runtime}/telemetry.rs"
if variant == "no-metrics":
    # The guard neither labels nor records (it still reads the clock).
    edit(guard, r"self\.shared\.routes\.of\(request\.uri\(\)\.path\(\)\)", '"unmatched"')
    edit(guard, r"\n\s*http_request\(this\.method[^;]*\);", "")
    edit(f"{src}/grpc.rs", r"\n\s*\.layer\(GrpcMetricsLayer::new\(METHOD_PATHS\)\)", "")
elif variant == "no-auth":
    # No check in the guard (the orders example has no CORS, so the guard
    # makes it), no interceptor around the gRPC service.
    edit(guard, r"\n\s*let refusal = refusal\.or_else\(\|\| self\.shared\.auth\?\.refusal\(&request\)\);", "")
    edit(f"{src}/grpc.rs", r"\n\s*let (\w+) =\s*InterceptedService::new\(\1, auth\.clone\(\)\);", "")
elif variant == "no-tracing":
    # Disabled spans, built without looking at the flag or the headers.
    edit(guard, r"trace::http_server\(&method, route, request\.headers\(\)\)", "tracing::Span::none()")
    edit(guard, r"\n\s*trace::http_answered\(this\.span, status\);", "")
    edit(telemetry, r"crate::trace::grpc_server\(known, request\.headers\(\)\)", "tracing::Span::none()")
    edit(telemetry, r"\n\s*crate::trace::grpc_answered\(this\.span, code as i32\);", "")
PY
    (cd "$WORK/shop" && cargo build --release -q -p orders 2>"$WORK/build-$1.log") \
      || { cat "$WORK/build-$1.log"; exit 1; }
    cp "$CARGO_TARGET_DIR/release/orders" "$WORK/bin-$1"
    cp "$WORK/grpc.rs.orig" "$SRC/grpc.rs"
    for f in guard auth telemetry; do cp "$WORK/$f.rs.orig" "$RUNTIME/$f.rs"; done
  }
  ablate no-metrics; ablate no-auth; ablate no-tracing
  SERVERS+=(no-metrics no-auth no-tracing)
fi
"$HERE/assemble-bare.sh" "$WORK/shop" "$WORK/bare"
(cd "$WORK/bare" && cargo build --release -q -p bare)
cp "$CARGO_TARGET_DIR/release/bare" "$WORK/bin-bare"
# gRPC frame of OrderRequest { order_id: "12345" }.
printf '\x00\x00\x00\x00\x07\x0a\x0512345' > "$WORK/body.bin"

OUT=$WORK/throughput-$(date +%Y%m%dT%H%M%S); mkdir -p "$OUT"
URL=/orders/12345; RPC=/orders.OrderService/GetOrder
declare -A HTTP=([generated]=18080 [bare]=18090 [no-metrics]=18100 [no-auth]=18110 [no-tracing]=18120)
declare -A GRPC=([generated]=18081 [bare]=18091 [no-metrics]=18101 [no-auth]=18111 [no-tracing]=18121)
declare -A PID=()
# set +e: a server that already died must not stop the others' cleanup
# (errexit applies inside the trap), or leave them stopped.
trap 'set +e; kill "${PID[@]}" 2>/dev/null; kill -CONT "${PID[@]}" 2>/dev/null; true' EXIT
for s in "${SERVERS[@]}"; do
  HTTP_ADDR=127.0.0.1:${HTTP[$s]} GRPC_ADDR=127.0.0.1:${GRPC[$s]} KAFKA_BROKERS=127.0.0.1:1 \
    taskset -c 0 "$WORK/bin-$s" >"$OUT/$s.log" 2>&1 & PID[$s]=$!
done
sleep 7   # past orders' 5 s Kafka admin timeout (no broker here)

for s in "${SERVERS[@]}"; do   # all answer correctly before anything is timed
  body=$(curl -s "http://127.0.0.1:${HTTP[$s]}$URL")
  [[ $body == '{"orderId":"12345","status":"CREATED"}' ]] || { echo "$s REST body: $body"; exit 1; }
  st=$(curl -s -v --http2-prior-knowledge -H 'content-type: application/grpc' -H 'te: trailers' \
        --data-binary @"$WORK/body.bin" "http://127.0.0.1:${GRPC[$s]}$RPC" -o /dev/null 2>&1 \
        | tr -d '\r' | grep -i '< grpc-status' || true)
  [[ $st == '< grpc-status: 0' ]] || { echo "$s gRPC: $st"; exit 1; }
done

cpu() { awk '/^cpu[01] /{printf "%s %d %d ", $1, $2+$3+$4+$7+$8, $5+$6}' /proc/stat; }
ptime() { awk '{print $14+$15}' "/proc/$1/stat"; }   # utime+stime, clock ticks
echo "proto,round,server,rps,errors,srv_cpu_s,cpu0_busy,cpu1_busy,load1" > "$OUT/rounds.csv"
# Only the server measured runs: the others are stopped (SIGSTOP) meanwhile,
# so their Kafka clients' retries take nothing from it.
pause_others() { # signal server
  local o
  for o in "${SERVERS[@]}"; do
    [[ $o == "$2" ]] || kill "-$1" "${PID[$o]}" 2>/dev/null \
      || { echo "$o is no longer running (see $OUT/$o.log)"; exit 1; }
  done
}
measure() { # proto round server
  local proto=$1 r=$2 s=$3 c0 c1 t0 t1 rps err u0 u1 scpu
  pause_others STOP "$s"
  if [[ $proto == rest ]]; then
    taskset -c 1 wrk -t1 -c32 -d"${WARM}s" "http://127.0.0.1:${HTTP[$s]}$URL" >/dev/null
    c0=$(cpu); t0=$(ptime "${PID[$s]}")
    taskset -c 1 wrk -t1 -c32 -d"${DUR}s" "http://127.0.0.1:${HTTP[$s]}$URL" >"$OUT/$proto-$r-$s.txt"
    rps=$(awk '/^Requests\/sec/{print $2}' "$OUT/$proto-$r-$s.txt")
    err=$(awk '/Non-2xx|Socket errors/{printf "%s ", $0}' "$OUT/$proto-$r-$s.txt")
  else
    c0=$(cpu); t0=$(ptime "${PID[$s]}")
    taskset -c 1 h2load -D "$DUR" --warm-up-time="$WARM" -c 16 -m 16 -t 1 -d "$WORK/body.bin" \
      -H 'content-type: application/grpc' -H 'te: trailers' \
      "http://127.0.0.1:${GRPC[$s]}$RPC" >"$OUT/$proto-$r-$s.txt"
    rps=$(awk '/^finished in/{gsub(",","",$4); print $4}' "$OUT/$proto-$r-$s.txt")
    err=$(awk '/^requests:/{print $10" failed "$12" errored"}' "$OUT/$proto-$r-$s.txt")
  fi
  c1=$(cpu); t1=$(ptime "${PID[$s]}")
  pause_others CONT "$s"
  read -r _ b0a i0a _ b1a i1a <<<"$c0"; read -r _ b0b i0b _ b1b i1b <<<"$c1"
  u0=$(( 100*(b0b-b0a)/(b0b-b0a+i0b-i0a) )); u1=$(( 100*(b1b-b1a)/(b1b-b1a+i1b-i1a) ))
  scpu=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f",(b-a)/100}')
  echo "$proto,$r,$s,$rps,\"$err\",$scpu,$u0,$u1,$(cut -d' ' -f1 /proc/loadavg)" >> "$OUT/rounds.csv"
  # Failed requests would count as throughput: a round with any is void.
  if [[ -n $err && $err != "0 failed 0 errored" ]]; then
    echo "$proto round $r, $s: errors: $err (see $OUT/$proto-$r-$s.txt)"; exit 1
  fi
}
uptime | tee "$OUT/uptime-start.txt"
for proto in rest grpc; do
  for r in $(seq 1 "$ROUNDS"); do
    n=${#SERVERS[@]}
    for i in $(seq 0 $((n - 1))); do measure "$proto" "$r" "${SERVERS[$(( (i + r) % n ))]}"; done
  done
done
uptime | tee "$OUT/uptime-end.txt"
python3 "$HERE/summarize.py" "$OUT/rounds.csv" "$DUR" | tee "$OUT/summary.txt"
