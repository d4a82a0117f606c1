#!/usr/bin/env bash
# Acceptance check of the team-proto case (examples/team/flows.yaml, SPEC §7)
# with clients that commsadvise did not write, against a real Kafka-protocol
# broker (tansu): the generated logistics workspace, seen from outside.
#
# Usage: tests/broker/team-e2e.sh WORKSPACE
#   WORKSPACE  the folder of `commsadvise scaffold examples/team/flows.yaml
#              --out WORKSPACE`. When it does not exist and COMMSADVISE names
#              the commsadvise binary, the script scaffolds it first.
# Env:
#   COMMSADVISE  commsadvise binary, to scaffold a missing WORKSPACE
#   TARGET_DIR   cargo target dir for the build (default: CARGO_TARGET_DIR,
#                else WORKSPACE/target)
#   BIN_DIR      folder of already built service binaries: skips the build
#   VENV         Python venv with grpcio, grpcio-reflection, protobuf,
#                opentelemetry-proto and confluent-kafka (default ~/.cache/team-e2e-venv; created
#                when missing, which needs the package index once)
#   TANSU        tansu binary (default: tansu on PATH, else ~/.cargo/bin/tansu).
#                Without it the Kafka part is UNCHECKED, which fails the run.
#   KEEP         set to keep the temp dir (logs, bodies) for inspection
#
# What it checks, each part with its own client:
#   rest    curl on the two google.api.http routes of ShipmentService:
#           GET /v1/shipments/{shipment_id} and POST
#           /v1/warehouses/{warehouse_code}/shipments with a JSON body
#           (`body: "*"`). The answer is the proto3 JSON of the response as
#           the sample handler fills it: `{"shipmentId": <the request's>}`,
#           every other field at its default and so omitted (a failure says
#           which names are not the message's lowerCamelCase JSON names, or
#           which enum or timestamp is not in its proto3 JSON form). The
#           POST is a flow with idempotency keys: sent again with its
#           `Idempotency-Key`, it gets the same answer marked
#           `idempotent-replayed: true`; the key on another body gets 422.
#   grpc    Python grpcio, with no .proto: the descriptors come from the
#           server's reflection. InventoryService/ReserveStock, unary; the
#           answer's `reservation_id` is the request's.
#   stream  the same way, ShipmentService/WatchShipment, server streaming:
#           read 3 messages (each with the request's `shipment_id`), cancel,
#           then open it again (the server survived the client going away).
#   kafka   `shipments publish shipment-dispatched JSON` exits 0; a
#           confluent-kafka consumer reads topic `shipment-events` and finds
#           the record keyed by the event's `warehouse_code`, its value the
#           proto3 JSON of the event, with a `content-type` header; and both
#           consumers of the flow, `billing` and `notifications`, log that
#           they handled it (topic and key on one line, SPEC §6).
#   outbox  the bookings the REST part made went through shipments'
#           transactional outbox: its relay published one event per booking
#           (the replayed one ran no handler, so none for it), each with an
#           `event-id` header, and billing and notifications handled them.
#   trace   every service exports its spans over OTLP/gRPC to a collector
#           of ours (Python, opentelemetry-proto's service definitions). A
#           booking POSTed with a W3C `traceparent` of a fresh trace id must
#           come back as spans of that one trace from all four services:
#           shipments' REST request, inventory's ReserveStock (the call the
#           booking's handler makes), and billing's and notifications'
#           handling of the event the outbox relayed. shipments logs JSON
#           lines (`LOG_FORMAT=json`): one within the request carries the
#           trace id.
# The last line is the summary, `team e2e: rest=ok grpc=ok stream=ok kafka=ok
# outbox=ok trace=ok` when all passed; exit 0 only then. Each step is bounded (build: 30 min).
set -u

