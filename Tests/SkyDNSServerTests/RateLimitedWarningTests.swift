import Logging
@testable import SkyDNSServer
import Synchronization
import Testing

/// A warning a client can trigger at will: one line per interval, then a count of the rest.
@Suite struct RateLimitedWarningTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var messages: [String] { lines.withLock { $0 } }
    }

    private func logger(_ lines: Lines) -> Logger {
        Logger(label: "test") { label in
            JSONLogHandler(label: label) { bytes in lines.lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } }
        }
    }

    @Test func oneLinePerIntervalWithTheSuppressedCount() {
        let clock = ManualClock()
        let lines = Lines()
        let log = logger(lines)
        let warning = RateLimitedWarning(interval: .seconds(60), clock: clock)
        warning.log(log, "loop")
        #expect(lines.messages.count == 1)
        for _ in 0..<5 { warning.log(log, "loop") }
        clock.advance(by: .seconds(59))
        warning.log(log, "loop")
        #expect(lines.messages.count == 1)  // 6 suppressed within the minute
        clock.advance(by: .seconds(1))
        warning.log(log, "loop")
        #expect(lines.messages.count == 2)
        #expect(lines.messages.last?.contains("loop (6 more since the last such line)") == true)
        clock.advance(by: .seconds(3600))
        warning.log(log, "loop")
        #expect(lines.messages.count == 3)
        #expect(lines.messages.last?.contains(#""message":"loop""#) == true)  // nothing suppressed since
    }
}
