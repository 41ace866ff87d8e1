@testable import SkyDNSServer
import Synchronization

/// A `ServerClock` that moves only when the test says: `advance(by:)` moves it and runs, in
/// order, the work that came due (on the test's thread, before it returns).
final class ManualClock: ServerClock {
    private struct State {
        var offset = Duration.zero
        var pending: [(due: Duration, serial: Int, work: @Sendable () -> Void)] = []
        var serial = 0
    }
    private let origin = ContinuousClock.now
    private let state = Mutex(State())

    var now: ContinuousClock.Instant { origin + state.withLock { $0.offset } }

    func run(after delay: Duration, _ work: @escaping @Sendable () -> Void) {
        state.withLock { state in
            state.serial += 1
            state.pending.append((state.offset + max(delay, .zero), state.serial, work))
        }
    }

    /// Work scheduled and not yet run.
    var pendingCount: Int { state.withLock { $0.pending.count } }

    func advance(by span: Duration) {
        let target = state.withLock { state in
            state.offset += span
            return state.offset
        }
        while let next = state.withLock({ state -> (@Sendable () -> Void)? in
            guard let index = state.pending.indices.filter({ state.pending[$0].due <= target })
                .min(by: { (state.pending[$0].due, state.pending[$0].serial) < (state.pending[$1].due, state.pending[$1].serial) })
            else { return nil }
            return state.pending.remove(at: index).work
        }) {
            next()
        }
    }
}
