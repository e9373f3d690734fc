#!/usr/bin/env python3
"""Writes a pcap of RTP traffic for benchmarks, independently of the code under test.

usage: make-rtp-pcap.py OUT.pcap [PACKETS] [STREAMS]

Ethernet/IPv4/UDP frames, STREAMS speakers (one SSRC each) sending 20 ms Speex-sized payloads
to one receiver each, 0.1 % of packets dropped, 0.05 % duplicated, 0.05 % swapped with the next:
the shape of a voice relay under mild loss.
"""
import random
import struct
import sys

out = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
streams = int(sys.argv[3]) if len(sys.argv) > 3 else 12
rng = random.Random(1)
t0 = 1_764_000_000.0

def frame(stream, seq, ts):
    rtp = struct.pack("!BBHII", 0x80, 97, seq & 0xFFFF, ts & 0xFFFFFFFF, 0x1000 + stream) + bytes(70)
    udp = struct.pack("!HHHH", 7000, 7000, 8 + len(rtp), 0) + rtp
    src = bytes([127, 100, 0, 1])
    dst = bytes([127, 100, 1, stream + 1])
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, src, dst) + udp
    return b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + ip

with open(out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    records = []
    seq = [rng.randrange(65536) for _ in range(streams)]
    written = 0
    tick = 0
    while written < count:
        stream = tick % streams
        t = t0 + tick * 0.020 / streams + rng.uniform(0, 0.002)
        s = seq[stream]
        seq[stream] += 1
        tick += 1
        roll = rng.random()
        if roll < 0.001:
            continue  # lost
        data = frame(stream, s, s * 320)
        copies = 2 if roll < 0.0015 else 1
        for _ in range(copies):
            if written < count:
                records.append((t, data))
                written += 1
    # swap a few neighbours: reordering
    for i in range(0, len(records) - 1):
        if rng.random() < 0.0005:
            records[i], records[i + 1] = (records[i][0], records[i + 1][1]), (records[i + 1][0], records[i][1])
    for t, data in records:
        sec = int(t)
        usec = int(round((t - sec) * 1e6))
        if usec == 1_000_000:
            sec, usec = sec + 1, 0
        f.write(struct.pack("<IIII", sec, usec, len(data), len(data)))
        f.write(data)
