#!/usr/bin/env bash
# The security hooks of the generated team services (examples/team), seen
# from outside with tools commsadvise did not write: certificates made by
# the openssl command line, curl as the REST caller, and a real
# Kafka-protocol broker (tansu) that requires SASL SCRAM.
#
# Usage: BIN_DIR=<folder of built team binaries> tests/broker/security-e2e.sh
# Env:
#   BIN_DIR  folder holding the built `shipments` and `inventory` binaries
#            (team-e2e.sh builds them into the shared target's debug/)
#   TANSU    tansu binary (default: tansu on PATH). Without it the Kafka
#            part is UNCHECKED, which fails the run.
#   KEEP     set to keep the temp dir (certificates, logs)
#
# What it checks:
#   tls   inventory serves gRPC and shipments REST over TLS, both requiring
#         a client certificate signed by the test CA (TLS_CLIENT_CA).
#         curl with the CA and a client certificate GETs a shipment (200);
#         curl without a certificate is refused at the handshake, and plain
#         http gets no answer; `shipments probe readyz` answers 200 over TLS
#         under mutual TLS. `shipments call reserve-stock` reaches inventory
#         at an https:// URL showing shipments' certificate, and fails
#         without one.
#   sasl  tansu with --authentication and a SCRAM-SHA-256 user: `shipments
#         publish` with KAFKA_SECURITY_PROTOCOL=sasl_plaintext and the right
#         password is acknowledged; with a wrong password or without SASL
#         it is not; an unknown mechanism stops it at start-up (exit 2).
# The last line is the summary, `security e2e: tls=ok sasl=ok` when both
# passed; exit 0 only then.
set -u
# shellcheck source=tests/broker/lib.sh
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"

BIN=${BIN_DIR:?set BIN_DIR to the folder of the built team binaries}
TANSU=${TANSU:-$(command -v tansu || true)}
W=$(mktemp -d)
PIDS=()

trap cleanup EXIT
trap 'exit 130' INT TERM

for s in shipments inventory; do
  [ -x "$BIN/$s" ] || { echo "security e2e: no $BIN/$s (build the team workspace first)"; exit 1; }
done

# ---- a PKI made by openssl: a CA, a certificate per service, a rogue CA ------
pki() (
  cd "$W" || return 1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout ca-key.pem -out ca.pem -days 2 -subj "/CN=security-e2e CA" || return 1
  # Each service's certificate serves and is shown to peers: both usages.
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >ext.cnf
  local name
  for name in inventory shipments caller; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$name-key.pem" -out "$name.csr" -subj "/CN=$name" || return 1
    openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
      -out "$name.pem" -days 2 -extfile ext.cnf || return 1
  done
)
pki >"$W/pki.log" 2>&1 || { echo "security e2e: openssl could not make the test PKI: $(last "$W/pki.log")"; exit 1; }

# ---- TLS and mutual TLS ------------------------------------------------------
tls_fail=""
PI=$(port)
PH=$(port)
PG=$(port)
mkdir -p "$W/data"
# Its failed handshakes are logged at debug: the refusals below are read there.
env NO_COLOR=1 RUST_LOG=info,runtime::tls=debug GRPC_ADDR="127.0.0.1:$PI" DATABASE_URL="sqlite://$W/data/inventory.db" \
  TLS_CERT="$W/inventory.pem" TLS_KEY="$W/inventory-key.pem" TLS_CLIENT_CA="$W/ca.pem" \
  KAFKA_BROKERS=127.0.0.1:1 "$BIN/inventory" >"$W/inventory.log" 2>&1 &
PIDS+=($!)
inventory_pid=$!
SHIPMENTS_ENV=(NO_COLOR=1 HTTP_ADDR="127.0.0.1:$PH" GRPC_ADDR="127.0.0.1:$PG"
  DATABASE_URL="sqlite://$W/data/shipments.db" KAFKA_BROKERS=127.0.0.1:1
  INVENTORY_GRPC_URL="https://localhost:$PI" RESERVE_STOCK_DEADLINE_MS=5000
  TLS_CERT="$W/shipments.pem" TLS_KEY="$W/shipments-key.pem" TLS_CLIENT_CA="$W/ca.pem" TLS_CA="$W/ca.pem")
env "${SHIPMENTS_ENV[@]}" "$BIN/shipments" >"$W/shipments.log" 2>&1 &
PIDS+=($!)
shipments_pid=$!
if ! wait_port "$PI" 60 "$inventory_pid"; then
  tls_fail="inventory did not listen with TLS_CERT set: $(last "$W/inventory.log")"
