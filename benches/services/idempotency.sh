#!/usr/bin/env bash
# What idempotency keys cost a REST route (issue 13 item 5): requests per
# second of `POST /v1/warehouses/{code}/shipments` (flow `create-shipment`,
# keyed in examples/team) on the generated `shipments` service, release
# build, its team-owned handler reduced to the echo (no event announced):
#   unkeyed  no Idempotency-Key: the layer passes the request through (the
#            baseline);
#   fresh    a new key on every request: claim, run, store the answer;
#   replay   one key on every request: the stored answer, handler not run.
# Each against SQLite (the default, a file) and, with DATABASE=postgres:// …,
# PostgreSQL too. Server on CPU 0, wrk on CPU 1; the cases alternate within
# each round. Needs wrk, curl, taskset, python3 and 2 CPUs.
#
# Usage: benches/services/idempotency.sh [ROUNDS=5] [DUR=10] [WARM=2]
#   WORK             scratch folder (default target/service-bench)
#   CARGO_TARGET_DIR shared target (default $WORK/target)
#   DATABASE         a PostgreSQL URL to measure besides SQLite
# Prints each round and the median ratios case/unkeyed per database.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
ROUNDS=${1:-5}; DUR=${2:-10}; WARM=${3:-2}
WORK=${WORK:-$ROOT/target/service-bench}; mkdir -p "$WORK"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$WORK/target}
for tool in wrk curl taskset python3; do
  command -v $tool >/dev/null || { echo "missing: $tool"; exit 2; }
done

(cd "$ROOT" && cargo build --release -q)
rm -rf "$WORK/team"
"$CARGO_TARGET_DIR/release/commsadvise" scaffold "$ROOT/examples/team/flows.yaml" \
  --out "$WORK/team" >/dev/null
# The example handler also announces `shipment-dispatched` (measured by the
# Kafka benchmarks); here it only echoes, so the cases differ by the layer.
cat > "$WORK/team/services/shipments/src/handlers/create_shipment.rs" <<'RS'
//! `logistics.v1.ShipmentService/CreateShipment`, edited for the idempotency
//! benchmark: the example's echo, without its announcement.

use contract::logistics::v1::CreateShipmentRequest as Request;
use contract::logistics::v1::CreateShipmentResponse as Response;

use crate::{error::HandlerError, state::State};

#[allow(clippy::unused_async)]
pub async fn handle(_state: &State, request: Request) -> Result<Response, HandlerError> {
    Ok(Response {
        shipment_id: request.shipment_id,
        ..Default::default()
    })
}
RS
(cd "$WORK/team" && cargo build --release -q -p shipments)
cp "$CARGO_TARGET_DIR/release/shipments" "$WORK/bin-shipments"

OUT=$WORK/idempotency-$(date +%Y%m%dT%H%M%S); mkdir -p "$OUT"
URL=http://127.0.0.1:18180/v1/warehouses/WH-1/shipments
BODY='{"shipmentId":"SHP-1"}'
# wrk scripts: the same POST, with no key, a fresh key each time, or one key.
for c in unkeyed fresh replay; do
  cat > "$OUT/$c.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["content-type"] = "application/json"
local n = 0
local prefix = tostring(os.time()) .. "-" .. tostring(math.random(1e9))
request = function()
  n = n + 1
  if "$c" == "fresh" then
    wrk.headers["idempotency-key"] = prefix .. "-" .. n
  elseif "$c" == "replay" then
    wrk.headers["idempotency-key"] = "bench-replay-" .. prefix
  end
  return wrk.format()
end
LUA
done

databases=("sqlite://$OUT/data/shipments.db")
[[ -n ${DATABASE:-} ]] && databases+=("$DATABASE")
echo "database,round,case,rps,errors" > "$OUT/rounds.csv"
for db in "${databases[@]}"; do
  kind=${db%%:*}
  HTTP_ADDR=127.0.0.1:18180 GRPC_ADDR=127.0.0.1:18181 KAFKA_BROKERS=127.0.0.1:1 \
    DATABASE_URL=$db RUST_LOG=warn taskset -c 0 "$WORK/bin-shipments" >"$OUT/shipments-$kind.log" 2>&1 &
  SPID=$!
  trap 'kill $SPID 2>/dev/null || true' EXIT
  for _ in $(seq 50); do curl -s -o /dev/null "$URL" -X POST && break; sleep 0.2; done
  # Correct before timed: a keyed request twice is replayed the second time.
  for n in 1 2; do
    curl -s -D "$OUT/check$n.h" -o /dev/null -X POST -H 'content-type: application/json' \
      -H "idempotency-key: check-$kind-$$" --data "$BODY" "$URL"
  done
  grep -qi '^idempotent-replayed: true' "$OUT/check2.h" || { echo "$kind: not replayed"; exit 1; }
  for r in $(seq 1 "$ROUNDS"); do
    for c in unkeyed fresh replay; do
      taskset -c 1 wrk -t1 -c16 -d"${WARM}s" -s "$OUT/$c.lua" "$URL" >/dev/null
      taskset -c 1 wrk -t1 -c16 -d"${DUR}s" -s "$OUT/$c.lua" "$URL" >"$OUT/$kind-$r-$c.txt"
      rps=$(awk '/^Requests\/sec/{print $2}' "$OUT/$kind-$r-$c.txt")
      err=$(awk '/Non-2xx|Socket errors/{printf "%s ", $0}' "$OUT/$kind-$r-$c.txt")
      echo "$kind,$r,$c,$rps,\"$err\"" | tee -a "$OUT/rounds.csv"
      [[ -z $err ]] || { echo "errors in $OUT/$kind-$r-$c.txt"; exit 1; }
    done
  done
  kill $SPID; wait $SPID 2>/dev/null || true
done
python3 - "$OUT/rounds.csv" <<'PY' | tee "$OUT/summary.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for db in dict.fromkeys(r["database"] for r in rows):
    rps = {}
    for r in rows:
        if r["database"] == db:
            rps.setdefault(r["round"], {})[r["case"]] = float(r["rps"])
    base = statistics.median(x["unkeyed"] for x in rps.values())
    line = [f"{db}: unkeyed {base:,.0f} req/s"]
    for case in ("fresh", "replay"):
        ratios = [x[case] / x["unkeyed"] for x in rps.values()]
        line.append(
            f"{case} {statistics.median(x[case] for x in rps.values()):,.0f} req/s, "
            f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        )
    print("; ".join(line))
PY
