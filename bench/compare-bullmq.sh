#!/usr/bin/env bash
# WorkCluster's queue next to BullMQ's, in one run, on one redis-server of its own (no persistence): BullMQ, then
# WorkCluster, then both again, each with 50 producers, concurrency 50 and 50,000 no-op jobs of 100 bytes (the
# figures of docs/performance.md). Needs redis-server, node and npm (BullMQ is installed into bench/bullmq once).
#   bench/compare-bullmq.sh [rounds (2)]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
args=(--jobs 50000 --producers 50 --concurrency 50 --payload-bytes 100)

[ -d bench/bullmq/node_modules ] || (cd bench/bullmq && npm ci --no-audit --no-fund >/dev/null)
dotnet build -c Release bench/WorkCluster.Bench -v q -nologo >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null || true' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
echo "redis-server $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/') on port $port; $(nproc) cores"

results=$(mktemp)
for round in $(seq 1 "$rounds"); do
  (cd bench/bullmq && node bench.mjs --redis "127.0.0.1:$port" "${args[@]}") | tail -1 | sed 's/^/bullmq /' >> "$results"
  redis-cli -p "$port" flushall >/dev/null
  dotnet bench/WorkCluster.Bench/bin/Release/net10.0/WorkCluster.Bench.dll queue --redis "127.0.0.1:$port" "${args[@]}" \
    | tail -1 | sed 's/^/workcluster /' >> "$results"
  redis-cli -p "$port" flushall >/dev/null
done

python3 - "$results" <<'EOF'
import json, sys
runs = {"bullmq": [], "workcluster": []}
for line in open(sys.argv[1]):
    name, _, text = line.partition(" ")
    runs[name].append(json.loads(text))
rows = [
    ("end-to-end jobs/s (produce and work at once)", lambda r: r["queue"]["completed_per_second"]),
    ("burn-down jobs/s (pre-filled, then drained)", lambda r: r["burn_down"]["drained_per_second"]),
    ("Redis CPU µs per job, end to end", lambda r: r["queue"]["redis_cpu_us_per_job"]),
    ("client CPU µs per job, end to end", lambda r: r["queue"]["client_cpu_us_per_job"]),
    ("Redis CPU µs per job, burn-down", lambda r: r["burn_down"]["redis_cpu_us_per_job"]),
    ("client CPU µs per job, burn-down", lambda r: r["burn_down"]["client_cpu_us_per_job"]),
]
print(f"| figure | round | WorkCluster | BullMQ {runs['bullmq'][0]['bullmq']} | ratio |")
print("|---|---|---|---|---|")
for label, value in rows:
    for i, (ours, theirs) in enumerate(zip(runs["workcluster"], runs["bullmq"]), 1):
        a, b = value(ours), value(theirs)
        print(f"| {label} | {i} | {a:,.1f} | {b:,.1f} | {a / b:.2f} × |")
half = [r["queue"].get("half_rate") for r in runs["workcluster"]]
for i, h in enumerate(half, 1):
    if h:
        s = h["submit_to_worked"]
        print(f"WorkCluster round {i}, half rate ({h['achieved_per_second']:,.0f}/s open loop): submit → worked p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms")
EOF
