#!/usr/bin/env bash
# On the lent machine (see kit.sh): unpack node, print the machine, run the pool-scaling bench (all pool sizes up
# to the cores, 8 connections, then 1 connection), copying the output to $OUT when the device tool provides it.
set -uo pipefail
cd "$(dirname "$0")"
xz -dc node.xz > /tmp/node && chmod +x /tmp/node
/tmp/node -v; nproc; grep -m1 'model name' /proc/cpuinfo || true
log=${OUT:-/tmp}/pool-scaling.txt
{
  timeout 300 /tmp/node bench/pool-scaling.mjs
  timeout 120 /tmp/node bench/pool-scaling.mjs --conns 1
} 2>&1 | tee "$log"
