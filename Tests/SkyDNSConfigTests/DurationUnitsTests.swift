import Testing
@testable import SkyDNSConfig

/// `Duration` settings read back as Go's nanoseconds and printed in Go's syntax.
@Suite struct DurationUnitsTests {
    @Test("whole nanoseconds, clamped to Int64", arguments: [
        (Duration.seconds(2), Int64(2_000_000_000)),
        (.milliseconds(1500), 1_500_000_000),
        (.nanoseconds(1), 1),
        (.nanoseconds(-7), -7),
        (.zero, 0),
        (.nanoseconds(Int64.max), Int64.max),
        (.seconds(Int64.max), Int64.max),
        (.seconds(Int64.min), Int64.min),
        (.seconds(9_223_372_037), Int64.max),  // one second past Int64.max nanoseconds
    ])
    func nanoseconds(duration: Duration, expected: Int64) {
        #expect(duration.inNanoseconds == expected)
    }

    @Test func seconds() {
        #expect(Duration.milliseconds(750).inSeconds == 0.75)
        #expect(Duration.seconds(90).inSeconds == 90)
        #expect(Duration.nanoseconds(1).inSeconds == 1e-9)
    }

    @Test("-rtimeout prints back as given, in Go's form", arguments: [
        ("2s", "rtimeout=2s"), ("1m30s", "rtimeout=1m30s"), ("1500us", "rtimeout=1.5ms"), ("100ns", "rtimeout=100ns"),
        ("2562047h47m16.854775807s", "rtimeout=2562047h47m16.854775807s"),
    ])
    func printed(flag: String, expected: String) throws {
        let summary = try configuration(["-rtimeout=\(flag)"]).summary()
        #expect(summary.split(separator: " ").contains { $0 == expected })
    }
}
