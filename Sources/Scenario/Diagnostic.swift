/// A place in a scenario file (1-based line and column).
public struct SourcePosition: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// A problem with a user's input, named by where it is: `smoke.yaml:12:9: unknown step 'spwan'`.
public struct Diagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    public var position: SourcePosition
    public var message: String

    public init(_ message: String, at position: SourcePosition) {
        self.message = message
        self.position = position
    }

    public var description: String { "\(position): error: \(message)" }
}

/// Every diagnostic found in one file, in file order. Validation collects them all rather than
/// stopping at the first, so a user fixes a file in one pass.
public struct Diagnostics: Error, Sendable, Equatable, CustomStringConvertible {
    public var items: [Diagnostic]

    public init(_ items: [Diagnostic]) { self.items = items }

    public var description: String { items.map(\.description).joined(separator: "\n") }
}
