#!/usr/bin/env bash
# The generated orders workspace against a real Kafka-protocol broker process
# (tansu, https://github.com/tansu-io/tansu), with the broker killed -9 and
# restarted in the middle of a stream of events.
#
# Usage: BIN_DIR=path/to/target/debug tests/broker/tansu-faults.sh
#   BIN_DIR  folder holding the built `orders` and `analytics` binaries of a
#            workspace scaffolded from the built-in example (required)
#   TANSU    tansu binary (default: `tansu` on PATH, else ~/.cargo/bin/tansu);
#            install with `cargo install tansu --locked --features dynostore,libsql`
#   N        events in the stream (default 200); LANES publishers in parallel (4)
#   VENV     Python venv with confluent-kafka (default ~/.cache/orders-e2e-venv,
#            created when missing: needs network access once)
#   KEEP     set to keep the temp dir (broker store, logs) for inspection
#
# What it does:
#   1. starts `tansu broker` on a free 127.0.0.1 port with a SQLite store (a
#      relative path, in a temp dir), runs `orders publish order-created
#      order-12345` and checks with an independent client (Python
#      confluent-kafka, a recent librdkafka; Debian's kcat is too old for
#      tansu) that the topic holds exactly that record, key and value;
#   2. publishes N more events with `orders publish` (LANES loops in parallel;
#      each command exits 0 only once the broker acknowledged its event) while
#      the broker is killed with SIGKILL once a third of them are acknowledged,
#      and restarted on the same store 2 s later;
#   3. reads the whole topic back and counts; then runs the generated
#      `analytics` consumer from the start of its group and checks that it
#      handles every acknowledged event.
# The last line is the summary: sent, acknowledged, failed, consumed, lost,
# duplicated. Exit 0 only when no acknowledged event is lost (for the topic
# reader and for analytics) and step 1 passed. Bounded to about 4 minutes.
#
# What it proves: an event that `orders publish` reported as acknowledged
# survives a broker crash (kill -9, no clean shutdown) and restart, and is
# delivered to a consumer at least once; a publish that could not be
# acknowledged is reported by a non-zero exit, not silently dropped; the
# generated producer and consumer speak the protocol of a broker that is not
# librdkafka's mock, including topic creation (tansu does not auto-create).
# What it does not prove: anything about exactly-once or transactions (tansu
# is not a reference implementation of Kafka transactions, and this script
# does not exercise them), replication or leader fail-over (one broker),
# durability against power loss (SQLite's fsync behaviour is tansu's), or
# performance. Duplicates are counted but allowed: at-least-once.
set -u
BIN_DIR=${BIN_DIR:?set BIN_DIR to the folder of the built orders and analytics binaries}
TANSU=${TANSU:-$(command -v tansu || echo "$HOME/.cargo/bin/tansu")}
N=${N:-200}
LANES=${LANES:-4}
VENV=${VENV:-$HOME/.cache/orders-e2e-venv}
DOWN_SECS=2
ORDERS=$BIN_DIR/orders
ANALYTICS=$BIN_DIR/analytics
W=$(mktemp -d)
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]:-}" $(cat "$W/tansu.pid" 2>/dev/null); do
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  if [ -n "${KEEP:-}" ]; then echo "logs kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "tansu faults: FAIL: $*"; [ -f "$W/tansu.log" ] && tail -5 "$W/tansu.log" | sed 's/^/  tansu: /'; exit 1; }

for bin in "$ORDERS" "$ANALYTICS" "$TANSU"; do
  [ -x "$bin" ] || fail "not an executable: $bin"
done
if ! "$VENV/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q confluent-kafka >/dev/null 2>&1 \
    || fail "cannot install confluent-kafka into $VENV"
fi

PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
BROKERS=127.0.0.1:$PORT
export KAFKA_BROKERS=$BROKERS RUST_LOG=${RUST_LOG:-warn}

# Starts tansu on $PORT with its store in $W, records its pid, waits for the port.
start_tansu() {
  (cd "$W" && exec "$TANSU" broker \
      --listener-url "tcp://127.0.0.1:$PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$PORT" \
      --storage-engine "sqlite://tansu.db") >>"$W/tansu.log" 2>&1 &
  echo $! >"$W/tansu.pid"
  disown $!  # killed on purpose: no "Killed" notice from bash
  local i
  for ((i = 0; i < 200; i++)); do
    (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Reads every record of order-events from the beginning to the high
# watermarks; prints one "key<TAB>value" line per record.
read_topic() {
  timeout 90 "$VENV/bin/python" - "$BROKERS" <<'PY'
import sys, time, uuid
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "tansu-faults-" + uuid.uuid4().hex,
              "enable.auto.commit": False, "auto.offset.reset": "earliest"})
topic = "order-events"
md = c.list_topics(topic, timeout=20)
parts = sorted(md.topics[topic].partitions)
ends = {}
for p in parts:
    low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=20)
    if high > low:
        ends[p] = high
