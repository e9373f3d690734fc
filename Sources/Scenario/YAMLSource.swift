import OverlayCore
import Yams

/// The text of a YAML file the testbed reads (a scenario, a link profile, a run folder's copy
/// of a scenario), checked before and after Yams composes it, so that no file makes
/// validation hang, exhaust memory or overflow the stack:
/// - bytes that are not UTF-8 are a diagnostic at their line, column and byte offset;
/// - an alias used as a mapping key (`*a: x`) is refused before composing: Yams compares
///   keys in full, and keys that alias mappings with aliased keys grow threefold per level;
/// - collections nested deeper than `maximumDepth` are refused before composing (Yams and
///   our reader recurse);
/// - a composed document of more than `maximumNodes` nodes, counting every repetition an
///   alias makes ("billion laughs"), is refused before anything walks it.
public enum YAMLSource {
    public static let maximumDepth = 64
    public static let maximumNodes = 100_000

    /// Decodes a file's bytes as UTF-8.
    public static func text(_ bytes: [UInt8], file: String) throws(Diagnostics) -> String {
        guard let bad = UTF8Validation.firstInvalidByte(in: bytes) else {
            return String(decoding: bytes, as: UTF8.self)
        }
        let before = bytes[..<bad]
        let line = before.reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        let lineStart = before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        let column = String(decoding: bytes[lineStart..<bad], as: UTF8.self).count + 1
        let hex = String(bytes[bad], radix: 16)
        throw Diagnostics([
            Diagnostic(
                "not UTF-8: byte 0x\(hex.count == 1 ? "0" + hex : hex) at offset \(bad) (save the file as UTF-8)",
                at: SourcePosition(file: file, line: line, column: column))
        ])
    }

