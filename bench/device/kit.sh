#!/usr/bin/env bash
# Build the kit that runs the many-core measurements of issue 15 on a lent machine that has no Node:
# `bench/pool-scaling.ts` bundled with esbuild (plain JavaScript, no ts-node), the pool's worker entry beside it
# (the pool finds `./worker.js` next to its own module), the certificate fixtures, and this machine's `node`
# binary, xz-compressed. Everything lands in `.device-kit/` (git-ignored, under the 64 MiB a device call carries).
#
#   bash bench/device/kit.sh        then: run(command: "bash .device-kit/run.sh", carry: [".device-kit"])
set -euo pipefail
cd "$(dirname "$0")/../.."
kit=.device-kit
rm -rf "$kit" && mkdir -p "$kit/test/fixtures/certs" "$kit/bench"
esbuild=node_modules/.bin/esbuild
common=(--bundle --platform=node --format=esm --target=node20 --log-level=warning
  "--banner:js=import { createRequire as __rxtlsRequire } from 'node:module'; const require = __rxtlsRequire(import.meta.url);")
# The bench reads fixtures at ../test/fixtures/certs relative to itself: kit/bench/pool-scaling.mjs → kit/test/….
"$esbuild" bench/pool-scaling.ts "${common[@]}" --outfile="$kit/bench/pool-scaling.mjs"
"$esbuild" src/node/worker.ts "${common[@]}" --outfile="$kit/bench/worker.js"
# worker.js is an ES module: a package.json beside it says so.
printf '{ "type": "module" }\n' > "$kit/bench/package.json"
cp test/fixtures/certs/ca-cert.pem test/fixtures/certs/server-ec-chain.pem test/fixtures/certs/server-ec-key.pem "$kit/test/fixtures/certs/"
xz -T0 -6 -c "$(readlink -f "$(command -v node)")" > "$kit/node.xz"
cp bench/device/run.sh "$kit/run.sh"
du -sh "$kit"
