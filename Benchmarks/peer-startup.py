#!/usr/bin/env python3
"""A peer's start-up CPU: starts the release peer RUNS times (default 60), each told to shut
down as soon as it reads its first command, and prints the CPU (user + system) each run took,
from exec to exit, as min, median and p90 in milliseconds:
    python3 Benchmarks/peer-startup.py [RUNS] [PEER]
"""
import os
import resource
import statistics
import subprocess
import sys

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 60
peer = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", ".build", "release", "peer")
shutdown = b'{"command":"shutdown"}\n'


def once():
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = subprocess.Popen(
        [peer, "--name", "peer-1", "--address", "127.0.0.1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    child.communicate(shutdown, timeout=10)
    if child.returncode != 0:
        sys.exit(f"peer exited with {child.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000


times = sorted(once() for _ in range(runs))
print(f"peer start to shutdown, {runs} runs: CPU min {times[0]:.2f} ms, median {statistics.median(times):.2f} ms, "
      f"p90 {times[int(runs * 0.9) - 1]:.2f} ms")