WS=${1:?usage: team-e2e.sh WORKSPACE (a scaffold of examples/team/flows.yaml)}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/broker/lib.sh
source "$HERE/lib.sh"
FLOWS=$HERE/../../examples/team/flows.yaml
VENV=${VENV:-$HOME/.cache/team-e2e-venv}
TANSU=${TANSU:-$(command -v tansu || echo "$HOME/.cargo/bin/tansu")}
# The services this check starts: REST + gRPC + producer, gRPC, two consumers.
SERVICES=(shipments inventory billing notifications)
TOPIC=shipment-events
W=$(mktemp -d)
PIDS=()
declare -A SERVICE_PID

trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "team e2e: $*"; exit 1; }

# ---- the workspace and its binaries ------------------------------------------
if [ ! -d "$WS" ] && [ -n "${COMMSADVISE:-}" ]; then
  "$COMMSADVISE" scaffold "$FLOWS" --out "$WS" >"$W/scaffold.log" 2>&1 \
    || die "scaffold of $FLOWS failed: $(last "$W/scaffold.log")"
fi
[ -f "$WS/Cargo.toml" ] || die "$WS is not a generated workspace (no Cargo.toml)"
WS=$(realpath "$WS")
if [ -n "${BIN_DIR:-}" ]; then
  BIN=$BIN_DIR
else
  CARGO_TARGET_DIR=$(realpath -m "${TARGET_DIR:-${CARGO_TARGET_DIR:-$WS/target}}")
  export CARGO_TARGET_DIR
  packages=()
  for s in "${SERVICES[@]}"; do packages+=(-p "$s"); done
  (cd "$WS" && timeout 1800 cargo build "${packages[@]}") >"$W/build.log" 2>&1 \
    || die "the workspace does not build: $(grep -m1 -E '^error' "$W/build.log" || last "$W/build.log")"
  BIN=$CARGO_TARGET_DIR/debug
fi
for s in "${SERVICES[@]}"; do
  [ -x "$BIN/$s" ] || die "no '$s' binary in $BIN (one binary crate per service, SPEC §6)"
done

# ---- the independent clients -------------------------------------------------
PY=$VENV/bin/python
if ! "$PY" -c 'import grpc, grpc_reflection, google.protobuf, confluent_kafka, opentelemetry.proto' 2>/dev/null; then
  { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q grpcio grpcio-reflection protobuf confluent-kafka opentelemetry-proto; } \
    >"$W/pip.log" 2>&1 || die "cannot install the Python clients into $VENV: $(last "$W/pip.log")"
fi

# ---- the OTLP collector --------------------------------------------------------
# Writes one JSON line per span received: service, name, trace id.
PO=$(port)
SPANS=$W/spans.jsonl
cat >"$W/otlp.py" <<'PY'
import json, sys, threading
from concurrent import futures
import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

port, out = sys.argv[1:3]
written = threading.Lock()  # one batch at a time: no line split by another

class Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request, context):
        with written, open(out, "a") as f:
            for resource in request.resource_spans:
                service = next((a.value.string_value for a in resource.resource.attributes
                                if a.key == "service.name"), "")
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        f.write(json.dumps({"service": service, "name": span.name,
                                            "trace_id": span.trace_id.hex()}) + "\n")
        return trace_service_pb2.ExportTraceServiceResponse()

server = grpc.server(futures.ThreadPoolExecutor(4))
trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
server.add_insecure_port(f"127.0.0.1:{port}")
server.start()
server.wait_for_termination()
PY
"$PY" "$W/otlp.py" "$PO" "$SPANS" >"$W/otlp.log" 2>&1 &
PIDS+=($!)
wait_port "$PO" 20 "$!" || die "the OTLP collector did not start: $(last "$W/otlp.log")"