elif ! wait_port "$PH" 60 "$shipments_pid"; then
  tls_fail="shipments did not listen with TLS_CERT set: $(last "$W/shipments.log")"
fi
url="https://localhost:$PH/v1/shipments/SHP-1001"
if [ -z "$tls_fail" ]; then
  got=$(curl -s -m 10 -o "$W/get.json" -w '%{http_code}' --cacert "$W/ca.pem" \
    --cert "$W/caller.pem" --key "$W/caller-key.pem" "$url")
  [ "$got" = 200 ] && grep -q SHP-1001 "$W/get.json" \
    || tls_fail="curl with a client certificate got '$got' from $url: $(head -c 160 "$W/get.json" 2>/dev/null)"
fi
if [ -z "$tls_fail" ]; then
  got=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' --cacert "$W/ca.pem" "$url" 2>"$W/anon-curl.log")
  [ "$got" = 000 ] && grep -qiE 'alert|certificate required' "$W/anon-curl.log" \
    || tls_fail="curl without a client certificate got '$got', $(last "$W/anon-curl.log") (mutual TLS should refuse it at the handshake)"
fi
if [ -z "$tls_fail" ]; then
  got=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PH/v1/shipments/SHP-1001" 2>"$W/plain-curl.log")
  [ "$got" = 000 ] && ! grep -qi "connection refused" "$W/plain-curl.log" \
    || tls_fail="plain http got '$got' from the TLS port: $(last "$W/plain-curl.log")"
fi
if [ -z "$tls_fail" ]; then
  # What the Dockerfile's health check runs; ready once the first check of
  # its database is done.
  for _ in $(seq 1 30); do
    env "${SHIPMENTS_ENV[@]}" timeout 20 "$BIN/shipments" probe readyz >"$W/probe.log" 2>&1 && break
    sleep 1
  done
  grep -q "answered 200" "$W/probe.log" \
    || tls_fail="shipments probe readyz under mutual TLS: $(last "$W/probe.log")"
  grep -q "https://" "$W/probe.log" || tls_fail=${tls_fail:-"the probe did not ask over https: $(last "$W/probe.log")"}
fi
if [ -z "$tls_fail" ]; then
  if env "${SHIPMENTS_ENV[@]}" timeout 30 "$BIN/shipments" call reserve-stock SKU-42 >"$W/call.json" 2>"$W/call.log"; then
    grep -q SKU-42 "$W/call.json" \
      || tls_fail="reserve-stock over mutual TLS answered $(head -c 160 "$W/call.json")"
  else
    tls_fail="shipments call reserve-stock over https:// with its certificate failed: $(last "$W/call.log")"
  fi
fi
if [ -z "$tls_fail" ]; then
  anonymous=()
  for v in "${SHIPMENTS_ENV[@]}"; do
    case "$v" in TLS_CERT=* | TLS_KEY=* | TLS_CLIENT_CA=*) ;; *) anonymous+=("$v") ;; esac
  done
  if env "${anonymous[@]}" timeout 30 "$BIN/shipments" call reserve-stock SKU-42 >"$W/anon.json" 2>"$W/anon.log"; then
    tls_fail="reserve-stock without a client certificate was answered: $(head -c 160 "$W/anon.json")"
  elif ! grep -q "transport error" "$W/anon.log" \
    || ! grep -q "TLS handshake failed.*no certificates" "$W/inventory.log"; then
    # TLS 1.3 refuses the certificate after the client's side of the
    # handshake: the caller sees the alert or a broken connection, and the
    # server logs why.
    tls_fail="reserve-stock without a client certificate failed, but not at inventory's handshake: $(last "$W/anon.log")"
  elif ! kill -0 "$inventory_pid" 2>/dev/null; then
    tls_fail="inventory died: $(last "$W/inventory.log")"
  fi
fi
if [ -z "$tls_fail" ]; then
  # A missing certificate file stops the service at start-up, naming it.
  env "${SHIPMENTS_ENV[@]}" TLS_CERT="$W/missing.pem" timeout 20 "$BIN/shipments" >"$W/missing.log" 2>&1
  code=$?
  [ "$code" = 2 ] && grep -q "invalid TLS_CERT" "$W/missing.log" \
    || tls_fail="a missing TLS_CERT file exited $code: $(last "$W/missing.log")"
fi
[ -z "$tls_fail" ] && echo "tls: curl and the probe over mutual TLS, reserve-stock over https:// with a client certificate; refused without one"

