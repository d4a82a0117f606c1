#!/usr/bin/env bash
# The tool's own time (release build), issue 3 item 8: `scaffold` of the
# built-in example into a fresh folder and over its own earlier output,
# beside `recommend` of the same example and a plain `cp -r` of the tree it
# writes, in one hyperfine run. Usage: benches/services/scaffold-time.sh
#   WORK  scratch folder (default target/service-bench)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-$ROOT/target/service-bench}; mkdir -p "$WORK"
command -v hyperfine >/dev/null || { echo "missing: hyperfine"; exit 2; }
(cd "$ROOT" && cargo build --release -q)
BIN=$ROOT/target/release/commsadvise
rm -rf "$WORK/scaffold-src" && "$BIN" scaffold --out "$WORK/scaffold-src" >/dev/null
hyperfine --style basic -N -w 3 -r 30 \
  -n 'scaffold --out NEW (fresh)' --prepare "rm -rf $WORK/scaffold-new" "$BIN scaffold --out $WORK/scaffold-new" \
  -n 'scaffold --out DIR (unchanged tree)' --prepare true "$BIN scaffold --out $WORK/scaffold-src" \
  -n 'recommend examples/orders.yaml' --prepare true "$BIN recommend $ROOT/examples/orders.yaml" \
  -n 'cp -r of the same tree' --prepare "rm -rf $WORK/scaffold-cp" "cp -r $WORK/scaffold-src $WORK/scaffold-cp"
