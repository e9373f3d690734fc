#!/usr/bin/env bash
# Link emulator throughput, side by side with loopback (root; needs iperf3):
#   Benchmarks/emulator-throughput.sh [SECONDS]
# Starts a netns run of two peers with the zero profile and no capture, sends 64-byte UDP
# datagrams from peer-1's namespace to peer-2's with iperf3 at offered rates of 50k, 100k and
# 150k packets/s and at full speed, then the same on loopback, and prints packets per second
# delivered and lost for each. iperf3's own processes share the two cores with the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
work=$(mktemp -d)
mkdir -p "$work/scenarios"
trap 'kill -INT $run 2>/dev/null || true; wait $run 2>/dev/null || true; rm -rf "$work"' EXIT
[ -x .build/release/testbed ] || make build >/dev/null
cat > "$work/scenarios/bench.yaml" <<YAML
name: emulator-bench
mode: netns
peers: 2
timeline:
  - at: 0s
    spawn: all
  - at: 0s
    wait: ready
  - at: $((seconds * 8 + 30))s
    stop:
YAML
.build/release/testbed run "$work/scenarios/bench.yaml" --out "$work/Captures" --quiet --no-capture >/dev/null 2>&1 &
run=$!
for _ in $(seq 100); do
  [ "$(grep -c '"event":"ready"' "$work/Captures/latest/events.jsonl" 2>/dev/null || true)" = 2 ] && break
  sleep 0.1
done
one=$(grep -o '"name":"[^"]*-p1"' "$work/Captures/latest/manifest.jsonl" | head -1 | cut -d'"' -f4)
two=${one%-p1}-p2
block=$(grep -o '"address":"10\.[0-9]*' "$work/Captures/latest/events.jsonl" | head -1 | cut -d. -f2)
measure() {  # server-prefix client-prefix address rate-in-bits
  $1 iperf3 -s -1 >/dev/null 2>&1 &
  local server=$!
  sleep 0.5
  ${2} iperf3 -c "$3" -u -b "$4" -l 64 -t "$seconds" -J 2>/dev/null |
    python3 -c "import json,sys; s=json.load(sys.stdin)['end']['sum']; print(f\"{(s['packets']-s['lost_packets'])/s['seconds']:,.0f} packets/s delivered, {s['lost_percent']:.2f} % lost\")"
  wait $server 2>/dev/null || true
}
for pps in 50000 100000 150000 0; do
  bits=$((pps * 64 * 8)); label=$([ "$pps" = 0 ] && echo "full speed" || echo "$pps/s offered")
  echo "emulator, $label: $(measure "ip netns exec $two" "ip netns exec $one" "10.$block.0.2" $bits)"
  echo "loopback, $label: $(measure "" "" 127.0.0.1 $bits)"
done
