#!/usr/bin/env python3
"""Checks the capture analyser (`testbed report FILE --format json`) against tshark.

Usage:
    python3 Benchmarks/judge-vs-tshark.py [--testbed PATH] [--timeout S] [--tshark PATH]
                                          [--truth-only] [--verbose] FILE_OR_DIR...

Directories are searched recursively for *.pcap, *.pcapng and *.cap. For every file the
testbed runs once (wall time, peak RSS from wait4, exit status: nonzero = FAIL, killed by a
signal = CRASH, past --timeout = HANG; MEMORY when peak RSS > 2 x file size + 64 MB), tshark
gives the per-packet truth, and the truth's stream figures, computed here from tshark's
fields by the definitions below, are compared with `streams[]` of our JSON (matched by
`ssrc` "0x%08x" and `receiver`). --truth-only skips the testbed and prints the truth.
Exit status 1 when any file disagreed, crashed or hung (a report failure counts when the
truth has streams), else 0.

The definitions checked (implemented here from tshark's fields, independently of the Swift
code):

- Receiver = destination "ip:port"; IPv4 "a.b.c.d:port", IPv6 in RFC 5952 form inside
  brackets "[2001:db8::1]:5004". When tshark decodes a tunnel, the IP/UDP layers right
  below the RTP layer are used.
- Only UDP. A datagram is RTCP, not RTP, when its second byte is 192..223 (RFC 5761);
  frames tshark decodes as RTCP (rtcp anywhere in frame.protocols) are excluded too, and so
  are RTP packets of a version other than 2. Frames `-Y rtp` matches without RTP header
  fields (STUN/DTLS the RTP dissector hands on, RFC 7983) are ignored.
- Plausible stream: a key's (SSRC, receiver) packets are held as a candidate until it has
  3 "coherent steps": a packet whose sequence number is 1..16 ahead (mod 65536) of the
  candidate's highest so far and whose timestamp is 0..2^24-1 ahead (mod 2^32) of that
  highest packet's timestamp. The highest moves to any packet 1..32767 ahead, coherent or
  not; other packets (duplicates, reordered) change nothing. When a candidate reaches 16 held
  packets without 3 coherent steps, those 16 are set aside for good and the candidate starts
  empty again. Once confirmed, all its held packets count as the stream's, in arrival order,
  and everything after. Streams that never confirm are not reported; their packets count in
  capture.setAsidePackets.
- Sequence numbers are extended over wrap the RFC 3550 way: a new 16-bit value is placed in
  the cycle of the highest extended value so far that puts it within half a cycle of it.
  packets = distinct extended sequence numbers; duplicates = arrivals of one already seen;
  lost = highest - lowest + 1 - packets; reordered = non-duplicate arrivals whose sequence
  number is below the highest seen before it (RFC 4737).
- Clock rate, for the stream's payload type (its first packet's): static payload types of
  RFC 3551 (0, 3, 4, 5, 7, 8, 9, 12, 13, 15, 18: 8000; 6: 16000; 10, 11: 44100; 14, 25, 26,
  28, 31, 32, 33, 34: 90000; 16: 11025; 17: 22050) -> "static". Else an SDP rtpmap for that
  payload type whose c= address and m= port equal the stream's receiver -> "sdp"; else, when
  every rtpmap in the capture's SDPs for that payload type names the same rate -> "sdp". Else
  "estimated": the timestamp advance (signed 32-bit) of the newest (highest-sequence) packet
  over the first packet divided by their arrival-time difference, over the arrivals until the
  first that is 2 s after the first (or the whole stream when shorter, which needs at least
  0.2 s and 4 distinct packets), snapped to the nearest of 8000, 11025, 12000, 16000, 22050,
  24000, 32000, 44100, 48000, 90000 when within 4 % of it. Else the default 16000, "flag".
- A packet's payload duration in timestamp units, where its codec says it (by the packet's
  own payload type): PCMU/PCMA (0, 8) and G722 (9): payload bytes (minus RTP padding); GSM
  (3): bytes // 33 * 160; G729 (18): bytes // 10 * 80; L16 (10: bytes // 4, 11: bytes // 2);
  Opus (when the SDP rtpmap says opus, resolved like the clock rate): from the TOC byte
  (RFC 6716 3.1) at 48000. A duration of 0 counts as unknown.
- The usual step: the timestamp advance between two consecutive new packets (sequence
  number exactly one above the highest) when positive and the later one is not marked; the
  mode is the most common of the last 16 such steps (ties: the most recent of the tied
  values). The frame in force for a packet is the newest packet's duration when known, else
  the mode as it was before the packet.
- Silence before a new packet above the highest (steps = seq - highest): ticks = signed 32-bit
  timestamp difference from the newest packet; unaccounted = ticks - steps * frame. If steps
  == 1 and the marker bit is not set: no silence (consecutive sequence numbers are never
  silence unless the sender marks a talk spurt). Else silence = unaccounted / clockRate
  seconds when unaccounted >= frame, else 0. No silence before a frame is known.
- maxGapMs = over non-duplicate packets in arrival order after the first:
  max(0, arrival - previous non-duplicate arrival - silence), in ms.
- jitterMs: RFC 3550 over non-duplicate packets in arrival order:
  D = (arrival_i - arrival_{i-1}) * rate - int32(ts_i - ts_{i-1}); J += (|D| - J) / 16;
  jitterMs = J / rate * 1000.
- Payload bytes = udp.length - 8 - 12 - 4*CC - (X ? 4 + 4*ext.len : 0) - padding count
  (the datagram's length field, not the captured length).
- Which datagrams are RTP: tshark's heuristics and SDPs find the ports; then every datagram on
  a port that carries RTP by tshark's reading or by the analyser's is decoded as RTP (SDP and
  QUIC disabled, so no conversation overrides that), and frames tshark decodes as RTCP or
  that an ICMP error quotes are left out.

Tolerances: integers exact; maxGapMs within 0.002 ms; jitterMs within 0.5 % or 0.01 ms.
Arrival order is file order; arrival times are tshark's frame.time_epoch, kept in ns.
"""