c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
deadline = time.time() + 60
while ends and time.time() < deadline:
    m = c.poll(0.5)
    if m is None or m.error():
        continue
    print((m.key() or b"").decode() + "\t" + (m.value() or b"").decode())
    if m.offset() + 1 >= ends.get(m.partition(), 0):
        ends.pop(m.partition(), None)
c.close()
if ends:
    sys.exit("topic not read to its end: " + repr(ends))
PY
}

start_tansu || fail "tansu did not listen on $BROKERS"

# 1. One event, and exactly that record in the topic.
timeout 60 "$ORDERS" publish order-created order-12345 >"$W/publish-1.out" 2>"$W/publish-1.err" \
  || fail "orders publish order-created order-12345: $(tail -1 "$W/publish-1.err")"
read_topic >"$W/records-1" 2>"$W/read-1.err" || fail "reading the topic: $(tail -1 "$W/read-1.err")"
single=$(python3 - "$W/records-1" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
ok = len(lines) == 1 and lines[0].split("\t", 1)[0] == "order-12345" \
    and json.loads(lines[0].split("\t", 1)[1]) == {"orderId": "order-12345", "status": "CREATED"}
print("ok" if ok else "got %d record(s): %r" % (len(lines), lines[:3]))
PY
)
[ "$single" = ok ] || fail "after one publish the topic should hold exactly that record; $single"
echo "tansu faults: publish + consume one record: ok"

# 2. A stream of N events while the broker is killed -9 and restarted.
lane() {
  local i
  for ((i = $1; i <= N; i += LANES)); do
    if timeout 40 "$ORDERS" publish order-created "order-stream-$i" >/dev/null 2>>"$W/lane-$1.err"; then
      echo "$i" >>"$W/acked"
    else
      echo "$i" >>"$W/failed"
    fi
  done
}
: >"$W/acked"; : >"$W/failed"
started=$(date +%s)
for ((l = 1; l <= LANES; l++)); do lane "$l" & PIDS+=($!); done
(
  while [ "$(wc -l <"$W/acked")" -lt $((N / 3)) ]; do
    [ $(($(date +%s) - started)) -gt 120 ] && exit 1
    sleep 0.05
  done
  kill -9 "$(cat "$W/tansu.pid")"
  echo "killed after $(wc -l <"$W/acked") acknowledged" >"$W/killed"
  sleep "$DOWN_SECS"
  start_tansu && echo restarted >>"$W/killed"
) & KILLER=$!; PIDS+=($KILLER)
for ((l = 0; l < LANES; l++)); do wait "${PIDS[$l]}"; done
wait "$KILLER" || fail "the broker was never killed: fewer than $((N / 3)) events acknowledged in 120 s"
grep -q restarted "$W/killed" || fail "tansu did not restart"
echo "tansu faults: stream of $N with kill -9 + restart: $(head -1 "$W/killed"), stream took $(($(date +%s) - started)) s"

# 3. Count what the topic holds, then what the generated consumer handles.
read_topic >"$W/records-2" 2>"$W/read-2.err" || fail "reading the topic: $(tail -1 "$W/read-2.err")"
RUST_LOG=info "$ANALYTICS" >/dev/null 2>"$W/analytics.log" & ANALYTICS_PID=$!; PIDS+=($ANALYTICS_PID)
deadline=$(($(date +%s) + 60))
while [ "$(date +%s)" -lt "$deadline" ]; do
  missing=$(python3 - "$W/acked" "$W/analytics.log" <<'PY'
import re, sys
acked = {"order-stream-" + l.strip() for l in open(sys.argv[1]) if l.strip()}
handled = set(re.findall(r"event handled .*?key=(\S+)", open(sys.argv[2], errors="replace").read()))
print(len(acked - handled))
PY
)
  [ "$missing" = 0 ] && break
  sleep 1
done
kill -TERM "$ANALYTICS_PID" 2>/dev/null; wait "$ANALYTICS_PID" 2>/dev/null

python3 - "$N" "$W/acked" "$W/failed" "$W/records-2" "$W/analytics.log" <<'PY'
import collections, re, sys
n = int(sys.argv[1])
ids = lambda path: {"order-stream-" + l.strip() for l in open(path) if l.strip()}
acked, failed = ids(sys.argv[2]), ids(sys.argv[3])
counts = collections.Counter(l.split("\t", 1)[0] for l in open(sys.argv[4]).read().splitlines()
                             if l.startswith("order-stream-"))
handled = collections.Counter(re.findall(r"event handled .*?key=(order-stream-\S+)",
                                         open(sys.argv[5], errors="replace").read()))
lost = len(acked - set(counts))
lost_analytics = len(acked - set(handled))
print("tansu faults: sent=%d acked=%d failed=%d consumed=%d lost=%d duplicated=%d failed_but_written=%d"
      " | analytics: handled=%d lost=%d duplicated=%d"
      % (n, len(acked), len(failed), len(counts), lost, sum(c - 1 for c in counts.values()),
         len(failed & set(counts)), len(handled), lost_analytics, sum(c - 1 for c in handled.values())))
sys.exit(1 if lost or lost_analytics or len(acked) + len(failed) != n else 0)
PY
