#!/usr/bin/env bash
# On the lent machine (see kit.sh): unpack node, print the machine, run the pool-scaling bench once (raw pool and
# dispatch cost for every pool size up to the cores, then 8 connections and 1, owned, borrowed and shared chunks),
# copying the output to $OUT when the device tool provides it.
set -uo pipefail
cd "$(dirname "$0")"
xz -dc node.xz > /tmp/node && chmod +x /tmp/node
/tmp/node -v; nproc; grep -m1 'model name' /proc/cpuinfo || true
log=${OUT:-/tmp}/pool-scaling.txt
timeout 420 /tmp/node bench/pool-scaling.mjs --conns 8,1 2>&1 | tee "$log"