import argparse
import collections
import ipaddress
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

CAPTURE_EXTENSIONS = ('.pcap', '.pcapng', '.cap')

STATIC_RATES = {6: 16000}
for _pt in (0, 3, 4, 5, 7, 8, 9, 12, 13, 15, 18):
    STATIC_RATES[_pt] = 8000
for _pt in (10, 11):
    STATIC_RATES[_pt] = 44100
for _pt in (14, 25, 26, 28, 31, 32, 33, 34):
    STATIC_RATES[_pt] = 90000
STATIC_RATES[16] = 11025
STATIC_RATES[17] = 22050

SNAP_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 90000)
DEFAULT_RATE = 16000

RTP_FIELDS = [
    'frame.number', 'frame.time_epoch', 'frame.protocols',
    'ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst', 'udp.srcport', 'udp.dstport', 'udp.length',
    'rtp.version', 'rtp.ssrc', 'rtp.seq', 'rtp.timestamp', 'rtp.marker', 'rtp.p_type',
    'rtp.cc', 'rtp.ext', 'rtp.ext.len', 'rtp.padding', 'rtp.padding.count', 'rtcp.pt',
]
HEURISTICS = ['--enable-heuristic', 'rtp_udp', '--enable-heuristic', 'rtcp_udp']


def int32(x):
    x &= 0xFFFFFFFF
    return x - 0x100000000 if x >= 0x80000000 else x


def extend(seq, highest):
    """A 16-bit sequence number placed in the cycle (of the highest extended one so far) that
    puts it within half a cycle of it (RFC 3550, appendix A.1)."""
    if highest is None:
        return seq
    candidate = (highest & ~0xFFFF) | seq
    if candidate - highest > 0x8000:
        candidate -= 0x10000
    elif highest - candidate > 0x8000:
        candidate += 0x10000
    return candidate


def parse_epoch_ns(s):
    """'1332741131.936370000' -> integer nanoseconds (exact)."""
    s = s.strip()
    neg = s.startswith('-')
    if neg:
        s = s[1:]
    if 'e' in s or 'E' in s:
        v = int(round(float(s) * 1e9))
    else:
        whole, _, frac = s.partition('.')
        v = int(whole or '0') * 1_000_000_000 + int((frac + '000000000')[:9])
    return -v if neg else v


def host_port(addr, port):
    ip = ipaddress.ip_address(addr)
    if ip.version == 6:
        return '[%s]:%d' % (ip.compressed, port)
    return '%s:%d' % (ip, port)


def norm_addr(addr):
    try:
        return ipaddress.ip_address(addr.split('/')[0].strip()).compressed
    except ValueError:
        return addr.strip().lower()


# --------------------------------------------------------------------------------------
# tshark side


class TsharkError(Exception):
    pass


def run_tshark(tshark, path, args, timeout):
    cmd = [tshark, '-r', path] + HEURISTICS + args
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TsharkError('tshark timed out')
    err = r.stderr.decode('utf-8', 'replace')
    err = '\n'.join(l for l in err.splitlines() if 'Running as user' not in l).strip()
    if r.returncode != 0 and not r.stdout.strip():
        raise TsharkError(err.splitlines()[-1] if err else 'tshark exit %d' % r.returncode)
    return r.stdout.decode('utf-8', 'replace'), err


