/// report.html: one file (no script, no network) a person opens in any browser: the tables of
/// report.txt and SVG charts: bandwidth over time with the timeline's steps marked, sequence
/// number against arrival time per receiver, and the distribution of inter-arrival gaps. The
/// only files it refers to are the run's own recordings (`audio/...wav`, beside it), to listen
/// to what each participant heard.
struct HTMLPage {
    private var parts: [String] = []

    init(title: String) {
        parts.append(
            """
            <!DOCTYPE html>
            <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
            <head>
            <meta charset="utf-8"/>
            <title>\(escapeXML(title))</title>
            <style>
            body { font-family: sans-serif; margin: 24px; color: #222; max-width: 960px; }
            table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
            th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; }
            th { background: #f4f4f4; }
            td.num { text-align: right; font-variant-numeric: tabular-nums; }
            .pass { color: #176f2c; font-weight: bold; }
            .fail { color: #b00020; font-weight: bold; }
            h2 { margin-top: 28px; border-bottom: 2px solid #eee; }
            </style>
            </head>
            <body>
            <h1>\(escapeXML(title))</h1>
            """)
    }

    mutating func heading(_ text: String) { parts.append("<h2>\(escapeXML(text))</h2>") }
    mutating func paragraph(_ text: String) { parts.append("<p>\(escapeXML(text))</p>") }
    mutating func raw(_ xml: String) { parts.append(xml) }

    /// A table; cells that parse as numbers are right-aligned; `classes` gives a CSS class per cell.
    mutating func table(_ header: [String], _ rows: [[String]], classes: [[String]] = []) {
        var out = "<table><tr>" + header.map { "<th>\(escapeXML($0))</th>" }.joined() + "</tr>"
        for (index, row) in rows.enumerated() {
            out += "<tr>"
            for (column, cell) in row.enumerated() {
                var css = Double(cell.split(separator: " ").first ?? "") != nil ? "num" : ""
                if index < classes.count, column < classes[index].count, !classes[index][column].isEmpty {
                    css = classes[index][column]
                }
                out += css.isEmpty ? "<td>\(escapeXML(cell))</td>" : "<td class=\"\(css)\">\(escapeXML(cell))</td>"
            }
            out += "</tr>"
        }
        parts.append(out + "</table>")
    }

    /// A two-column table of names and values, without a header.
    mutating func keyValues(_ rows: [[String]]) {
        parts.append(
            "<table>" + rows.map { "<tr><th>\(escapeXML($0[0]))</th><td>\(escapeXML($0[1]))</td></tr>" }.joined()
                + "</table>")
    }

    var html: String { (parts + ["</body>", "</html>"]).joined(separator: "\n") + "\n" }

    // MARK: Shared sections of run and capture reports

    static let classColors = ["#1f77b4", "#ff7f0e", "#7f7f7f"]

    mutating func bandwidthChart(_ bandwidth: BandwidthFigures, steps: [(t: Double, action: String)]) {
        heading("Bandwidth")
        guard let length = bandwidth.hosts.flatMap(\.sent).map(\.count).max(), length > 0 else {
            paragraph("No traffic was captured.")
            return
        }
        let window = Double(bandwidth.windowMs) / 1000
        var totals = [[Double]](repeating: [Double](repeating: 0, count: length), count: bandwidth.classes.count)
        for host in bandwidth.hosts {
            for (traffic, series) in host.sent.enumerated() where !series.isEmpty {
                for (index, bytes) in series.enumerated() { totals[traffic][index] += Double(bytes) / 1000 / window }
            }
        }
        let peak = totals.flatMap { $0 }.max() ?? 1
        let end = bandwidth.start + Double(length) * window
        var chart = SVGChart(
            x: (0, end - bandwidth.start), y: (0, peak * 1.1), xLabel: "seconds since the first packet",
            yLabel: "kB/s sent, all peers")
        for step in steps { chart.marker(at: step.t - bandwidth.start, label: step.action) }
        for (traffic, series) in totals.enumerated() where series.contains(where: { $0 > 0 }) {
            chart.line(
                series.enumerated().map { (Double($0.offset) * window, $0.element) },
                color: Self.classColors[traffic % Self.classColors.count], label: bandwidth.classes[traffic])
        }
        chart.legend(
            bandwidth.classes.enumerated().map { ($0.element, Self.classColors[$0.offset % Self.classColors.count]) })
        raw(chart.svg)
        let hosts = bandwidth.hosts.sorted { $0.sentBytes + $0.receivedBytes > $1.sentBytes + $1.receivedBytes }.prefix(
            24)
        table(
            ["host", "peer", "sent", "received"],
            hosts.map { [$0.address, $0.name ?? "-", "\($0.sentBytes) B", "\($0.receivedBytes) B"] })
        paragraph(
            "Windows of \(bandwidth.windowMs) ms. Classes: voice (RTP), overlay (other traffic on the overlay port), other."
        )
    }

