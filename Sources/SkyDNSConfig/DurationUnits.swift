extension Duration {
    /// This duration in whole nanoseconds, clamped to `Int64`'s range (about ±292 years), for
    /// deadlines on the monotonic clock and for Go's `time.Duration`, which is nanoseconds.
    public var inNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, carry) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow || carry { return seconds < 0 ? .min : .max }
        return total
    }

    /// This duration in seconds, for system calls that take a fraction (`poll`'s milliseconds
    /// are computed from it).
    public var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
