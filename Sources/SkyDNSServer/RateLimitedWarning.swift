import Logging
import Synchronization

/// A warning that a client can trigger at will (a flood, a loop) is logged at most once per
/// `interval`, with how many times it was suppressed since, so that the log cannot be flooded.
final class RateLimitedWarning: Sendable {
    private let interval: Duration
    private let clock: any ServerClock
    private let state = Mutex<(last: ContinuousClock.Instant?, suppressed: Int)>((nil, 0))

    /// - Parameter interval: the least time between two lines.
    init(interval: Duration, clock: any ServerClock = SystemClock()) {
        self.interval = interval
        self.clock = clock
    }

    func log(_ logger: Logger, _ message: @autoclosure () -> String) {
        let now = clock.now
        let suppressed = state.withLock { state -> Int? in
            if let last = state.last, now - last < interval {
                state.suppressed += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.suppressed
        }
        guard let suppressed else { return }
        let note = suppressed > 0 ? " (\(suppressed) more since the last such line)" : ""
        logger.warning("\(message())\(note)")
    }
}