    mutating func streams(_ streams: [StreamFigures], details: [StreamDetail], steps: [(t: Double, action: String)]) {
        heading("RTP streams, per receiver")
        guard !streams.isEmpty else {
            paragraph("No RTP streams.")
            return
        }
        table(
            [
                "ssrc", "receiver", "peer", "senders", "clock", "packets", "lost", "duplicates", "reordered", "max gap",
                "jitter",
            ],
            streams.map {
                [
                    $0.ssrc, $0.receiver, $0.receiverName ?? "-", $0.senders.joined(separator: ", "),
                    "\($0.clockRate) Hz (\($0.clockRateSource.rawValue))", "\($0.packets)",
                    "\($0.lost)", "\($0.duplicates)", "\($0.reordered)", "\(format($0.maxGapMs, 1)) ms",
                    "\(format($0.jitterMs, 2)) ms",
                ]
            })
        for (stream, detail) in zip(streams, details).prefix(12) where detail.arrivals.count > 1 {
            let start = detail.arrivals.first!.t
            let stride = max(1, detail.arrivals.count / 4000)
            let points = detail.arrivals.enumerated().filter { $0.offset % stride == 0 }.map {
                ($0.element.t - start, Double($0.element.sequence))
            }
            var chart = SVGChart(
                x: (0, detail.arrivals.last!.t - start), y: (0, Double(detail.arrivals.map(\.sequence).max() ?? 1)),
                xLabel: "seconds since the stream's first packet", yLabel: "sequence number")
            for step in steps { chart.marker(at: step.t - start, label: step.action) }
            chart.dots(points, color: "#1f77b4")
            raw(
                "<p>\(escapeXML("\(stream.ssrc) at \(stream.receiverName ?? stream.receiver): sequence number against arrival time"))</p>"
            )
            raw(chart.svg)
        }
        var histogram = [Int](repeating: 0, count: 101)
        for detail in details {
            for (bin, count) in detail.gapHistogram.enumerated() { histogram[bin] += count }
        }
        let tallest = Double(histogram.max() ?? 1)
        var chart = SVGChart(
            x: (0, 101), y: (0, tallest * 1.1), xLabel: "inter-arrival gap, ms (last bar: 100 ms and more)",
            yLabel: "packets, all streams")
        chart.bars(histogram.enumerated().map { (Double($0.offset), 1, Double($0.element)) }, color: "#1f77b4")
        heading("Inter-arrival gaps")
        raw(chart.svg)
    }
}

extension HTMLPage {
    static let streamColors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]

    /// A table of the migrations, and for each a chart of every receiver's packets inside its
    /// window (sequence number against arrival), the phases marked.
    mutating func handoffs(
        _ handoffs: [HandoffFigures], streams: [StreamFigures], details: [StreamDetail],
        steps: [(t: Double, action: String)]
    ) {
        heading("Handoffs")
        table(
            [
                "migration", "service", "from", "to", "outcome", "takeover", "overhead", "lost", "dup", "reord",
                "max gap",
            ],
            handoffs.map {
                [
                    $0.migration, $0.service, $0.from, $0.to, $0.outcome,
                    $0.takeoverMs.map { "\(format($0, 1)) ms" } ?? "-",
                    $0.overheadBytes.map { "\($0) B" } ?? "-",
                    ($0.lost.map(String.init) ?? "-")
                        + ($0.lostByService.map { " (\($0) by the peers)" } ?? ""),
                    $0.duplicates.map(String.init) ?? "-", $0.reordered.map(String.init) ?? "-",
                    $0.maxGapMs.map { "\(format($0, 1)) ms" } ?? "-",
                ]
            })
        for handoff in handoffs.prefix(12) {
            let window = (handoff.start - HandoffAnalysis.margin)...(handoff.end + HandoffAnalysis.margin)
            var series: [(String, [(Double, Double)])] = []
            for (stream, detail) in zip(streams, details) {
                let inside = detail.arrivals.filter { window.contains($0.t) }
                guard let first = inside.first else { continue }
                series.append(
                    (
                        "\(stream.ssrc) at \(stream.receiverName ?? stream.receiver)",
                        inside.map { ($0.t - window.lowerBound, Double($0.sequence - first.sequence)) }
                    ))
            }
            guard !series.isEmpty else { continue }
            let top = series.flatMap(\.1).map(\.1).max() ?? 1
            var chart = SVGChart(
                x: (0, window.upperBound - window.lowerBound), y: (0, max(1, top)),
                xLabel: "seconds from the window's start", yLabel: "packets since the window's start")
            for step in steps { chart.marker(at: step.t - window.lowerBound, label: step.action) }
            for (index, entry) in series.enumerated() {
                chart.dots(entry.1, color: Self.streamColors[index % Self.streamColors.count])
            }
            chart.legend(
                series.prefix(8).enumerated().map {
                    ($0.element.0, Self.streamColors[$0.offset % Self.streamColors.count])
                })
            paragraph("\(handoff.migration): \(handoff.service) from \(handoff.from) to \(handoff.to), every receiver")
            raw(chart.svg)
        }
    }
}

