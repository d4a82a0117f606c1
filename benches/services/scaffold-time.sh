#!/usr/bin/env bash
# The tool's own time (release build), issue 3 item 8: `scaffold` of the
# built-in example into a fresh folder and over its own earlier output,
# beside `recommend` of the same example and a plain `cp -r` of the tree it
# writes; and (issue 11 item 6) `scaffold` of the team-proto case, which
# compiles two .proto files with protox, beside a `cp -r` of its output;
# in one hyperfine run. Usage: benches/services/scaffold-time.sh
#   WORK  scratch folder (default target/service-bench)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-$ROOT/target/service-bench}; mkdir -p "$WORK"
command -v hyperfine >/dev/null || { echo "missing: hyperfine"; exit 2; }
(cd "$ROOT" && cargo build --release -q)
BIN=$ROOT/target/release/commsadvise
rm -rf "$WORK/scaffold-src" && "$BIN" scaffold --out "$WORK/scaffold-src" >/dev/null
TEAM=$ROOT/examples/team/flows.yaml
rm -rf "$WORK/team-src" && "$BIN" scaffold "$TEAM" --out "$WORK/team-src" >/dev/null
hyperfine --style basic -N -w 3 -r 30 \
  -n 'scaffold --out NEW (fresh)' --prepare "rm -rf $WORK/scaffold-new" "$BIN scaffold --out $WORK/scaffold-new" \
  -n 'scaffold --out DIR (unchanged tree)' --prepare true "$BIN scaffold --out $WORK/scaffold-src" \
  -n 'recommend examples/orders.yaml' --prepare true "$BIN recommend $ROOT/examples/orders.yaml" \
  -n 'cp -r of the same tree' --prepare "rm -rf $WORK/scaffold-cp" "cp -r $WORK/scaffold-src $WORK/scaffold-cp" \
  -n 'team-proto case: scaffold --out NEW (fresh)' --prepare "rm -rf $WORK/team-new" "$BIN scaffold $TEAM --out $WORK/team-new" \
  -n 'team-proto case: cp -r of its output' --prepare "rm -rf $WORK/team-cp" "cp -r $WORK/team-src $WORK/team-cp"
