#!/usr/bin/env bash
# Items per second of a generated gRPC server stream against a bare tonic
# stream sending the same item (bare/services/bare-stream), issue 11 item 6.
# The generated side is the payments example's `payments` service, release
# build, every layer on (the runtime's Sink and bounded channel, shutdown
# cancellation, size limits, health, reflection, tracing); its team-owned
# handler `handlers/balance_ticks.rs` is edited, as a team would, to send
# items as fast as the client reads instead of one per 100 ms. Both servers
# are pinned to CPU 0 and alternate within each round; the load generator
# (bare/services/streamload: STREAMS concurrent streams on one HTTP/2
# connection, every item checked) is pinned to CPU 1.
#
# Usage: benches/services/stream.sh [ROUNDS=5] [DUR=10] [WARM=2] [STREAMS=8]
#   WORK              scratch folder (default target/service-bench)
#   CARGO_TARGET_DIR  shared target (default $WORK/target)
# Prints a per-round table and the median ratios generated/bare, in items
# per second and per server CPU-second. A wrong item or a broken stream
# stops the run.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
ROUNDS=${1:-5}; DUR=${2:-10}; WARM=${3:-2}; STREAMS=${4:-8}
WORK=${WORK:-$ROOT/target/service-bench}; mkdir -p "$WORK"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$WORK/target}
for tool in taskset python3; do
  command -v $tool >/dev/null || { echo "missing: $tool"; exit 2; }
done

(cd "$ROOT" && cargo build --release -q)
rm -rf "$WORK/pay"
"$CARGO_TARGET_DIR/release/commsadvise" scaffold "$ROOT/examples/payments.yaml" --out "$WORK/pay" >/dev/null
cat > "$WORK/pay/services/payments/src/handlers/balance_ticks.rs" <<'RS'
//! `payments.PaymentsService/BalanceTicks`, edited for the stream benchmark:
//! items as fast as the client reads them, until it goes away.

use contract::payments::BalanceTicksRequest as Request;
use contract::payments::BalanceTicksResponse as Item;
use runtime::Sink;

use crate::{error::HandlerError, state::State};

pub async fn handle(_state: &State, request: Request, sink: Sink<Item>) -> Result<(), HandlerError> {
    loop {
        let item = Item {
            balance_id: request.balance_id.clone(),
            ..Default::default()
        };
        if sink.send(item).await.is_err() {
            return Ok(());
        }
    }
}
RS
(cd "$WORK/pay" && cargo build --release -q -p payments)
cp "$CARGO_TARGET_DIR/release/payments" "$WORK/bin-payments"
"$HERE/assemble-bare.sh" "$WORK/pay" "$WORK/bare-pay"
(cd "$WORK/bare-pay" && cargo build --release -q -p bare-stream -p streamload)
cp "$CARGO_TARGET_DIR/release/bare-stream" "$WORK/bin-bare-stream"
cp "$CARGO_TARGET_DIR/release/streamload" "$WORK/bin-streamload"

OUT=$WORK/stream-$(date +%Y%m%dT%H%M%S); mkdir -p "$OUT"
declare -A GRPC=([generated]=18181 [bare]=18191)
# No broker: payments' producer keeps retrying in the background on CPU 0,
# which can only count against the generated side.
GRPC_ADDR=127.0.0.1:18181 KAFKA_BROKERS=127.0.0.1:1 RUST_LOG=warn \
  taskset -c 0 "$WORK/bin-payments" serve >"$OUT/payments.log" 2>&1 & GPID=$!
GRPC_ADDR=127.0.0.1:18191 taskset -c 0 "$WORK/bin-bare-stream" >"$OUT/bare.log" 2>&1 & BPID=$!
trap 'kill $GPID $BPID 2>/dev/null || true' EXIT
declare -A PID=([generated]=$GPID [bare]=$BPID)
sleep 7   # past payments' 5 s Kafka admin timeout (no broker here)

ptime() { awk '{print $14+$15}' "/proc/$1/stat"; }   # utime+stime, clock ticks
echo "proto,round,server,rps,errors,srv_cpu_s,cpu0_busy,cpu1_busy,load1" > "$OUT/rounds.csv"
for r in $(seq 1 "$ROUNDS"); do
  for s in generated bare; do
    t0=$(ptime "${PID[$s]}")
    line=$(taskset -c 1 "$WORK/bin-streamload" "http://127.0.0.1:${GRPC[$s]}" "$STREAMS" "$DUR" "$WARM")
    t1=$(ptime "${PID[$s]}")
    echo "stream round $r $s: $line" | tee -a "$OUT/rounds.txt"
    rate=$(sed -E 's/.*per_second=([0-9.]+).*/\1/' <<<"$line")
    err=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$line")
    [[ $err == 0 ]] || { echo "stream round $r, $s: $err broken streams"; exit 1; }
    # Server CPU over warm-up and measurement: scale the rate to the whole run.
    scpu=$(awk -v a="$t0" -v b="$t1" -v d="$DUR" -v w="$WARM" 'BEGIN{printf "%.2f",(b-a)/100*d/(d+w)}')
    echo "stream,$r,$s,$rate,\"\",$scpu,,,$(cut -d' ' -f1 /proc/loadavg)" >> "$OUT/rounds.csv"
  done
done
python3 "$HERE/summarize.py" "$OUT/rounds.csv" "$DUR" | tee "$OUT/summary.txt"