# ---- broker and services -----------------------------------------------------
PH=$(port); PG=$(port); PI=$(port); PK=$(port)
BROKERS=127.0.0.1:$PK
kafka_up=""
if [ -x "$TANSU" ]; then
  (cd "$W" && exec "$TANSU" broker --listener-url "tcp://127.0.0.1:$PK" \
    --advertised-listener-url "tcp://127.0.0.1:$PK" --storage-engine memory://tansu/) \
    >"$W/tansu.log" 2>&1 &
  PIDS+=($!)
  wait_port "$PK" 20 "$!" && kafka_up=1
fi

# start NAME ENV...: the service binary NAME in the background, logging to
# $W/NAME.log (a consumer logs what it handled there).
start() {
  local name=$1
  shift
  env NO_COLOR=1 RUST_LOG=info KAFKA_BROKERS="$BROKERS" \
    OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$PO" OTEL_BSP_SCHEDULE_DELAY=200 \
    "$@" "$BIN/$name" >"$W/$name.log" 2>&1 &
  PIDS+=($!)
  SERVICE_PID[$name]=$!
}
# Every service here keeps a database (idempotency records, the outbox, the
# ids of handled events): each lives in the temp dir.
start inventory GRPC_ADDR="127.0.0.1:$PI" DATABASE_URL="sqlite://$W/data/inventory.db"
# shipments calls inventory (reserve-stock) from its booking handler, with a
# deadline a debug build on a busy machine meets. Its logs are JSON lines,
# its handlers' at debug (the call's answer, within the request).
start shipments HTTP_ADDR="127.0.0.1:$PH" GRPC_ADDR="127.0.0.1:$PG" INVENTORY_GRPC_URL="http://127.0.0.1:$PI" \
  DATABASE_URL="sqlite://$W/data/shipments.db" LOG_FORMAT=json RUST_LOG=info,shipments=debug \
  RESERVE_STOCK_DEADLINE_MS=2000
start billing DATABASE_URL="sqlite://$W/data/billing.db"
start notifications DATABASE_URL="sqlite://$W/data/notifications.db"
if ! { wait_port "$PH" 60 "${SERVICE_PID[shipments]}" && wait_port "$PG" 10 "${SERVICE_PID[shipments]}"; }; then
  die "shipments did not listen on HTTP_ADDR=127.0.0.1:$PH and GRPC_ADDR=127.0.0.1:$PG: $(last "$W/shipments.log")"
fi
wait_port "$PI" 30 "${SERVICE_PID[inventory]}" || die "inventory did not listen on GRPC_ADDR=127.0.0.1:$PI: $(last "$W/inventory.log")"

res=""

# ---- REST: curl on the annotated routes ---------------------------------------
# json_check BODY_FILE MESSAGE KEYS ID: the body is the proto3 JSON of MESSAGE
# (only KEYS, its fields' JSON names) as the sample handler answers: exactly
# `{"shipmentId": ID}`, every other field at its default and so omitted.
json_check() {
  python3 - "$@" <<'PY'
import json, re, sys
path, message, keys, want = sys.argv[1:5]
keys = set(keys.split(","))
try:
    body = json.load(open(path))
except ValueError as e:
    sys.exit(f"{message}: not JSON ({e}): {open(path).read()[:120]!r}")
if not isinstance(body, dict):
    sys.exit(f"{message}: not a JSON object: {body!r}")
unknown = sorted(set(body) - keys)
if unknown:
    sys.exit(f"{message}: fields that are not its proto3 JSON names: {unknown} in {body}")
if body.get("shipmentId") != want:
    sys.exit(f"{message}: shipmentId {body.get('shipmentId')!r}, the request's is {want!r}: {body}")
status = body.get("status", "SHIPMENT_STATUS_UNSPECIFIED")
if not (isinstance(status, str) and status.startswith("SHIPMENT_STATUS_")):
    sys.exit(f"{message}: status {status!r} is not an enum value's name")
booked = body.get("bookedAt")
rfc3339_utc = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z"
if booked is not None and not (isinstance(booked, str) and re.fullmatch(rfc3339_utc, booked)):
    sys.exit(f"{message}: bookedAt {booked!r} is not an RFC 3339 timestamp in UTC")
if body != {"shipmentId": want}:
    sys.exit(
        f"{message}: {body}; the sample handler echoes the id and leaves every other "
        f"field at its default, which proto3 JSON omits: {{'shipmentId': {want!r}}}"
    )
PY
}
# call NAME CURL-ARGS...: curl, body in $W/NAME.json; prints "CODE TYPE".
call() {
  local name=$1
  shift
  curl -s -m 5 -o "$W/$name.json" -w '%{http_code} %{content_type}' "$@" 2>/dev/null
  return 0
}
rest_fail=""
got=$(call get "http://127.0.0.1:$PH/v1/shipments/SHP-1001")
case "$got" in
  "200 application/json"*)
    why=$(json_check "$W/get.json" GetShipmentResponse \
      shipmentId,warehouseCode,status,destination,parcels,bookedAt SHP-1001 2>&1) || rest_fail="GET: $why" ;;
  *) rest_fail="GET /v1/shipments/SHP-1001 answered '$got': $(head -c 120 "$W/get.json" 2>/dev/null)" ;;