class Pkt:
    __slots__ = ('frame', 't', 'ssrc', 'seq', 'ts', 'marker', 'pt', 'plen', 'toc', 'sender')

    def __init__(self, frame, t, ssrc, seq, ts, marker, pt, plen, sender):
        self.frame, self.t, self.ssrc, self.seq, self.ts = frame, t, ssrc, seq, ts
        self.marker, self.pt, self.plen, self.sender = marker, pt, plen, sender
        self.toc = None


def layer_index(protocols, upto, name):
    """How many `name` layers come before position `upto` (the index of the one right below)."""
    return sum(1 for p in protocols[:upto] if p == name) - 1


def tshark_rtp(tshark, path, timeout, notes, ports=()):
    """RTP packets as tshark decodes them; `ports` are UDP ports decoded as RTP whatever else
    tshark would make of them (an SDP that moved a port to T.38, say)."""
    args = ['-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,',
            '-E', 'quote=n']
    for port in ports:
        args += ['-d', 'udp.port==%d,rtp' % port]
    for f in RTP_FIELDS:
        args += ['-e', f]
    if ports:
        # No SDP and no QUIC, whose conversations would override the decoding asked for.
        args += ['--disable-protocol', 'sdp', '--disable-protocol', 'quic']
    args += ['-Y', 'rtp or rtcp']
    out, err = run_tshark(tshark, path, args, timeout)
    if err:
        notes.append('tshark: ' + err.splitlines()[-1][:160])
    col = {f: i for i, f in enumerate(RTP_FIELDS)}
    pkts = []
    skipped = collections.Counter()
    for line in out.splitlines():
        v = line.split('\t')
        if len(v) < len(RTP_FIELDS):
            v += [''] * (len(RTP_FIELDS) - len(v))

        def all_of(name):
            x = v[col[name]]
            return x.split(',') if x else []

        protocols = v[col['frame.protocols']].split(':')
        if v[col['rtcp.pt']] or 'rtcp' in protocols:
            skipped['rtcp'] += 1
            continue
        if not v[col['rtp.ssrc']]:
            # -Y rtp also matches STUN/DTLS frames the RTP dissector demultiplexed (RFC 7983)
            continue
        try:
            rtp_at = protocols.index('rtp')
        except ValueError:
            skipped['no rtp layer'] += 1
            continue
        if 'icmp' in protocols[:rtp_at] or 'icmpv6' in protocols[:rtp_at]:
            # an ICMP error quoting the packet it is about: nobody received that packet
            skipped['quoted by ICMP'] += 1
            continue
        udp_at = max((i for i in range(rtp_at) if protocols[i] == 'udp'), default=None)
        if udp_at is None:
            skipped['not udp'] += 1
            continue
        ip_at = max((i for i in range(udp_at) if protocols[i] in ('ip', 'ipv6')), default=None)
        if ip_at is None:
            skipped['no ip'] += 1
            continue
        try:
            ui = layer_index(protocols, udp_at + 1, 'udp')
            udp_dst = int(all_of('udp.dstport')[ui])
            udp_src = int(all_of('udp.srcport')[ui])
            udp_len = int(all_of('udp.length')[ui])
            fam = protocols[ip_at]
            ii = layer_index(protocols, ip_at + 1, fam)
            dst = all_of(fam + '.dst')[ii]
            src = all_of(fam + '.src')[ii]
            version = int(all_of('rtp.version')[0])
            ssrc = int(all_of('rtp.ssrc')[0], 0)
            seq = int(all_of('rtp.seq')[0])
            ts = int(all_of('rtp.timestamp')[0])
            marker = int(all_of('rtp.marker')[0]) != 0
            pt = int(all_of('rtp.p_type')[0])
            cc = int((all_of('rtp.cc') or ['0'])[0])
            ext = int((all_of('rtp.ext') or ['0'])[0]) != 0
            ext_len = int((all_of('rtp.ext.len') or ['0'])[0]) if ext else 0
            padding = int((all_of('rtp.padding') or ['0'])[0]) != 0
            pad_count = int((all_of('rtp.padding.count') or ['0'])[0]) if padding else 0
            frame = int(v[col['frame.number']])
            t = parse_epoch_ns(v[col['frame.time_epoch']])
        except (IndexError, ValueError):
            skipped['unparsed'] += 1
            continue
        if version != 2:
            skipped['rtp version %d' % version] += 1
            continue
        if 192 <= ((0x80 if marker else 0) | pt) <= 223:
            skipped['second byte 192-223 (RTCP)'] += 1
            continue
        plen = udp_len - 8 - 12 - 4 * cc - ((4 + 4 * ext_len) if ext else 0) - pad_count
        try:
            receiver = host_port(dst, udp_dst)
            sender = host_port(src, udp_src)
        except ValueError:
            skipped['bad address'] += 1
            continue
        p = Pkt(frame, t, ssrc, seq, ts, marker, pt, max(plen, 0) if plen >= 0 else None, sender)
        pkts.append((receiver, p))
    if skipped:
        notes.append('tshark packets left out: ' + ', '.join('%s %d' % kv for kv in sorted(skipped.items())))
    return pkts


