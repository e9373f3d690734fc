import ControlProtocol
import Scenario

extension ReportExpectation {
    /// Checks this expectation against report.json (as a JSON value). A path that finds no
    /// number fails; `[*]` over an empty array fails too (nothing was measured).
    public func check(against report: JSONValue) -> ExpectationResult {
        let found = Self.resolve(path[...], in: report)
        let numbers = found.compactMap(\.numeric)
        let every = path.contains(.every)
        let passed =
            !found.isEmpty && numbers.count == found.count && numbers.allSatisfy { comparison.holds($0, value) }
        let shown: JSONValue =
            every ? .array(found) : (found.first ?? .null)
        return ExpectationResult(expr: text, value: shown, passed: passed, knownMiss: knownMiss)
    }

    private static func resolve(_ path: ArraySlice<PathComponent>, in value: JSONValue) -> [JSONValue] {
        guard let component = path.first else { return [value] }
        let rest = path.dropFirst()
        switch (component, value) {
        case (.key(let key), .object(let members)):
            return members[key].map { resolve(rest, in: $0) } ?? []
        case (.index(let index), .array(let items)):
            return items.indices.contains(index) ? resolve(rest, in: items[index]) : []
        case (.every, .array(let items)):
            return items.flatMap { resolve(rest, in: $0) }
        default:
            return []
        }
    }
}

extension JSONValue {
    /// Numbers as they are, booleans as 1 and 0.
    var numeric: Double? {
        switch self {
        case .number(let value): value
        case .bool(let value): value ? 1 : 0
        default: nil
        }
    }
}
