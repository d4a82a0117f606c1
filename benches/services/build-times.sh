#!/usr/bin/env bash
# Cold and warm debug `cargo build` of the built-in example's generated
# workspace against bare/ (the same [workspace.dependencies] and versions:
# services/alldeps compiles every dependency with the generated services'
# features, services/bare is the bare server alone), issue 3 item 8.
#  - cold: empty target dir, crates already downloaded (--offline)
#  - warm: touch one source file of a service, rebuild
# Needs hyperfine. Usage: benches/services/build-times.sh [COLD_RUNS=2] [WARM_RUNS=5]
#   WORK  scratch folder (default target/service-bench)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
CR=${1:-2}; WR=${2:-5}
WORK=${WORK:-$ROOT/target/service-bench}; mkdir -p "$WORK"
command -v hyperfine >/dev/null || { echo "missing: hyperfine"; exit 2; }
(cd "$ROOT" && cargo build --release -q)
rm -rf "$WORK/shop"
"$ROOT/target/release/commsadvise" scaffold --out "$WORK/shop" >/dev/null
"$HERE/assemble-bare.sh" "$WORK/shop" "$WORK/bare"
(cd "$WORK/shop" && cargo fetch -q) && (cd "$WORK/bare" && cargo fetch -q)
OUT=$WORK/build-$(date +%Y%m%dT%H%M%S); mkdir -p "$OUT"; T=$WORK/build-targets
S=$WORK/shop; B=$WORK/bare
hf() { hyperfine --style basic --export-json "$OUT/$1.json" "${@:2}" 2>&1 | tee -a "$OUT/hyperfine.txt"; }
uptime | tee "$OUT/uptime-start.txt"
hf cold-shop -r "$CR" -n 'generated: cargo build (cold)' \
  --prepare "rm -rf $T/shop" "cd $S && CARGO_TARGET_DIR=$T/shop cargo build --offline -q"
hf cold-bare-all -r "$CR" -n 'bare, all dependencies: cargo build (cold)' \
  --prepare "rm -rf $T/bare" "cd $B && CARGO_TARGET_DIR=$T/bare cargo build --offline -q -p bare -p alldeps"
hf cold-bare-min -r "$CR" -n 'bare server only: cargo build -p bare (cold)' \
  --prepare "rm -rf $T/bare-min" "cd $B && CARGO_TARGET_DIR=$T/bare-min cargo build --offline -q -p bare"
hf warm-shop-lib -r "$WR" -w 1 -n 'generated: touch services/orders/src/lib.rs; cargo build' \
  --prepare "touch $S/services/orders/src/lib.rs" "cd $S && CARGO_TARGET_DIR=$T/shop cargo build --offline -q"
hf warm-shop-main -r "$WR" -w 1 -n 'generated: touch services/orders/src/main.rs; cargo build' \
  --prepare "touch $S/services/orders/src/main.rs" "cd $S && CARGO_TARGET_DIR=$T/shop cargo build --offline -q"
hf warm-bare -r "$WR" -w 1 -n 'bare: touch services/bare/src/main.rs; cargo build' \
  --prepare "touch $B/services/bare/src/main.rs" "cd $B && CARGO_TARGET_DIR=$T/bare cargo build --offline -q -p bare -p alldeps"
uptime | tee "$OUT/uptime-end.txt"