class SdpMedia:
    __slots__ = ('addr', 'port', 'rtpmap')

    def __init__(self, addr, port):
        self.addr, self.port, self.rtpmap = addr, port, {}


def tshark_sdp(tshark, path, timeout, notes):
    """[(addr, port, pt, encoding lowercased, rate)] from every SDP body, in file order."""
    try:
        out, _ = run_tshark(tshark, path, ['-T', 'pdml', '-Y', 'sdp'], timeout)
    except TsharkError as e:
        notes.append('tshark sdp: %s' % e)
        return []
    entries = []
    try:
        root = ET.fromstring(out) if out.strip() else None
    except ET.ParseError:
        notes.append('tshark sdp: PDML did not parse')
        return []
    if root is None:
        return []
    for proto in root.iter('proto'):
        if proto.get('name') != 'sdp':
            continue
        session_c = None
        media = []
        media_c = {}
        for field in proto.iter('field'):
            name, show = field.get('name'), field.get('show') or ''
            if name == 'sdp.connection_info':
                toks = show.split()
                if len(toks) >= 3:
                    if media:
                        media_c[len(media) - 1] = norm_addr(toks[2])
                    else:
                        session_c = norm_addr(toks[2])
            elif name == 'sdp.media':
                toks = show.split()
                try:
                    port = int(toks[1].split('/')[0])
                except (IndexError, ValueError):
                    port = None
                media.append(SdpMedia(None, port))
            elif name == 'sdp.media_attr' and media and show.lower().startswith('rtpmap:'):
                try:
                    pt_s, enc = show[7:].split(None, 1)
                    parts = enc.strip().split('/')
                    media[-1].rtpmap[int(pt_s)] = (parts[0].lower(), int(parts[1]))
                except (ValueError, IndexError):
                    pass
        for i, m in enumerate(media):
            m.addr = media_c.get(i, session_c)
            for pt, (enc, rate) in m.rtpmap.items():
                entries.append((m.addr, m.port, pt, enc, rate))
    return entries


def opus_tocs(tshark, path, pts, timeout, notes):
    """{frame number: (toc, second byte or None)} for RTP packets of the given payload types."""
    if not pts:
        return {}
    flt = ' or '.join('rtp.p_type == %d' % p for p in sorted(pts))
    try:
        out, _ = run_tshark(tshark, path, ['-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=f',
                                           '-e', 'frame.number', '-e', 'rtp.payload', '-Y', flt], timeout)
    except TsharkError as e:
        notes.append('tshark opus payloads: %s' % e)
        return {}
    res = {}
    for line in out.splitlines():
        a, _, b = line.partition('\t')
        b = b.replace(':', '').strip()
        try:
            res[int(a)] = (int(b[0:2], 16), int(b[2:4], 16) if len(b) >= 4 else None) if len(b) >= 2 else None
        except ValueError:
            pass
    return res


# --------------------------------------------------------------------------------------
# The figures


def opus_duration(toc):
    if toc is None:
        return None
    b0, b1 = toc
    config = b0 >> 3
    if config < 12:
        ms10 = (10, 20, 40, 60)[config % 4]
        size = ms10 * 48
    elif config < 16:
        size = (480, 960)[config % 2]
    else:
        size = (120, 240, 480, 960)[config % 4]
    code = b0 & 3
    if code == 0:
        n = 1
    elif code in (1, 2):
        n = 2
    else:
        if b1 is None:
            return None
        n = b1 & 0x3F
    return size * n


def payload_duration(p, opus_pts):
    b = p.plen
    if b is None:
        return None
    if p.pt in (0, 8, 9):
        return b
    if p.pt == 3:
        return b // 33 * 160
    if p.pt == 18:
        return b // 10 * 80
    if p.pt == 10:
        return b // 4
    if p.pt == 11:
        return b // 2
    if p.pt in opus_pts:
        return opus_duration(p.toc)
    return None


def resolve_sdp(entries, pt, receiver):
    """(rate, encoding, how) for `pt` from SDP, or None. how: 'receiver' or 'capture'."""
    if not entries:
        return None
    addr, _, port = receiver.rpartition(':')
    addr = norm_addr(addr.strip('[]'))
    port = int(port)
    matched = [(enc, rate) for (a, p, q, enc, rate) in entries if q == pt and a == addr and p == port]
    if matched:
        return matched[-1][1], matched[-1][0], 'receiver' if len(set(matched)) == 1 else 'receiver (several)'
    rates = {rate for (_, _, q, _, rate) in entries if q == pt}
    encs = {enc for (_, _, q, enc, _) in entries if q == pt}
    if len(rates) == 1:
        return next(iter(rates)), (next(iter(encs)) if len(encs) == 1 else None), 'capture'
    return None


