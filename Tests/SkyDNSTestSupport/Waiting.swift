import Foundation
import Testing

// Waiting on a condition in tests that drive real processes: a bound on waiting, never a timing
// check (the machine may be slow; only the outcome is asserted).

/// Polls `condition` every 20 ms until it holds or `timeout` passes; whether it held.
public func waitUntil(timeout: Duration = .seconds(5), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return try condition()
}

/// `waitUntil`, recording an issue naming `what` when `condition` never held.
public func eventually(
    _ what: String, timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () throws -> Bool
) rethrows {
    if try !waitUntil(timeout: timeout, condition) {
        Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
    }
}