esac
if [ -z "$rest_fail" ]; then
  got=$(call create -X POST -H 'content-type: application/json' \
    --data '{"shipmentId":"SHP-2002","destination":{"recipient":"A. Reader","lines":["Hauptstr. 1"],"postalCode":"10115","city":"Berlin","countryCode":"DE"},"parcels":[{"parcelId":"P-1","weightGrams":1200}]}' \
    "http://127.0.0.1:$PH/v1/warehouses/WH-BER-1/shipments")
  case "$got" in
    2[0-9][0-9]" application/json"*)
      why=$(json_check "$W/create.json" CreateShipmentResponse shipmentId,status,bookedAt SHP-2002 2>&1) \
        || rest_fail="POST: $why" ;;
    *) rest_fail="POST /v1/warehouses/WH-BER-1/shipments answered '$got': $(head -c 120 "$W/create.json" 2>/dev/null)" ;;
  esac
fi
if [ -z "$rest_fail" ]; then
  # create-shipment takes an Idempotency-Key: the same request again is
  # answered from shipments' records, another request under it is refused.
  booking='{"shipmentId":"SHP-3003","parcels":[{"parcelId":"P-2","weightGrams":800}]}'
  for n in 1 2; do
    curl -s -m 5 -D "$W/keyed$n.headers" -o "$W/keyed$n.json" -X POST \
      -H 'content-type: application/json' -H 'idempotency-key: team-e2e-1' \
      --data "$booking" "http://127.0.0.1:$PH/v1/warehouses/WH-BER-1/shipments" || true
  done
  mismatch=$(curl -s -m 5 -o "$W/keyed3.json" -w '%{http_code}' -X POST \
    -H 'content-type: application/json' -H 'idempotency-key: team-e2e-1' \
    --data '{"shipmentId":"SHP-4004"}' "http://127.0.0.1:$PH/v1/warehouses/WH-BER-1/shipments" || true)
  if grep -qi '^idempotent-replayed' "$W/keyed1.headers"; then
    rest_fail="keyed POST: the first request was marked replayed"
  elif ! grep -qi '^idempotent-replayed: true' "$W/keyed2.headers"; then
    rest_fail="keyed POST: the repeated request was not answered from the records: $(head -1 "$W/keyed2.headers")"
  elif ! cmp -s "$W/keyed1.json" "$W/keyed2.json"; then
    rest_fail="keyed POST: the repeated request got another body: $(head -c 120 "$W/keyed2.json")"
  elif [ "$mismatch" != 422 ]; then
    rest_fail="keyed POST: the key on another body answered '$mismatch', not 422"
  fi
fi
if [ -z "$rest_fail" ]; then res="$res rest=ok"; else res="$res rest=FAIL(${rest_fail:0:240})"; fi

# ---- gRPC and the stream: grpcio through server reflection ---------------------
# grpc_check ADDR PART: PART is `unary` or `stream`; prints "ok" or why not.
grpc_check() {
  timeout 60 "$PY" - "$@" <<'PY' 2>&1 | tail -n 1
import sys
import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

addr, part = sys.argv[1:3]
channel = grpc.insecure_channel(addr)
try:
    grpc.channel_ready_future(channel).result(timeout=10)
except grpc.FutureTimeoutError:
    sys.exit(print(f"no gRPC server at {addr}"))
pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))