def estimate_rate(pkts):
    """The estimated clock rate (snapped) or None (-> flag), and the raw estimate."""
    first = pkts[0]
    newest = first
    highest = None
    seen = set()
    ext_prev = None
    reached = False
    for p in pkts:
        ext = extend(p.seq, highest)
        seen.add(ext)
        if highest is None or ext > highest:
            highest, newest = ext, p
        if p.t - first.t >= 2_000_000_000:
            reached = True
            break
    last_t = p.t
    if not reached:
        if last_t - first.t < 200_000_000 or len(seen) < 4:
            return None, None
    if len(seen) < 4:
        return None, None
    dt = (newest.t - first.t) / 1e9
    if dt <= 0:
        return None, None
    raw = int32(newest.ts - first.ts) / dt
    for c in SNAP_RATES:
        if abs(raw - c) <= 0.04 * c:
            return c, raw
    return None, raw


class StreamTruth:
    def __init__(self, ssrc, receiver):
        self.ssrc, self.receiver = ssrc, receiver
        self.pkts = []

    def compute(self, sdp_entries, opus_pts_for):
        pkts = self.pkts
        pt = pkts[0].pt
        self.payload_type = pt
        self.note = None
        sdp = resolve_sdp(sdp_entries, pt, self.receiver) if pt not in STATIC_RATES else None
        if pt in STATIC_RATES:
            self.clock_rate, self.source = STATIC_RATES[pt], 'static'
        elif sdp:
            self.clock_rate, self.source = sdp[0], 'sdp'
            if sdp[2] != 'receiver':
                self.note = 'sdp rate by ' + sdp[2]
        else:
            rate, raw = estimate_rate(pkts)
            if rate:
                self.clock_rate, self.source = rate, 'estimated'
            else:
                self.clock_rate, self.source = DEFAULT_RATE, 'flag'
            if raw is not None:
                self.note = 'estimate %.0f Hz' % raw
        opus_pts = opus_pts_for(self.receiver)
        rate = self.clock_rate

        seen = set()
        highest = lowest = None
        newest = None          # the packet holding the highest sequence number
        newest_dur = None
        duplicates = reordered = 0
        mode = None            # the most common step, None until there is one
        steps = collections.deque(maxlen=16)
        prev = None            # previous non-duplicate packet
        max_gap = 0
        jitter = 0.0
        for p in pkts:
            ext = extend(p.seq, highest)
            if ext in seen:
                duplicates += 1
                continue
            seen.add(ext)
            dur = payload_duration(p, opus_pts)
            silence_ns = 0
            if highest is not None and ext < highest:
                reordered += 1
            elif highest is not None and ext > highest:
                n = ext - highest
                ticks = int32(p.ts - newest.ts)
                # the usual step: between consecutive unmarked packets whose timestamp advanced
                if n == 1 and ticks > 0 and not p.marker:
                    steps.append(ticks)
                    counts = collections.Counter(steps)
                    top = max(counts.values())
                    mode = next(x for x in reversed(steps) if counts[x] == top)
                # the frame: the newest packet's own duration where its codec says it, else the mode
                frame = newest_dur if newest_dur else mode
                if frame and ticks > 0 and (n > 1 or p.marker):
                    unaccounted = ticks - n * frame
                    if unaccounted >= frame:
                        silence_ns = unaccounted * 1_000_000_000 / rate
            if prev is not None:
                gap = p.t - prev.t - silence_ns
                if gap > max_gap:
                    max_gap = gap
                dd = (p.t - prev.t) / 1e9 * rate - int32(p.ts - prev.ts)
                jitter += (abs(dd) - jitter) / 16
            if highest is None or ext > highest:
                highest, newest, newest_dur = ext, p, dur
            if lowest is None or ext < lowest:
                lowest = ext
            prev = p
        self.packets = len(seen)
        self.duplicates = duplicates
        self.lost = highest - lowest + 1 - len(seen)
        self.reordered = reordered
        self.max_gap_ms = max_gap / 1e6
        self.jitter_ms = jitter / rate * 1000
        return self

    def figures(self):
        return {
            'packets': self.packets, 'lost': self.lost, 'duplicates': self.duplicates,
            'reordered': self.reordered, 'maxGapMs': self.max_gap_ms, 'jitterMs': self.jitter_ms,
            'clockRate': self.clock_rate, 'clockRateSource': self.source, 'payloadType': self.payload_type,
        }