# ---- Kafka SASL SCRAM against tansu ------------------------------------------
sasl_fail=""
EVENT='{"shipmentId":"SHP-1001","warehouseCode":"WH-BER-1","carrier":"DHL","parcelCount":2,"dispatchedAt":"2026-12-02T09:30:00Z"}'
if [ -z "$TANSU" ] || [ ! -x "$TANSU" ]; then
  sasl_fail="UNCHECKED (no tansu binary: set TANSU)"
else
  PK=$(port)
  broker() {
    # tansu reads a sqlite:// path as relative to where it runs.
    (cd "$W" && exec "$TANSU" broker --listener-url "tcp://127.0.0.1:$PK" \
      --advertised-listener-url "tcp://127.0.0.1:$PK" --storage-engine sqlite://tansu.db "$@") \
      >>"$W/tansu.log" 2>&1 &
    PIDS+=($!)
    tansu_pid=$!
    wait_port "$PK" 30 "$tansu_pid"
  }
  # The user is made while the broker asks for no credentials; the broker
  # then restarts on the same storage, requiring them.
  if ! broker; then
    sasl_fail="tansu did not start: $(last "$W/tansu.log")"
  elif ! timeout 30 "$TANSU" user create --broker "tcp://127.0.0.1:$PK" --mechanism scram256 shipments s3cret >"$W/user.log" 2>&1; then
    sasl_fail="tansu user create failed: $(last "$W/user.log")"
  else
    kill -TERM "$tansu_pid"; wait "$tansu_pid" 2>/dev/null
    broker --authentication || sasl_fail="tansu --authentication did not start: $(last "$W/tansu.log")"
  fi
  publish() {
    env NO_COLOR=1 KAFKA_BROKERS="127.0.0.1:$PK" "$@" timeout 60 "$BIN/shipments" publish shipment-dispatched "$EVENT"
  }
  scram=(KAFKA_SECURITY_PROTOCOL=sasl_plaintext KAFKA_SASL_MECHANISM=SCRAM-SHA-256 KAFKA_SASL_USERNAME=shipments)
  if [ -z "$sasl_fail" ]; then
    publish "${scram[@]}" KAFKA_SASL_PASSWORD=s3cret >"$W/sasl.log" 2>&1 \
      || sasl_fail="publish with SCRAM-SHA-256 and the right password failed: $(last "$W/sasl.log")"
    grep -q "topic=shipment-events" "$W/sasl.log" || sasl_fail=${sasl_fail:-"no acknowledgement: $(last "$W/sasl.log")"}
  fi
  if [ -z "$sasl_fail" ]; then
    if publish "${scram[@]}" KAFKA_SASL_PASSWORD=wrong >"$W/wrong.log" 2>&1; then
      sasl_fail="publish with a wrong password was acknowledged"
    elif ! grep -qi "authentication" "$W/wrong.log"; then
      sasl_fail="a wrong password failed without an authentication error: $(last "$W/wrong.log")"
    fi
  fi
  if [ -z "$sasl_fail" ] && publish >"$W/plain.log" 2>&1; then
    sasl_fail="publish without SASL was acknowledged by a broker that requires it"
  fi
  # The broker still takes the right credentials: the refusals above were
  # its, not a broker gone.
  if [ -z "$sasl_fail" ]; then
    publish "${scram[@]}" KAFKA_SASL_PASSWORD=s3cret >"$W/sasl-again.log" 2>&1 \
      || sasl_fail="the broker no longer took the right password: $(last "$W/sasl-again.log")"
  fi
  if [ -z "$sasl_fail" ]; then
    publish "${scram[@]}" KAFKA_SASL_PASSWORD=s3cret KAFKA_SASL_MECHANISM=GSSAPI >"$W/gssapi.log" 2>&1
    code=$?
    [ "$code" = 2 ] && grep -q "invalid KAFKA_SASL_MECHANISM.*not built in" "$W/gssapi.log" \
      || sasl_fail="an unbuilt mechanism exited $code: $(last "$W/gssapi.log")"
  fi
  [ -z "$sasl_fail" ] && echo "sasl: acknowledged with SCRAM-SHA-256; refused with a wrong password and without SASL"
fi

verdict() { if [ -z "$1" ]; then echo ok; else echo "FAIL($1)"; fi; }
summary="security e2e: tls=$(verdict "$tls_fail") sasl=$(verdict "$sasl_fail")"
echo "$summary"
[ -z "$tls_fail" ] && [ -z "$sasl_fail" ]
