import Yams

extension ScenarioReader {
    /// `peers.crashed == 1`, `handoffs[*].lost == 0`, `startup.allReadyMs < 10000`. A problem
    /// is reported at the column inside the expression where it was found.
    mutating func expectation(from node: Node) -> ReportExpectation? {
        if let mapping = node.mapping {
            let fields = members(mapping)
            for (key, _) in mapping where !["check", "known-miss"].contains(key.scalar?.string ?? "") {
                error(
                    "unknown key '\(key.scalar?.string ?? "?")' in an expectation (expected check, known-miss)", at: key
                )
            }
            guard let check = fields["check"] else {
                error("an expectation written as a mapping needs 'check: <comparison>'", at: node)
                return nil
            }
            guard let reason = fields["known-miss"]?.scalar?.string, !reason.isEmpty else {
                error("'known-miss' must say why the goal is missed", at: fields["known-miss"] ?? node)
                return nil
            }
            var expectation = self.expectation(from: check)
            expectation?.knownMiss = reason
            return expectation
        }
        guard let scalar = node.scalar else {
            error("an expectation is a comparison like 'peers.crashed == 1'", at: node)
            return nil
        }
        let text = scalar.string
        switch Self.parseExpectation(text) {
        case .success(let (path, comparison, value)):
            return ReportExpectation(
                text: text, path: path, comparison: comparison, value: value, position: position(node))
        case .failure(let failure):
            // Columns inside the text are exact for plain scalars; quoted ones start one later.
            var at = position(node)
            at.column += failure.offset + (scalar.style == .plain ? 0 : 1)
            diagnostics.append(Diagnostic(failure.message, at: at))
            return nil
        }
    }

    struct ExpectationFailure: Error {
        var offset: Int
        var message: String
    }

    static func parseExpectation(
        _ text: String
    ) -> Result<([ReportExpectation.PathComponent], ReportExpectation.Comparison, Double), ExpectationFailure> {
        let characters = Array(text)
        var index = 0
        func skipSpaces() { while index < characters.count, characters[index] == " " { index += 1 } }
        func fail(_ message: String) -> Result<
            ([ReportExpectation.PathComponent], ReportExpectation.Comparison, Double), ExpectationFailure
        > {
            .failure(ExpectationFailure(offset: index, message: message))
        }
        func isIdentifierStart(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c == "_") }
        func isIdentifier(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || c == "_") }

        skipSpaces()
        var path: [ReportExpectation.PathComponent] = []
        while true {
            guard index < characters.count, isIdentifierStart(characters[index]) else {
                return fail("expected a report key (like peers or crashed) here")
            }
            let start = index
            while index < characters.count, isIdentifier(characters[index]) { index += 1 }
            path.append(.key(String(characters[start..<index])))
            while index < characters.count, characters[index] == "[" {
                index += 1
                if index < characters.count, characters[index] == "*" {
                    index += 1
                    path.append(.every)
                } else {
                    let digits = index
                    while index < characters.count, characters[index].isASCII, characters[index].isNumber { index += 1 }
                    guard index > digits, let element = Int(String(characters[digits..<index])) else {
                        return fail("expected an index or * inside [ ]")
                    }
                    path.append(.index(element))
                }
                guard index < characters.count, characters[index] == "]" else { return fail("expected ']'") }
                index += 1
            }
            guard index < characters.count, characters[index] == "." else { break }
            index += 1
        }
        skipSpaces()
        let comparisons = ReportExpectation.Comparison.allCases.sorted { $0.rawValue.count > $1.rawValue.count }
        guard
            let comparison = comparisons.first(where: { op in
                characters[index...].starts(with: Array(op.rawValue))
            })
        else { return fail("expected a comparison: == != < <= > >=") }
        index += comparison.rawValue.count
        skipSpaces()
        let numberStart = index
        while index < characters.count, characters[index] != " " { index += 1 }
        let numberText = String(characters[numberStart..<index])
        guard let value = Double(numberText), value.isFinite else {
            index = numberStart
            return fail("expected a number to compare with")
        }
        skipSpaces()
        guard index == characters.count else { return fail("unexpected text after the number") }
        return .success((path, comparison, value))
    }
}

extension Scenario {
    /// Only the `expect:` lines of a scenario's text: what `testbed report` needs to judge a
    /// run folder again, without the rest of the scenario (its profiles, audio files, or
    /// peers) having to validate where the report is rebuilt.
    public static func expectations(in text: String, file: String) throws(Diagnostics) -> [ReportExpectation] {
        var reader = ScenarioReader(file: file)
        let root = try YAMLSource.compose(text, file: file)
        var expectations: [ReportExpectation] = []
        for (key, value) in root?.mapping ?? [:] where key.scalar?.string == "expect" {
            for item in value.sequence ?? [] {
                if let expectation = reader.expectation(from: item) { expectations.append(expectation) }
            }
        }
        guard reader.diagnostics.isEmpty else { throw Diagnostics(reader.diagnostics) }
        return expectations
    }
}
