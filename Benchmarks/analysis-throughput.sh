#!/usr/bin/env bash
# Analysis throughput, side by side with tshark on the same file:
#   Benchmarks/analysis-throughput.sh [PACKETS]
# Builds the release testbed if needed, writes a PACKETS-packet RTP capture (default 1,000,000),
# times `testbed report FILE --format json` and `tshark -q -z rtp,streams` (best of 3 each,
# both pinned to one core) and prints packets per second and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
packets=${1:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -x .build/release/testbed ] || make build >/dev/null
python3 Benchmarks/make-rtp-pcap.py "$work/rtp.pcap" "$packets"
best() {
  local best=999999
  for _ in 1 2 3; do
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s%N)
    local ms=$(( (end - start) / 1000000 ))
    (( ms < best )) && best=$ms
  done
  echo "$best"
}
ours=$(best taskset -c 0 .build/release/testbed report "$work/rtp.pcap" --format json)
theirs=$(best taskset -c 0 tshark -q -d udp.port==7000,rtp -z rtp,streams -r "$work/rtp.pcap")
echo "packets:   $packets ($(du -h "$work/rtp.pcap" | cut -f1))"
echo "testbed:   ${ours} ms  ($(( packets * 1000 / (ours > 0 ? ours : 1) )) packets/s)"
echo "tshark:    ${theirs} ms  ($(( packets * 1000 / (theirs > 0 ? theirs : 1) )) packets/s)"
echo "ratio:     $(python3 -c "print(f'{$theirs / max($ours, 1):.1f}')") x"
taskset -c 0 .build/release/testbed report "$work/rtp.pcap" | head -8
tshark -q -d udp.port==7000,rtp -z rtp,streams -r "$work/rtp.pcap" | head -8