extension HTMLPage {
    /// A table of the failovers, and a chart of each replicated service's standby count over
    /// time (its primary's ready standbys; none from a takeover until the new primary recruits),
    /// the failovers and the steps marked.
    mutating func failovers(
        _ failovers: [FailoverFigures], replicas: [ReplicaCount], steps: [(t: Double, action: String)]
    ) {
        heading("Failovers and hot standbys")
        if !failovers.isEmpty {
            func ms(_ value: Double?) -> String { value.map { "\(format($0, 1)) ms" } ?? "-" }
            table(
                [
                    "service", "from", "to", "epoch", "silence", "claim", "old host stopped", "lost", "max gap",
                    "standbys back",
                ],
                failovers.map { failover in
                    [
                        failover.service, failover.from, failover.to, failover.epoch.map(String.init) ?? "-",
                        ms(failover.silenceMs), ms(failover.detectedAt.map { (failover.takenOverAt - $0) * 1000 }),
                        failover.fromStoppedMs.map { "\(format($0, 1)) ms after its last answered heartbeat" } ?? "-",
                        failover.lost.map(String.init) ?? "-", ms(failover.maxGapMs), ms(failover.replicasRestoredMs),
                    ]
                })
        }
        let services = Array(Set(replicas.map(\.service))).sorted()
        guard !services.isEmpty, let first = (replicas.map(\.at) + steps.map(\.t)).min() else { return }
        let last = (replicas.map(\.at) + failovers.map(\.takenOverAt) + steps.map(\.t)).max() ?? first
        let top = replicas.map { max($0.wanted, $0.count) }.max() ?? 1
        var chart = SVGChart(
            x: (0, last - first + 1), y: (0, Double(max(1, top)) + 0.5), xLabel: "seconds since the first step",
            yLabel: "standbys holding the state")
        for step in steps { chart.marker(at: step.t - first, label: step.action) }
        for failover in failovers {
            chart.marker(at: failover.takenOverAt - first, label: "failover to \(failover.to)")
        }
        for (index, service) in services.enumerated() {
            // A step line: each count holds until the next change; a takeover starts from none.
            let changes =
                (replicas.filter { $0.service == service }.map { ($0.at, Double($0.count)) }
                + failovers.filter { $0.service == service }.map { ($0.takenOverAt, 0.0) }).sorted { $0.0 < $1.0 }
            var points: [(Double, Double)] = []
            for (at, count) in changes {
                if let previous = points.last { points.append((at - first, previous.1)) }
                points.append((at - first, count))
            }
            if let end = points.last { points.append((last - first + 1, end.1)) }
            chart.line(points, color: Self.streamColors[index % Self.streamColors.count], label: service)
        }
        chart.legend(services.enumerated().map { ($0.element, Self.streamColors[$0.offset % Self.streamColors.count]) })
        raw(chart.svg)
    }
}

