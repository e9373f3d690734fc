#!/usr/bin/env bash
# The scenario figures of the scale goals, one line per run (`make bench-scale`):
#   Benchmarks/scale-figures.sh [SCENARIO.yaml ...]   (default: scale-256 and dht-256)
# Runs each scenario with the release testbed into a temporary folder and prints from its
# report.json: peers ready, peak RSS, PSS (mean and summed), the capture's kernel drops, and for
# DHT scenarios the lookups judged correct, mean hops and the wire bytes per peer per second.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- Testbed/scenarios/scale-256.yaml Testbed/scenarios/dht-256.yaml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -x .build/release/testbed ] || make build >/dev/null
printf '%-12s %9s %9s %9s %10s %8s %13s %6s %9s\n' scenario ready-ms rss-MB pss-MB pss-sum-MB drops correct hops 'B/s/peer'
for scenario in "$@"; do
  name=$(basename "$scenario" .yaml)
  .build/release/testbed run "$scenario" --out "$work/$name" --quiet >/dev/null 2>&1 || true
  python3 - "$name" "$work/$name/latest/report.json" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
try:
    report = json.load(open(path))
except OSError as error:
    print(f"{name:<12} no report: {error}")
    sys.exit(0)
def get(*keys):
    value = report
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value
def text(value, digits=1):
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)
dht = get("dht")
correct = f"{get('dht', 'correct')}/{get('dht', 'lookups')}" if dht else "-"
print(f"{name:<12} {text(get('startup', 'allReadyMs'), 0):>9} {text(get('peers', 'maxRssMB')):>9} "
      f"{text(get('peers', 'meanPssMB')):>9} {text(get('peers', 'totalPssMB'), 0):>10} "
      f"{text(get('capture', 'kernelDrops')):>8} {correct:>13} {text(get('dht', 'meanHops'), 2):>6} "
      f"{text(get('dht', 'capturedBytesPerSecondPerPeer'), 0):>9}")
PY
done