def method(service, name):
    """The method's descriptor and message classes, from reflection only."""
    try:
        m = pool.FindServiceByName(service).FindMethodByName(name)
    except KeyError as e:
        sys.exit(print(f"reflection does not know {service}/{name}: {e}"))
    request = message_factory.GetMessageClass(m.input_type)
    response = message_factory.GetMessageClass(m.output_type)
    return m, request, response, f"/{service}/{name}"


try:
    if part == "unary":
        m, Request, Response, path = method("logistics.v1.InventoryService", "ReserveStock")
        if m.server_streaming or m.client_streaming:
            sys.exit(print(f"{path} is not unary in the served descriptors"))
        call = channel.unary_unary(path, Request.SerializeToString, Response.FromString)
        r = call(Request(reservation_id="RSV-3003", warehouse_code="WH-BER-1", sku="SKU-42", quantity=3), timeout=5)
        if r.reservation_id != "RSV-3003":
            sys.exit(print(f"ReserveStock answered reservation_id {r.reservation_id!r}, sent 'RSV-3003'"))
    else:
        m, Request, Response, path = method("logistics.v1.ShipmentService", "WatchShipment")
        if not m.server_streaming or m.client_streaming:
            sys.exit(print(f"{path} is not server streaming in the served descriptors"))
        call = channel.unary_stream(path, Request.SerializeToString, Response.FromString)
        for want in (3, 1):  # then again: the server outlived the cancelled stream
            stream = call(Request(shipment_id="SHP-1001"), timeout=30)
            got = []
            for item in stream:
                got.append(item)
                if len(got) == want:
                    break
            stream.cancel()
            if len(got) < want:
                sys.exit(print(f"the stream ended after {len(got)} messages, wanted {want}"))
            wrong = [g.shipment_id for g in got if g.shipment_id != "SHP-1001"]
            if wrong:
                sys.exit(print(f"stream messages with shipment_id {wrong}, requested 'SHP-1001'"))
except grpc.RpcError as e:
    sys.exit(print(f"{e.code().name}: {e.details()}"))
print("ok")
PY
}
g=$(grpc_check "127.0.0.1:$PI" unary)
g=${g:-no answer within 60 s}
if [ "$g" = ok ]; then res="$res grpc=ok"; else res="$res grpc=FAIL(${g:0:200})"; fi
g=$(grpc_check "127.0.0.1:$PG" stream)
g=${g:-no answer within 60 s}
if [ "$g" = ok ]; then res="$res stream=ok"; else res="$res stream=FAIL(${g:0:200})"; fi

# ---- Kafka: publish, read the record back, both consumers handled it ------------
EVENT='{"shipmentId":"SHP-1001","warehouseCode":"WH-BER-1","carrier":"DHL","parcelCount":2,"dispatchedAt":"2026-12-02T09:30:00Z"}'
KEY=WH-BER-1
kafka_fail=""
if [ -z "$kafka_up" ]; then
  res="$res kafka=UNCHECKED(no tansu broker: TANSU=$TANSU)"