def truth_streams(pkts, sdp_entries, opus_pts_for):
    """Runs the plausible-stream rule; returns ([StreamTruth], set-aside packet count)."""
    streams = {}
    cands = {}
    set_aside = 0
    order = []
    for receiver, p in pkts:
        key = (p.ssrc, receiver)
        s = streams.get(key)
        if s is not None:
            s.pkts.append(p)
            continue
        c = cands.get(key)
        if c is None:
            c = cands[key] = {'held': [], 'hseq': 0, 'hts': 0, 'coherent': 0}
        if not c['held']:
            c['held'].append(p)
            c['hseq'], c['hts'] = p.seq, p.ts
        else:
            d = (p.seq - c['hseq']) & 0xFFFF
            if 1 <= d <= 16 and ((p.ts - c['hts']) & 0xFFFFFFFF) < (1 << 24):
                c['coherent'] += 1
            c['held'].append(p)
            if 1 <= d < 0x8000:
                c['hseq'], c['hts'] = p.seq, p.ts
        if c['coherent'] >= 3:
            s = streams[key] = StreamTruth(p.ssrc, receiver)
            s.pkts.extend(c['held'])
            order.append(key)
            del cands[key]
        elif len(c['held']) >= 16:
            set_aside += len(c['held'])
            c['held'], c['coherent'] = [], 0
    set_aside += sum(len(c['held']) for c in cands.values())
    result = [streams[k].compute(sdp_entries, opus_pts_for) for k in order]
    return result, set_aside


def tshark_truth(tshark, path, timeout, notes, our_ports=()):
    pkts = tshark_rtp(tshark, path, timeout, notes)
    # Every datagram on a port that carries RTP (by tshark's reading or by ours) is decoded as
    # RTP, as the analyser judges every datagram by its bytes: not as what a port number (443
    # is QUIC) or a signalling context (an SDP that moved the port to T.38) made tshark expect.
    ports = sorted({int(receiver.rsplit(':', 1)[1]) for receiver, _ in pkts} | set(our_ports))
    if ports and len(ports) <= 64:
        pkts = tshark_rtp(tshark, path, timeout, [], ports=ports)
    sdp_entries = tshark_sdp(tshark, path, timeout, notes)
    # Opus payload types: resolved per receiver like the clock rate
    opus_cache = {}

    def opus_pts_for(receiver):
        if receiver not in opus_cache:
            opus_cache[receiver] = set()
            for pt in {q for (_, _, q, _, _) in sdp_entries}:
                if pt in STATIC_RATES:
                    continue
                r = resolve_sdp(sdp_entries, pt, receiver)
                if r and r[1] == 'opus':
                    opus_cache[receiver].add(pt)
        return opus_cache[receiver]

    candidate_opus = {q for (_, _, q, enc, _) in sdp_entries if enc == 'opus' and q not in STATIC_RATES}
    if candidate_opus and any(p.pt in candidate_opus for _, p in pkts):
        tocs = opus_tocs(tshark, path, candidate_opus, timeout, notes)
        for _, p in pkts:
            if p.pt in candidate_opus:
                p.toc = tocs.get(p.frame)
    streams, set_aside = truth_streams(pkts, sdp_entries, opus_pts_for)
    return streams, set_aside, len(pkts), sdp_entries


# --------------------------------------------------------------------------------------
# testbed side


GNU_TIME = '/usr/bin/time'


