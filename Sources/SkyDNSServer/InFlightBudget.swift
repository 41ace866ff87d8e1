import Synchronization

/// The places in exchange with upstreams that several engines share: a socket each, so their
/// number is bounded over the whole server, while any one engine may use them all.
final class InFlightBudget: Sendable {
    let limit: Int
    private let used = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Takes a place; false when all `limit` are taken.
    func take() -> Bool {
        var current = used.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = used.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Gives back a place taken.
    func give() {
        used.subtract(1, ordering: .releasing)
    }
}