else
  if ! KAFKA_BROKERS=$BROKERS NO_COLOR=1 timeout 60 "$BIN/shipments" publish shipment-dispatched "$EVENT" \
    >"$W/publish.log" 2>&1; then
    kafka_fail="publish: $(last "$W/publish.log")"
  else
    got=$(timeout 90 "$PY" - "$BROKERS" "$TOPIC" "$KEY" "$EVENT" <<'PY' 2>&1 | tail -n 1
import json, sys, time, uuid
from confluent_kafka import Consumer

brokers, topic, key, event = sys.argv[1:5]
consumer = Consumer({
    "bootstrap.servers": brokers,
    "group.id": "team-e2e-" + uuid.uuid4().hex,
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
})
consumer.subscribe([topic])
record, seen, end = None, [], time.time() + 60
while time.time() < end and record is None:
    m = consumer.poll(0.5)
    if m is None or m.error():
        continue
    seen.append(m.key())
    if m.key() == key.encode():
        record = m
consumer.close()
if record is None:
    sys.exit(print(f"no record keyed {key!r} on {topic} within 60 s (keys seen: {seen[:5]})"))
try:
    value = json.loads(record.value())
except (TypeError, ValueError):
    sys.exit(print(f"the value is not JSON: {record.value()[:120]!r}"))
def same(a, b):
    # A Timestamp is one instant however its UTC offset is spelled: proto3
    # JSON says "Z", pbjson-types writes "+00:00" (a known deviation, in the
    # README); any other difference fails.
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, str) and isinstance(b, str) and a != b:
        try:
            from datetime import datetime
            parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))
            return parse(a) == parse(b)
        except ValueError:
            return False
    return a == b
if not same(value, json.loads(event)):
    sys.exit(print(f"the value is {value}, not the proto3 JSON published, {event}"))
headers = {k.lower(): (v or b"").decode(errors="replace") for k, v in (record.headers() or [])}
if "content-type" not in headers:
    sys.exit(print(f"no content-type header (headers: {sorted(headers)})"))
if "json" not in headers["content-type"].lower():
    sys.exit(print(f"content-type {headers['content-type']!r} for a JSON value"))
