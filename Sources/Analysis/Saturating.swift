extension FixedWidthInteger where Self: SignedInteger {
    /// `self + other`, held at the largest or smallest value instead of trapping: figures
    /// summed from files (event counters, packet lengths, times) are whatever the file says.
    func saturatingAdd(_ other: Self) -> Self {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    /// `self - other`, held likewise.
    func saturatingSubtract(_ other: Self) -> Self {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : difference
    }
}

extension Sequence {
    /// The saturating sum of `value` over the elements.
    func saturatingSum(_ value: (Element) -> Int) -> Int {
        reduce(0) { $0.saturatingAdd(value($1)) }
    }
}
