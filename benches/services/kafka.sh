#!/usr/bin/env bash
# Messages per second of the generated Kafka publisher and consumer against
# raw rdkafka with the same settings, in one process and one run, on
# librdkafka's in-process mock cluster (issue 13 item 6). The generated side
# is tests/fixtures/scaffold/kafka-only.yaml, scaffolded fresh: `orders`'
# publisher (at-least-once `order-created`, queued and awaited one by one),
# `order-history`'s publisher (exactly-once `payment-booked`, a transaction
# per event) and `order-history`'s consumer (`runtime::kafka::consume` with a
# counting Dispatch, and with the service's generated Dispatcher). The bench
# (kafka_bench.rs) becomes an example of `order-history`, the one crate that
# reaches all of them and rdkafka, so both sides build with the same profile,
# the same librdkafka and the same contract code (encode/decode).
#
# Usage: benches/services/kafka.sh [ROUNDS=5] [EVENTS=300000] [SERIAL=300] [EOS=300] [CONSUME=90000]
#   EVENTS  events per queued-publish and consume measurement
#   SERIAL  events per awaited-one-by-one at-least-once measurement
#   EOS     events (transactions) per exactly-once measurement
#   CONSUME records per consume measurement (keep it under 100 000 a
#           partition: see kafka_bench.rs)
#   WORK              scratch folder (default target/service-bench)
#   CARGO_TARGET_DIR  shared target (default $WORK/target)
#   TOOL_TARGET_DIR   target of the commsadvise build (default CARGO_TARGET_DIR)
# Prints a per-round table and the median ratios generated/raw, in events
# per second and per CPU-second of the process (the mock broker included).
# KBENCH_CASES, KBENCH_RAW_HEADERS and KBENCH_RAW_FETCH_BACKOFF_MS (see
# kafka_bench.rs) pass through.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
ROUNDS=${1:-5}; EVENTS=${2:-300000}; SERIAL=${3:-300}; EOS=${4:-300}; CONSUME=${5:-90000}
WORK=${WORK:-$ROOT/target/service-bench}; mkdir -p "$WORK"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$WORK/target}
TOOL_TARGET_DIR=${TOOL_TARGET_DIR:-$CARGO_TARGET_DIR}

(cd "$ROOT" && CARGO_TARGET_DIR=$TOOL_TARGET_DIR cargo build --release -q)
rm -rf "$WORK/ledger"
"$TOOL_TARGET_DIR/release/commsadvise" scaffold "$ROOT/tests/fixtures/scaffold/kafka-only.yaml" \
  --out "$WORK/ledger" >/dev/null
mkdir -p "$WORK/ledger/services/order-history/examples"
cp "$HERE/kafka_bench.rs" "$WORK/ledger/services/order-history/examples/kafka_bench.rs"
(cd "$WORK/ledger" && cargo build --release -q -p order-history --example kafka_bench)
cp "$CARGO_TARGET_DIR/release/examples/kafka_bench" "$WORK/bin-kafka-bench"

OUT=$WORK/kafka-$(date +%Y%m%dT%H%M%S); mkdir -p "$OUT"
# stderr carries the one case's per-event log lines (and librdkafka's): not
# kept, so that only formatting and writing them cost.
"$WORK/bin-kafka-bench" "$ROUNDS" "$EVENTS" "$SERIAL" "$EOS" "$CONSUME" 2>/dev/null | tee "$OUT/rounds.txt"