print("ok")
PY
)
    [ "$got" = ok ] || kafka_fail="record: ${got:-no answer within 90 s}"
    if [ -z "$kafka_fail" ]; then
      # Each consumer logs one line per handled event, with topic and key.
      for s in billing notifications; do
        for ((i = 0; i < 600; i++)); do
          grep -F "$TOPIC" "$W/$s.log" 2>/dev/null | grep -qF "$KEY" && break
          sleep 0.1
        done
        grep -F "$TOPIC" "$W/$s.log" 2>/dev/null | grep -qF "$KEY" \
          || { kafka_fail="$s did not log handling $TOPIC key $KEY within 60 s: $(last "$W/$s.log")"; break; }
      done
    fi
  fi
  if [ -z "$kafka_fail" ]; then res="$res kafka=ok"; else res="$res kafka=FAIL(${kafka_fail:0:240})"; fi

  # ---- the outbox: what the POSTs above committed reached the topic ----------
  # Booking SHP-2002, and SHP-3003 twice under one idempotency key, each
  # committed a shipment-dispatched event keyed by the shipment id to
  # shipments' outbox; its relay publishes them with an event-id header. The
  # replayed booking ran no handler, so SHP-3003 is on the topic once.
  outbox_fail=""
  if [ -n "$rest_fail" ]; then
    outbox_fail="the REST bookings failed"
  else
    got=$(timeout 90 "$PY" - "$BROKERS" "$TOPIC" <<'PY' 2>&1 | tail -n 1
import sys, time, uuid
from confluent_kafka import Consumer

brokers, topic = sys.argv[1:3]
want = {b"SHP-2002", b"SHP-3003"}
consumer = Consumer({
    "bootstrap.servers": brokers,
    "group.id": "team-e2e-outbox-" + uuid.uuid4().hex,
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
})
consumer.subscribe([topic])
records, end, quiet_until = [], time.time() + 60, None
while time.time() < end:
    m = consumer.poll(0.5)
    if m is not None and not m.error() and m.key() in want:
        records.append(m)
    if quiet_until is None and want <= {r.key() for r in records}:
        quiet_until = time.time() + 2  # long enough for a copy to show up
    if quiet_until is not None and time.time() > quiet_until:
        break
consumer.close()
keys = [r.key().decode() for r in records]
if not want <= set(r.key() for r in records):
    sys.exit(print(f"the relay did not publish both bookings within 60 s (got {keys})"))
if keys.count("SHP-3003") != 1:
    sys.exit(print(f"the keyed booking announced {keys.count('SHP-3003')} times, not once: {keys}"))
for r in records:
    headers = {k: (v or b"").decode() for k, v in (r.headers() or [])}
    try:
        uuid.UUID(headers.get("event-id", ""))
    except ValueError:
        sys.exit(print(f"{r.key()!r} has no event-id header naming it (headers: {sorted(headers)})"))
print("ok")
PY
)
    [ "$got" = ok ] || outbox_fail="${got:-no answer within 90 s}"
    if [ -z "$outbox_fail" ]; then
      for s in billing notifications; do
        for key in SHP-2002 SHP-3003; do
          for ((i = 0; i < 600; i++)); do
            grep -F "event handled" "$W/$s.log" 2>/dev/null | grep -qF "key=$key" && break
            sleep 0.1
          done
          grep -F "event handled" "$W/$s.log" 2>/dev/null | grep -qF "key=$key" \
            || { outbox_fail="$s did not handle the booking of $key within 60 s: $(last "$W/$s.log")"; break 2; }
        done
      done
    fi
  fi
  if [ -z "$outbox_fail" ]; then res="$res outbox=ok"; else res="$res outbox=FAIL(${outbox_fail:0:240})"; fi

  # ---- traces: one booking, one trace, four services ---------------------------
  trace_fail=""
  TRACE_ID=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  got=$(curl -s -m 5 -o "$W/traced.json" -w '%{http_code}' -X POST \
    -H 'content-type: application/json' -H "traceparent: 00-$TRACE_ID-00f067aa0ba902b7-01" \
    --data '{"shipmentId":"SHP-6006"}' "http://127.0.0.1:$PH/v1/warehouses/WH-BER-1/shipments" || true)
  if [ "${got:0:1}" != 2 ]; then
    trace_fail="the traced booking answered '$got': $(head -c 120 "$W/traced.json" 2>/dev/null)"
  else
    want=(
      "shipments|POST /v1/warehouses/{warehouse_code}/shipments"
      "inventory|logistics.v1.InventoryService/ReserveStock"
      "billing|process $TOPIC"
      "notifications|process $TOPIC"
    )
    missing=()
    for ((i = 0; i < 300; i++)); do
      missing=()
      for w in "${want[@]}"; do
        grep -F "\"trace_id\": \"$TRACE_ID\"" "$SPANS" 2>/dev/null \
          | grep -F "\"service\": \"${w%%|*}\"" | grep -qF "\"name\": \"${w#*|}\"" || missing+=("$w")
      done
      [ ${#missing[@]} -eq 0 ] && break
      sleep 0.1
    done
    if [ ${#missing[@]} -gt 0 ]; then
      seen=$(grep -F "$TRACE_ID" "$SPANS" 2>/dev/null | cut -c1-200 | tr '\n' ' ')
      trace_fail="trace $TRACE_ID has no span of ${missing[*]} within 30 s (its spans: ${seen:-none})"
    elif ! python3 - "$W/shipments.log" "$TRACE_ID" <<'PY' 2>/dev/null; then
import json, sys
path, trace_id = sys.argv[1:3]
lines = []
for line in open(path):
    try:
        lines.append(json.loads(line))
    except ValueError:
        pass  # not every line is one of ours (a panic's, say)
sys.exit(0 if any(l.get("trace_id") == trace_id for l in lines) else 1)
PY
      trace_fail="no JSON log line of shipments has trace_id $TRACE_ID at the top level: $(last "$W/shipments.log")"
    fi
  fi
  if [ -z "$trace_fail" ]; then res="$res trace=ok"; else res="$res trace=FAIL(${trace_fail:0:300})"; fi
fi

# A service that died on the way is worth naming beside the summary.
for s in "${SERVICES[@]}"; do
  if ! kill -0 "${SERVICE_PID[$s]}" 2>/dev/null; then
    echo "note: $s is no longer running: $(last "$W/$s.log")"
  fi
done
echo "team e2e:$res"
case "$res" in *FAIL* | *UNCHECKED*) exit 1 ;; esac
exit 0
