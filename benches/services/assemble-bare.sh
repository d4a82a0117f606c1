#!/usr/bin/env bash
# Builds the bare baseline workspace in DEST: bare/ from here plus the
# `contract` crate and `proto/` of the generated workspace GENERATED, so the
# baseline and the generated services compile the very same contract.
# Usage: benches/services/assemble-bare.sh GENERATED DEST
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
GENERATED=${1:?generated workspace}; DEST=${2:?destination}
rm -rf "$DEST"
cp -r "$HERE/bare" "$DEST"
cp -r "$GENERATED/contract" "$GENERATED/proto" "$DEST/"
