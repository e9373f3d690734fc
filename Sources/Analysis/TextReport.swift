import ControlProtocol

extension RunReport {
    /// report.txt: what a person reads in ten seconds. `peerRows` caps the peer table.
    public func text(folder: String? = nil, peerRows: Int = 16) -> String {
        var out: [String] = []
        let header = "\(run.scenario)  (seed \(run.seed), \(run.mode))" + (folder.map { "  \($0)" } ?? "")
        out.append(header)
        out.append(
            "run       \(run.outcome) after \(format(run.elapsedSeconds, 1)) s (planned \(format(run.plannedSeconds, 1)) s)"
                + (run.peerErrors > 0 ? ", \(run.peerErrors) peer errors" : "")
                + (run.malformedEventLines > 0 ? ", \(run.malformedEventLines) unreadable event lines" : ""))
        out.append(
            "peers     \(peers.spawned) spawned · \(peers.left) left · \(peers.crashed) crashed · "
                + "\(peers.stopped) stopped · \(peers.killed) killed · \(peers.failed) failed")
        out.append(
            "memory    peak RSS max \(format(peers.maxRssMB, 1)) MB, mean \(format(peers.meanRssMB, 1)) MB; "
                + "PSS at stop mean \(format(peers.meanPssMB, 1)) MB, max \(format(peers.maxPssMB, 1)) MB, "
                + "total \(format(peers.totalPssMB, 0)) MB")
        if let cpu = peers.cpuSeconds {
            out.append(
                "cpu       peers \(format(cpu, 1)) s in all"
                    + (peers.meanCpuPercent.map { ", mean \(format($0, 2)) % of a core each over its uptime" } ?? ""))
        }
        let ready =
            startup.allReadyMs.map { "all \(startup.peers) ready in \(format($0, 0)) ms" }
            ?? "\(startup.ready) of \(startup.peers) became ready"
        out.append("startup   \(ready)")
        let busiest = coordinator.steps.max { $0.cpuPercent < $1.cpuPercent }
        let quietest = coordinator.steps.filter { $0.seconds >= 1 }.min { $0.cpuPercent < $1.cpuPercent }
        var cpu =
            "testbed   CPU \(format(coordinator.cpuSeconds, 2)) s (\(format(coordinator.cpuPercent, 1)) % of a core)"
        if let quietest { cpu += "; quietest step \(format(quietest.cpuPercent, 1)) % (\(quietest.action))" }
        if let busiest { cpu += "; busiest \(format(busiest.cpuPercent, 1)) % (\(busiest.action))" }
        out.append(cpu)
        if !links.isEmpty {
            let sent = links.filter { $0.direction == "up" }.saturatingSum(\.packets)
            let dropped = links.saturatingSum {
                $0.lost.saturatingAdd($0.queueDrops).saturatingAdd($0.tooBig).saturatingAdd($0.partitioned)
            }
            out.append("links     \(sent) packets sent, \(dropped) dropped by the emulated network (see links[])")
            // Which profile the links started with, and what it is.
            var byProfile: [String: Int] = [:]
            for link in links { byProfile[link.profile ?? "", default: 0] += 1 }
            for (profile, count) in byProfile.sorted(by: { $0.key < $1.key }) {
                let link = links.first { ($0.profile ?? "") == profile }
                let what =
                    profile.isEmpty
                    ? "no profile (a perfect link)"
                    : "\(profile) (\(link?.profileFile ?? "?"): \(link?.parameters?.compactText ?? "?"))"
                out.append("          \(count) link directions started with \(what)")
            }
            let changes = links.saturatingSum(\.changes.count)
            if changes > 0 { out.append("          \(changes) changes by link steps (links[].changes)") }
        }
        if let dht {
            var line =
                "dht       \(dht.joined) joined · \(dht.lookups) lookups, \(dht.succeeded) answered, \(dht.correct) correct"
            if let hops = dht.meanHops { line += " · \(format(hops, 2)) hops" }
            if let p99 = dht.p99LatencyMs { line += " · p99 \(format(p99, 1)) ms" }
            if let rate = dht.capturedBytesPerSecondPerPeer { line += " · \(format(rate, 0)) B/s per peer" }
            if dht.resolved > 0 { line += " · \(dht.resolvedFound)/\(dht.resolved) resolved" }
            out.append(line)
        }
        if !handoffs.isEmpty {
            let released = handoffs.filter { $0.outcome == MigrationPhase.release.rawValue }.count
            var line = "handoffs  \(handoffs.count) migrations, \(released) released"
            let left = handoffs.filter { $0.cause == "leave" }.count
            if left > 0 { line += " (\(left) by a leaving host)" }
            if let worst = handoffs.compactMap(\.commitMs).max() { line += " · commit max \(format(worst, 1)) ms" }
            let takeovers = handoffs.compactMap(\.takeoverMs)
            if let worst = takeovers.max() { line += " · takeover max \(format(worst, 2)) ms" }
            let gaps = handoffs.compactMap(\.maxGapMs)
            if let worst = gaps.max() {
                line += " · largest gap \(format(worst, 1)) ms"
                if let service = handoffs.compactMap(\.maxServiceGapMs).max(), service < worst {
                    line += " (\(format(service, 1)) ms the service's: less the links' drops and the senders' lateness)"
                }
            }
            if handoffs.contains(where: { $0.lost != nil }) {
                let sum = { (figure: KeyPath<HandoffFigures, Int?>) in
                    handoffs.saturatingSum { $0[keyPath: figure] ?? 0 }
                }
                line += " · \(sum(\.lost)) lost"
                if handoffs.contains(where: { $0.lostByService != nil }) {
                    line += " (\(sum(\.lostByNetwork)) by the network, \(sum(\.lostByService)) by the peers)"
                }
                line += ", \(sum(\.duplicates)) duplicates, \(sum(\.reordered)) reordered"
            }
            if let overhead = handoffs.compactMap(\.overheadBytes).max() { line += " · overhead max \(overhead) B" }
            out.append(line)
            if let snapshot = handoffs.compactMap(\.snapshotBytes).max(),
                let compressed = handoffs.compactMap(\.snapshotCompressedBytes).max()
            {
                out.append("          snapshot up to \(snapshot) B, \(compressed) B compressed")
            }
            if let loss = handoffLoss {
                out.append(
                    "          loss inside the windows \(format(loss.insideRate * 100, 3)) % (\(loss.insideLost) of "
                        + "\(loss.insidePackets + loss.insideLost)), outside \(format(loss.outsideRate * 100, 3)) % "
                        + "(\(loss.outsideLost) of \(loss.outsidePackets + loss.outsideLost)), z \(format(loss.excessZ, 2))"
                )
                if let inside = loss.insideLostByService, let outside = loss.outsideLostByService {
                    out.append(
                        "          lost by the peers (not the links) inside the windows \(inside), outside \(outside)")
                }
            }
        }
        for failover in failovers {
            var line =
                "failover  \(failover.service) \(failover.from) -> \(failover.to): taken over "
                + (failover.silenceMs < 1000
                    ? "\(format(failover.silenceMs, 1)) ms" : "\(format(failover.silenceMs / 1000, 2)) s")
                + " after \(failover.from)'s last word"
            if let epoch = failover.epoch { line += " (epoch \(epoch))" }
            if let restored = failover.replicasRestoredMs { line += " · standbys back in \(format(restored, 1)) ms" }
            if let stoppedAt = failover.fromStoppedAt, let quiet = failover.fromStoppedMs {
                line +=
                    " · \(failover.from) stopped \(format(quiet, 1)) ms after its last answered heartbeat, "
                    + (stoppedAt < failover.takenOverAt
                        ? "\(format((failover.takenOverAt - stoppedAt) * 1000, 1)) ms before the takeover"
                        : "\(format((stoppedAt - failover.takenOverAt) * 1000, 1)) ms after the takeover")
            }
            if let receivers = failover.receivers {
                let heard = receivers.filter { $0.firstPacketAt != nil }.count
                line += " · \(heard) of \(receivers.count) receivers heard again"
                if let gap = failover.maxGapMs { line += " · largest gap \(format(gap, 1)) ms" }
                line += " · \(failover.lost ?? 0) lost"
            }
            out.append(line)
        }
        if let voice {
            for relay in voice.relays {
                out.append(
                    "relay     \(relay.service) on \(relay.peer): \(relay.received) packets in, \(relay.forwarded) forwarded"
                        + " · \(relay.unknownSender) from strangers · \(relay.malformed) not RTP")
            }
            if !voice.recordings.isEmpty {
                let frames = voice.recordings.saturatingSum(\.frames)
                let concealed = voice.recordings.saturatingSum(\.concealed)
                out.append(
                    "voice     \(voice.speakers.count) talk spurts · \(voice.recordings.count) recordings (audio/), "
                        + "\(frames) frames heard, \(concealed) concealed")
            }
            for failure in voice.failures { out.append("voice     FAILED \(failure)") }
        }
        if let game {
            let sent = game.clients.saturatingSum(\.inputsSent)
            let applied = game.clients.saturatingSum(\.inputsApplied)
            let wrong = game.clients.saturatingSum { $0.inputsMissing + $0.inputsAppliedTwice + $0.inputsOutOfOrder }
            let discarded = game.clients.saturatingSum(\.inputsDiscarded)
            out.append(
                "game      \(game.clients.count) bots · \(sent) inputs sent, \(applied) applied, \(wrong) not once or out of order"
                    + (discarded > 0 ? " · \(discarded) discarded with the host a standby replaced" : "")
            )
            if !game.ticks.isEmpty {
                let gap = game.ticks.map(\.maxGapTicks).max() ?? 0
                let gapMs = game.ticks.map(\.maxGapMs).max() ?? 0
                out.append(
                    "          ticks at \(game.ticks.count) receivers: \(game.ticks.saturatingSum(\.lost)) lost, "
                        + "\(game.ticks.saturatingSum(\.duplicates)) duplicates, \(game.ticks.saturatingSum(\.reordered)) "
                        + "reordered · largest gap \(format(gap, 2)) ticks (\(format(gapMs, 1)) ms) · "
                        + "\(game.ticks.saturatingSum(\.inputMismatches)) ticks with an input not applied once")
            }
            for failure in game.failures { out.append("game      FAILED \(failure)") }
        }
        if let security {
            let reasons = security.rejected.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
            out.append("security  rejected: " + reasons.joined(separator: " · "))
        }
        if let capture {
            var line = "capture   \(capture.packets) packets, \(capture.bytes) bytes"
            if let drops = capture.kernelDrops { line += ", \(drops) kernel drops" }
            if let drops = capture.networkDrops { line += ", \(drops) dropped by the links (drops.pcap)" }
            line += " · \(capture.rtpPackets) RTP"
            if capture.gamePackets > 0 { line += " · \(capture.gamePackets) game ticks" }
            line += " · \(capture.nonRtpUdpPackets) other UDP · \(capture.tcpPackets) TCP"
            if capture.setAsidePackets > 0 { line += " · \(capture.setAsidePackets) RTP-like set aside" }
            if capture.partial { line += "  PARTIAL: \(capture.error ?? "")" }
            out.append(line)
            if let error = capture.networkDropsError { out.append("capture   drops.pcap not read whole: \(error)") }
        }
        out.append("")
        let rows: [[String]] = peers.list.prefix(peerRows).map(\.row)
        out += table(header: ["peer", "pid", "address", "ready", "uptime", "end", "peak RSS"], rows: rows)
        if peers.list.count > peerRows {
            out.append("… \(peers.list.count - peerRows) more peers (report.json lists all)")
        }
        if !expectations.isEmpty {
            out.append("")
            out.append("expectations")
            let width = expectations.map(\.expr.count).max() ?? 0
            for result in expectations {
                let pad = String(repeating: " ", count: width - result.expr.count)
                let verdict = result.verdict.padding(toLength: 5)
                var line = "  \(verdict) \(result.expr)\(pad)  (\(result.value.shortText))"
                if let reason = result.knownMiss {
                    line +=
                        result.passed ? "  marked a known miss, but met: the mark can go" : "  known miss: \(reason)"
                }
                out.append(line)
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    private func table(header: [String], rows: [[String]]) -> [String] {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                cell + String(repeating: " ", count: widths[column] - cell.count)
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }
    }
}

extension PeerSummary {
    fileprivate var row: [String] {
        let ready: String = readyMs.map { "\(format($0, 0)) ms" } ?? "-"
        let uptime: String = uptimeSeconds.map { "\(format($0, 1)) s" } ?? "-"
        let rss: String = maxRssMB.map { "\(format($0, 1)) MB" } ?? "-"
        return [name, pid.map(String.init) ?? "-", address ?? "-", ready, uptime, end, rss]
    }
}

/// Fixed-point text without Foundation's formatter.
func format(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "-" }
    // Beyond 10^15 the digits after the point mean nothing, and the scaled value would not
    // fit an Int64 (figures come from files).
    guard abs(value) < 1e15 else { return String(value) }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = Int64((abs(value) * scale).rounded())
    let whole = scaled / Int64(scale)
    var text = (value < 0 && scaled != 0 ? "-" : "") + String(whole)
    if decimals > 0 {
        let fraction = String(scaled % Int64(scale))
        text += "." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }
    return text
}

extension JSONValue {
    /// `delayMs 30, loss (model independent, probability 0.02)`: an object's members in key
    /// order, for one line of text.
    var compactText: String {
        switch self {
        case .object(let members):
            members.sorted { $0.key < $1.key }.map { member in
                if case .object = member.value { return "\(member.key) (\(member.value.compactText))" }
                return "\(member.key) \(member.value.compactText)"
            }.joined(separator: ", ")
        case .string(let text): text
        // Parameters keep every digit a file gave (a loss of 0.001 is not 0.00).
        case .number(let value): value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        default: shortText
        }
    }

    var shortText: String {
        switch self {
        case .number(let value): format(value, value == value.rounded() ? 0 : 2)
        case .array(let items) where items.count > 6:
            "[" + items.prefix(6).map(\.shortText).joined(separator: ", ") + ", …]"
        case .array(let items): "[" + items.map(\.shortText).joined(separator: ", ") + "]"
        case .null: "no value"
        default: serialized
        }
    }
}

extension String {
    fileprivate func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }

    fileprivate func trimmingTrailingSpaces() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