extension RunReport {
    /// report.html of a run.
    public func html(folder: String? = nil) -> String {
        var page = HTMLPage(title: "\(run.scenario): seed \(run.seed), \(run.mode)")
        if let folder { page.paragraph(folder) }
        page.heading("Summary")
        var rows: [[String]] = [
            ["outcome", run.outcome],
            ["elapsed / planned", "\(format(run.elapsedSeconds, 1)) s / \(format(run.plannedSeconds, 1)) s"],
            [
                "peers",
                "\(peers.spawned) spawned, \(peers.left) left, \(peers.crashed) crashed, \(peers.stopped) stopped, \(peers.killed) killed, \(peers.failed) failed",
            ],
            [
                "start-up",
                startup.allReadyMs.map { "all \(startup.peers) ready in \(format($0, 0)) ms" }
                    ?? "\(startup.ready) of \(startup.peers) ready",
            ],
            ["memory", "peak RSS max \(format(peers.maxRssMB, 1)) MB; PSS mean \(format(peers.meanPssMB, 1)) MB"],
            [
                "coordinator CPU",
                "\(format(coordinator.cpuSeconds, 2)) s (\(format(coordinator.cpuPercent, 1)) % of a core)",
            ],
        ]
        if let cpu = peers.cpuSeconds {
            rows.append([
                "peers' CPU",
                "\(format(cpu, 1)) s in all"
                    + (peers.meanCpuPercent.map { ", mean \(format($0, 2)) % of a core each" } ?? ""),
            ])
        }
        if let capture {
            rows.append([
                "capture",
                "\(capture.packets) packets, \(capture.bytes) bytes, \(capture.kernelDrops ?? 0) kernel drops\(capture.partial ? ", PARTIAL: \(capture.error ?? "")" : "")",
            ])
        }
        page.keyValues(rows)
        if !expectations.isEmpty {
            page.heading("Expectations")
            page.table(
                ["result", "expectation", "value", "known miss"],
                expectations.map { [$0.verdict, $0.expr, $0.value.shortText, $0.knownMiss ?? ""] },
                classes: expectations.map { [$0.passed ? "pass" : "fail", "", "", ""] })
        }
        if let bandwidth { page.bandwidthChart(bandwidth, steps: steps) }
        if capture != nil { page.streams(streams, details: streamDetails, steps: steps) }
        if !handoffs.isEmpty { page.handoffs(handoffs, streams: streams, details: streamDetails, steps: steps) }
        if !failovers.isEmpty || !replicas.isEmpty { page.failovers(failovers, replicas: replicas, steps: steps) }
        if let voice, !voice.recordings.isEmpty { page.recordings(voice.recordings) }
        page.heading("Peers")
        page.table(
            ["peer", "pid", "address", "ready", "uptime", "end", "peak RSS"],
            peers.list.map {
                [
                    $0.name, $0.pid.map(String.init) ?? "-", $0.address ?? "-",
                    $0.readyMs.map { "\(format($0, 0)) ms" } ?? "-",
                    $0.uptimeSeconds.map { "\(format($0, 1)) s" } ?? "-", $0.end,
                    $0.maxRssMB.map { "\(format($0, 1)) MB" } ?? "-",
                ]
            })
        if let security {
            page.heading("Refused input")
            let reasons = security.rejected.keys.sorted()
            page.table(
                ["peer"] + reasons,
                security.byPeer.keys.sorted().map { peer in
                    [peer] + reasons.map { String(security.byPeer[peer]?[$0] ?? 0) }
                })
        }
        return page.html
    }
}

extension HTMLPage {
    /// What each listener heard from each speaker, with a player for its WAV (beside the report
    /// in the run folder).
    mutating func recordings(_ recordings: [VoiceFigures.Recording]) {
        heading("What each participant heard")
        var out =
            "<table><tr>"
            + ["listener", "speaker", "frames", "concealed", "silent", "source", "listen"].map {
                "<th>\($0)</th>"
            }.joined() + "</tr>"
        for recording in recordings {
            let source =
                recording.sourceAudio.map { audio in
                    audio + " " + recording.spurts.map { "\(format($0.fromSeconds, 1)) s" }.joined(separator: ", ")
                } ?? "-"
            out += "<tr><td>\(escapeXML(recording.receiverName))</td><td>\(escapeXML(recording.ssrc))</td>"
            out += "<td class=\"num\">\(recording.frames)</td><td class=\"num\">\(recording.concealed)</td>"
            out += "<td class=\"num\">\(recording.silent)</td><td>\(escapeXML(source))</td>"
            out +=
                "<td><audio controls=\"controls\" preload=\"none\" src=\"\(escapeXML(recording.file))\"></audio></td></tr>"
        }
        raw(out + "</table>")
    }
}

extension CaptureReport {
    /// The HTML report of a bare capture.
    public func html(file: String) -> String {
        var page = HTMLPage(title: file)
        page.heading("Capture")
        page.keyValues(
            [
                ["link type", capture.linkType], ["packets", "\(capture.packets)"], ["bytes", "\(capture.bytes)"],
                [
                    "RTP / other UDP (RTCP, RTP-like set aside) / TCP / other / malformed",
                    "\(capture.rtpPackets) / \(capture.nonRtpUdpPackets) (\(capture.rtcpPackets), \(capture.setAsidePackets)) / "
                        + "\(capture.tcpPackets) / \(capture.otherPackets) / \(capture.malformedPackets)",
                ],
                [
                    "skipped",
                    capture.skipped.map { "\($0.what): \($0.flow), \($0.packets) segments" }.joined(separator: "; "),
                ],
                ["partial", capture.partial ? "yes: \(capture.error ?? "")" : "no"],
            ])
        page.bandwidthChart(bandwidth, steps: [])
        page.streams(streams, details: details, steps: [])
        return page.html
    }
}
