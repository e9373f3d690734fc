/// A small SVG chart: axes with round ticks, then lines, dots, bars and labelled vertical
/// markers in data coordinates. Output is XML (every element closed, text escaped), so the
/// HTML report stays one self-contained, well-formed file.
struct SVGChart {
    let width = 880.0
    let height = 240.0
    let left = 64.0
    let right = 16.0
    let top = 16.0
    let bottom = 36.0
    var xRange: ClosedRange<Double>
    var yRange: ClosedRange<Double>
    var xLabel: String
    var yLabel: String
    private var body: [String] = []

    /// A chart from `x.from` to `x.to` and `y.from` to `y.to`. Bounds come from files (a clock
    /// that ran backwards, one packet): an empty, reversed or non-finite span becomes one unit.
    init(x: (from: Double, to: Double), y: (from: Double, to: Double), xLabel: String, yLabel: String) {
        func span(_ bounds: (from: Double, to: Double)) -> ClosedRange<Double> {
            let from = bounds.from.isFinite ? bounds.from : 0
            return bounds.to.isFinite && from < bounds.to && (bounds.to - from).isFinite
                ? from...bounds.to : from...(from + 1)
        }
        xRange = span(x)
        yRange = span(y)
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    func px(_ x: Double) -> Double {
        left + (x - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound) * (width - left - right)
    }

    func py(_ y: Double) -> Double {
        height - bottom - (y - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound) * (height - top - bottom)
    }

    mutating func line(_ points: [(Double, Double)], color: String, label: String) {
        guard !points.isEmpty else { return }
        let path = points.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " ")
        body.append(
            "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(path)\"><title>\(escapeXML(label))</title></polyline>"
        )
    }

    mutating func dots(_ points: [(Double, Double)], color: String) {
        for point in points {
            body.append("<circle cx=\"\(f(px(point.0)))\" cy=\"\(f(py(point.1)))\" r=\"1.2\" fill=\"\(color)\"/>")
        }
    }

    mutating func bars(_ values: [(x: Double, width: Double, height: Double)], color: String) {
        for bar in values where bar.height > 0 {
            let x0 = px(bar.x)
            let x1 = px(bar.x + bar.width)
            body.append(
                "<rect x=\"\(f(x0))\" y=\"\(f(py(bar.height)))\" width=\"\(f(max(1, x1 - x0 - 1)))\" "
                    + "height=\"\(f(py(yRange.lowerBound) - py(bar.height)))\" fill=\"\(color)\"/>")
        }
    }

    mutating func marker(at x: Double, label: String) {
        guard xRange.contains(x) else { return }
        body.append(
            "<line x1=\"\(f(px(x)))\" x2=\"\(f(px(x)))\" y1=\"\(f(top))\" y2=\"\(f(height - bottom))\" stroke=\"#999\" "
                + "stroke-dasharray=\"3,3\"><title>\(escapeXML(label))</title></line>")
        body.append(
            "<text x=\"\(f(px(x) + 3))\" y=\"\(f(top + 10))\" font-size=\"10\" fill=\"#666\">\(escapeXML(String(label.prefix(24))))</text>"
        )
    }

    mutating func legend(_ entries: [(String, String)]) {
        for (offset, entry) in entries.enumerated() {
            let x = width - right - 110
            let y = top + 14 * Double(offset) + 8
            body.append("<rect x=\"\(f(x))\" y=\"\(f(y - 8))\" width=\"10\" height=\"10\" fill=\"\(entry.1)\"/>")
            body.append("<text x=\"\(f(x + 14))\" y=\"\(f(y + 1))\" font-size=\"11\">\(escapeXML(entry.0))</text>")
        }
    }

    /// The finished `<svg>` element.
    var svg: String {
        var out = [
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\" font-family=\"sans-serif\">"
        ]
        out.append("<rect x=\"0\" y=\"0\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"#fff\"/>")
        for tick in ticks(yRange) {
            out.append(
                "<line x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(py(tick)))\" y2=\"\(f(py(tick)))\" stroke=\"#eee\"/>"
            )
            out.append(
                "<text x=\"\(f(left - 6))\" y=\"\(f(py(tick) + 4))\" font-size=\"10\" text-anchor=\"end\">\(number(tick))</text>"
            )
        }
        for tick in ticks(xRange) {
            out.append(
                "<text x=\"\(f(px(tick)))\" y=\"\(f(height - bottom + 14))\" font-size=\"10\" text-anchor=\"middle\">\(number(tick))</text>"
            )
        }
        out.append(
            "<line x1=\"\(f(left))\" x2=\"\(f(left))\" y1=\"\(f(top))\" y2=\"\(f(height - bottom))\" stroke=\"#333\"/>")
        out.append(
            "<line x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(height - bottom))\" y2=\"\(f(height - bottom))\" stroke=\"#333\"/>"
        )
        out.append(
            "<text x=\"\(f((left + width - right) / 2))\" y=\"\(f(height - 4))\" font-size=\"11\" text-anchor=\"middle\">\(escapeXML(xLabel))</text>"
        )
        out.append(
            "<text x=\"12\" y=\"\(f(top + (height - top - bottom) / 2))\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 \(f(top + (height - top - bottom) / 2)))\">\(escapeXML(yLabel))</text>"
        )
        out += body
        out.append("</svg>")
        return out.joined(separator: "\n")
    }

    /// About five ticks at 1, 2 or 5 times a power of ten.
    private func ticks(_ range: ClosedRange<Double>) -> [Double] {
        let span = range.upperBound - range.lowerBound
        var step = 1.0
        while span / step > 10 { step *= 10 }
        while span / step < 1 { step /= 10 }
        if span / step < 2 { step /= 5 } else if span / step < 5 { step /= 2 }
        var tick = (range.lowerBound / step).rounded(.up) * step
        var result: [Double] = []
        while tick <= range.upperBound + step * 1e-9, result.count < 12 {
            result.append(tick)
            tick += step
        }
        return result
    }

    private func number(_ value: Double) -> String {
        abs(value - value.rounded()) < 1e-9 ? format(value, 0) : format(value, abs(value) < 1 ? 2 : 1)
    }

    private func f(_ value: Double) -> String { format(value, 1) }
}

/// Text safe inside XML elements and attribute values.
func escapeXML(_ text: String) -> String {
    var out = ""
    for character in text {
        switch character {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(character)
        }
    }
    return out
}