def run_testbed(testbed, path, timeout):
    """Runs `testbed report path --format json`; returns a dict with status and resources.

    The peak RSS comes from GNU time (Debian's `time` package) when it is there: a child
    forked from this Python process starts with Python's resident pages, so wait4's figure
    for it would be this script's size, not the testbed's."""
    measure = os.access(GNU_TIME, os.X_OK)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile('r') as usage:
        start = time.monotonic()
        command = [testbed, 'report', path, '--format', 'json']
        if measure:
            command = [GNU_TIME, '-o', usage.name, '-f', 'RSS %M'] + command
        try:
            proc = subprocess.Popen(command, stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as e:
            return {'status': 'FAIL', 'detail': 'cannot start testbed: %s' % e, 'wall': 0, 'rss_kb': 0}
        status = ru = None
        timed_out = False
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if time.monotonic() - start > timeout:
                timed_out = True
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _, status, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.monotonic() - start
        proc.returncode = 0  # reaped here; keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode('utf-8', 'replace')
        stderr = err.read().decode('utf-8', 'replace')
        report = usage.read() if measure else ''
    rss = ru.ru_maxrss if ru else 0
    if measure:
        rss = next((int(l.split()[1]) for l in report.splitlines() if l.startswith('RSS ')), 0)
        signalled = [l for l in report.splitlines() if l.startswith('Command terminated by signal')]
        if signalled and not timed_out:
            res = {'wall': wall, 'rss_kb': rss, 'stdout': stdout, 'stderr': stderr}
            res['status'], res['detail'] = 'CRASH', signalled[0].split('by ')[-1]
            return res
    res = {'wall': wall, 'rss_kb': rss, 'stdout': stdout, 'stderr': stderr}
    if timed_out:
        res['status'], res['detail'] = 'HANG', 'killed after %.0f s' % timeout
    elif os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        res['status'], res['detail'] = 'CRASH', 'signal %s' % name
    elif os.WEXITSTATUS(status) != 0:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else ''
        res['status'], res['detail'] = 'FAIL', 'exit %d %s' % (os.WEXITSTATUS(status), last[:160])
    else:
        res['status'] = 'ok'
        try:
            res['json'] = json.loads(stdout)
        except ValueError:
            i = stdout.find('{')
            try:
                res['json'] = json.loads(stdout[i:]) if i >= 0 else None
            except ValueError:
                res['json'] = None
            if res['json'] is None:
                res['status'], res['detail'] = 'FAIL', 'output is not JSON'
    return res


# --------------------------------------------------------------------------------------
# comparison


def close(figure, ours, truth):
    if ours is None:
        return False
    if figure == 'maxGapMs':
        return abs(ours - truth) <= 0.002
    if figure == 'jitterMs':
        return abs(ours - truth) <= max(0.01, 0.005 * abs(truth))
    return ours == truth


def fmt(v):
    if isinstance(v, float):
        return '%.4f' % v
    return str(v)


def compare(report, truth, set_aside):
    """[disagreement strings], [only ours], [only truth], [notes]."""
    ours = {}
    for s in report.get('streams') or []:
        ours[(str(s.get('ssrc', '')).lower(), s.get('receiver'))] = s
    diffs, only_ours, only_truth, notes = [], [], [], []
    seen = set()
    for t in truth:
        key = ('0x%08x' % t.ssrc, t.receiver)
        o = ours.get(key)
        if o is None:
            only_truth.append('%s@%s (%d pkts)' % (key[0], key[1], t.packets))
            continue
        seen.add(key)
        for figure, tv in t.figures().items():
            if figure not in o:
                diffs.append('%s@%s %s: ours=absent truth=%s' % (key[0], key[1], figure, fmt(tv)))
                continue
            if not close(figure, o[figure], tv):
                extra = ' (%s)' % t.note if t.note and figure in ('clockRate', 'clockRateSource') else ''
                diffs.append('%s@%s %s: ours=%s truth=%s%s' % (key[0], key[1], figure, fmt(o[figure]), fmt(tv), extra))
    for key, o in ours.items():
        if key not in seen:
            only_ours.append('%s@%s (%s pkts)' % (key[0], key[1], o.get('packets')))
    cap = report.get('capture') or {}
    if 'setAsidePackets' in cap and cap['setAsidePackets'] != set_aside:
        notes.append('setAsidePackets ours=%s truth=%d (our RTP recognition differs from tshark\'s)'
                     % (cap['setAsidePackets'], set_aside))
    return diffs, only_ours, only_truth, notes


def collect(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
                for n in sorted(names):
                    if n.lower().endswith(CAPTURE_EXTENSIONS):
                        files.append(os.path.join(root, n))
        else:
            files.append(p)
    return files


def main():
    ap = argparse.ArgumentParser(description='Compare `testbed report --format json` with tshark.')
    ap.add_argument('--testbed', default='.build/release/testbed')
    ap.add_argument('--timeout', type=float, default=60.0, help='seconds per testbed run (default 60)')
    ap.add_argument('--tshark', default='tshark')
    ap.add_argument('--truth-only', action='store_true', help='skip the testbed; print the truth per stream')
    ap.add_argument('--verbose', '-v', action='store_true', help='also print tshark notes and per-file resources')
    ap.add_argument('paths', nargs='+', metavar='FILE_OR_DIR')
    a = ap.parse_args()

    files = collect(a.paths)
    if not a.truth_only and not os.path.exists(a.testbed):
        sys.exit('no testbed at %s (build it, pass --testbed, or use --truth-only)' % a.testbed)
    tshark_timeout = max(300.0, a.timeout * 5)
    tally = collections.Counter()
    total_packets = 0
    worst_time = worst_rss = worst_time_mb = worst_rss_mb = None
    for path in files:
        size = os.path.getsize(path) if os.path.exists(path) else 0
        name = path
        notes = []
        r = None if a.truth_only else run_testbed(a.testbed, path, a.timeout)
        our_ports = set()
        for stream in ((r or {}).get('json') or {}).get('streams', []):
            try:
                our_ports.add(int(stream['receiver'].rsplit(':', 1)[1]))
            except (KeyError, ValueError):
                pass
        try:
            truth, set_aside, npk, sdp = tshark_truth(a.tshark, path, tshark_timeout, notes, our_ports)
            truth_ok = True
        except TsharkError as e:
            truth, set_aside, npk, sdp = [], 0, 0, []
            truth_ok = False
            notes.append('tshark cannot read it: %s' % e)
        tally['files'] += 1
        total_packets += sum(t.packets + t.duplicates for t in truth)
        if a.truth_only:
            print('%s: %d streams, %d RTP packets from tshark, %d set aside, %d SDP rtpmaps%s' % (
                name, len(truth), npk, set_aside, len(sdp), '' if truth_ok else ' (NO TRUTH)'))
            for t in truth:
                f = t.figures()
                print('  0x%08x@%s pt=%d %s' % (t.ssrc, t.receiver, t.payload_type,
                      ' '.join('%s=%s' % (k, fmt(v)) for k, v in f.items() if k != 'payloadType'))
                      + (' [%s]' % t.note if t.note else ''))
            for n in notes:
                print('  note: ' + n)
            continue

        status = r['status']
        flags = []
        rss_bytes = r['rss_kb'] * 1024
        if rss_bytes > 2 * size + 64 * 1024 * 1024:
            flags.append('MEMORY')
            tally['memory'] += 1
        if size > 0:
            tr, rr = r['wall'] / (size / 1e6), rss_bytes / size
            if worst_time is None or tr > worst_time[0]:
                worst_time = (tr, path)
            if worst_rss is None or rr > worst_rss[0]:
                worst_rss = (rr, path)
            if size >= 1_000_000:
                if worst_time_mb is None or tr > worst_time_mb[0]:
                    worst_time_mb = (tr, path)
                if worst_rss_mb is None or rr > worst_rss_mb[0]:
                    worst_rss_mb = (rr, path)
        res = '%.2f s, %.1f MB RSS' % (r['wall'], r['rss_kb'] / 1024)
        if status == 'CRASH':
            tally['crashes'] += 1
            print('CRASH %s: %s (%s)%s' % (name, r['detail'], res, ' [MEMORY]' if flags else ''))
            continue
        if status == 'HANG':
            tally['hangs'] += 1
            print('HANG %s: %s (%.1f MB RSS)%s' % (name, r['detail'], r['rss_kb'] / 1024, ' [MEMORY]' if flags else ''))
            continue
        if status == 'FAIL':
            tally['report failures'] += 1
            if truth:
                tally['disagreeing'] += 1
                print('FAIL %s: %s; the truth has %d streams' % (name, r['detail'], len(truth)))
            else:
                print('FAIL %s: %s (not counted: no streams in the truth%s)' % (
                    name, r['detail'], '' if truth_ok else '; tshark cannot read it either'))
            continue
        diffs, only_ours, only_truth, cnotes = compare(r['json'] or {}, truth, set_aside)
        notes += cnotes
        tail = ' [%s]' % ' '.join(flags) if flags else ''
        if diffs or only_ours or only_truth:
            tally['disagreeing'] += 1
            print('DISAGREE %s (%d streams; %s)%s' % (name, len(truth), res, tail))
            for d in diffs:
                print('  ' + d)
            if only_ours:
                print('  only ours: ' + ', '.join(only_ours))
            if only_truth:
                print('  only truth: ' + ', '.join(only_truth))
        else:
            tally['ok'] += 1
            print('OK %s (%d streams%s; %s)%s' % (name, len(truth), '' if truth_ok else ', no truth', res, tail))
        if a.verbose or not truth_ok:
            for n in notes:
                print('  note: ' + n)

    print()
    print('files %d, OK %d, disagreeing %d, crashes %d, hangs %d, report failures %d, memory flags %d, '
          'RTP packets (truth) %d' % (tally['files'], tally['ok'], tally['disagreeing'], tally['crashes'],
                                      tally['hangs'], tally['report failures'], tally['memory'], total_packets))
    if worst_time:
        print('worst time/size %.3f s/MB (%s); worst RSS/size %.1f (%s)' % (
            worst_time[0], worst_time[1], worst_rss[0], worst_rss[1]))
    if worst_time_mb:
        print('among files >= 1 MB: worst time/size %.3f s/MB (%s); worst RSS/size %.1f (%s)' % (
            worst_time_mb[0], worst_time_mb[1], worst_rss_mb[0], worst_rss_mb[1]))
    bad = tally['disagreeing'] or tally['crashes'] or tally['hangs']
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