    /// Composes `text` into nodes, or every reason it cannot be read.
    static func compose(_ text: String, file: String) throws(Diagnostics) -> Node? {
        let structural = Self.structuralProblems(in: text, file: file)
        guard structural.isEmpty else { throw Diagnostics(structural) }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw Diagnostics([ScenarioReader(file: file).diagnostic(forYAMLError: error)])
        }
        if let root, exceeds(root, nodes: maximumNodes) {
            throw Diagnostics([
                Diagnostic(
                    "the document expands to more than \(maximumNodes) nodes (aliases repeat what they name); "
                        + "write it out plainly",
                    at: SourcePosition(file: file, line: 1, column: 1))
            ])
        }
        return root
    }

    /// True when the tree holds more than `limit` nodes, counting each alias's copy; stops
    /// counting at the limit, so it costs at most `limit` steps.
    static func exceeds(_ root: Node, nodes limit: Int) -> Bool {
        var stack = [root]
        var count = 0
        while let node = stack.popLast() {
            count += 1
            if count > limit { return true }
            switch node {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    stack.append(key)
                    stack.append(value)
                }
            case .sequence(let sequence): stack.append(contentsOf: sequence)
            default: break
            }
        }
        return false
    }

    /// Aliases used as keys and nesting beyond `maximumDepth`, found by scanning the text the
    /// way YAML's indicators work: quotes, comments, block scalars, flow collections and
    /// block indentation. (An alias key inside a plain scalar spread over several lines is
    /// reported too; quoting that text silences it.)
    static func structuralProblems(in text: String, file: String) -> [Diagnostic] {
        var problems: [Diagnostic] = []
        enum Quote { case none, single, double }
        var quote = Quote.none
        var blockScalarParent: Int?
        var flowDepth = 0
        var blockColumns: [Int] = []  // columns where open block collections begin
        var reportedDepth = false
        func report(_ message: String, _ line: Int, _ column: Int) {
            problems.append(Diagnostic(message, at: SourcePosition(file: file, line: line, column: column)))
        }
        func isNameByte(_ c: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || c == UInt8(ascii: "_")
                || c == UInt8(ascii: "-")
        }
        for (lineIndex, rawLine) in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .enumerated()
        {
            let bytes = Array(rawLine.last == UInt8(ascii: "\r") ? rawLine.dropLast() : rawLine[...])
            let lineNumber = lineIndex + 1
            let indent = bytes.prefix { $0 == UInt8(ascii: " ") }.count
            let blank = indent == bytes.count
            if let parent = blockScalarParent {
                if blank || indent > parent { continue }
                blockScalarParent = nil
            }
            var i = 0
            var nodeStart = quote == .none
            var explicitKey = false
            if quote == .none {
                i = indent
                if flowDepth == 0, !blank, bytes[indent] != UInt8(ascii: "#") {
                    while let last = blockColumns.last, last >= indent { blockColumns.removeLast() }
                }
            }
            func next(_ at: Int) -> UInt8? { at < bytes.count ? bytes[at] : nil }
            func isBreakOrSpace(_ c: UInt8?) -> Bool { c == nil || c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") }
            func openBlock(at column: Int) {
                guard flowDepth == 0 else { return }
                if blockColumns.last.map({ column > $0 }) ?? true { blockColumns.append(column) }
            }
            func checkDepth(_ column: Int) {
                if blockColumns.count + flowDepth > maximumDepth, !reportedDepth {
                    reportedDepth = true
                    report("collections nested deeper than \(maximumDepth) levels", lineNumber, column + 1)
                }
            }
            scanning: while i < bytes.count {
                let c = bytes[i]
                switch quote {
                case .single:
                    if c == UInt8(ascii: "'") {
                        if next(i + 1) == UInt8(ascii: "'") {
                            i += 2
                            continue
                        }
                        quote = .none
                        nodeStart = false
                    }
                    i += 1
                    continue
                case .double:
                    if c == UInt8(ascii: "\\") {
                        i += 2
                        continue
                    }
                    if c == UInt8(ascii: "\"") {
                        quote = .none
                        nodeStart = false
                    }
                    i += 1
                    continue
                case .none:
                    break
                }
                if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") {
                    i += 1
                    continue
                }
                if c == UInt8(ascii: "#"), i == 0 || isBreakOrSpace(bytes[i - 1]) { break scanning }
                if nodeStart {
                    switch c {
                    case UInt8(ascii: "*"):
                        var end = i + 1
                        while end < bytes.count, isNameByte(bytes[end]) { end += 1 }
                        var after = end
                        while after < bytes.count, bytes[after] == UInt8(ascii: " ") { after += 1 }
                        let colonKey =
                            next(after) == UInt8(ascii: ":")
                            && (isBreakOrSpace(next(after + 1)) || flowDepth > 0)
                        if explicitKey || colonKey {
                            let name = String(decoding: bytes[(i + 1)..<end], as: UTF8.self)
                            report(
                                "an alias (*\(name)) cannot be a mapping key: write the key out (quote it if it is text)",
                                lineNumber, i + 1)
                        }
                        nodeStart = false
                        explicitKey = false
                        i = end
                        continue
                    case UInt8(ascii: "&"), UInt8(ascii: "!"):
                        while i < bytes.count, !isBreakOrSpace(bytes[i]) { i += 1 }
                        continue
                    case UInt8(ascii: "'"):
                        quote = .single
                    case UInt8(ascii: "\""):
                        quote = .double
                    case UInt8(ascii: "|") where flowDepth == 0, UInt8(ascii: ">") where flowDepth == 0:
                        blockScalarParent = indent
                        break scanning
                    case UInt8(ascii: "-") where isBreakOrSpace(next(i + 1)) && flowDepth == 0:
                        openBlock(at: i)
                        checkDepth(i)
                        explicitKey = false
                        i += 1
                        continue
                    case UInt8(ascii: "?") where isBreakOrSpace(next(i + 1)):
                        openBlock(at: i)
                        checkDepth(i)
                        explicitKey = true
                        i += 1
                        continue
                    case UInt8(ascii: "["), UInt8(ascii: "{"):
                        flowDepth += 1
                        checkDepth(i)
                        i += 1
                        continue
                    default:
                        nodeStart = false
                        explicitKey = false
                    }
                    i += 1
                    continue
                }
                switch c {
                case UInt8(ascii: ":") where isBreakOrSpace(next(i + 1)) || flowDepth > 0:
                    // A block mapping key ends here: its mapping begins at the key's column.
                    if flowDepth == 0 {
                        openBlock(at: indent)
                        checkDepth(i)
                    }
                    nodeStart = true
                case UInt8(ascii: ",") where flowDepth > 0:
                    nodeStart = true
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    if flowDepth > 0 { flowDepth -= 1 }
                default:
                    break
                }
                i += 1
            }
        }
        return problems
    }
}
