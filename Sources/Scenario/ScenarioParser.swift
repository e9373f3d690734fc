import OverlayCore

extension Scenario {
    /// Parses and validates the YAML `text` of the scenario file `file` (the name used in
    /// diagnostics). Validation includes expanding the timeline with the scenario's own seed,
    /// so a step that names a peer which is not running at that time is reported here.
    public static func parse(_ text: String, file: String) throws(Diagnostics) -> Scenario {
        throw Diagnostics([Diagnostic("not implemented", at: SourcePosition(file: file, line: 1, column: 1))])
    }

    /// Expands the timeline for `seed` (default: the scenario's) into single-peer actions.
    public func plan(seed: UInt64? = nil) throws(Diagnostics) -> TimelinePlan {
        throw Diagnostics([])
    }
}
