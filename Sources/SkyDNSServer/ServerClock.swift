import Dispatch

/// The time source of the code that expires, rate-limits or delays things, so that its tests
/// move the time themselves instead of sleeping: the server uses `SystemClock`, tests a clock
/// they advance by hand. Instants are `ContinuousClock`'s, so every span is a `Duration`.
protocol ServerClock: Sendable {
    /// Now, on a clock that never goes back.
    var now: ContinuousClock.Instant { get }

    /// Runs `work` once, on some other thread, when `delay` has passed from now.
    func run(after delay: Duration, _ work: @escaping @Sendable () -> Void)
}

/// The real time: `ContinuousClock` and Dispatch's timers.
struct SystemClock: ServerClock {
    var now: ContinuousClock.Instant { .now }

    func run(after delay: Duration, _ work: @escaping @Sendable () -> Void) {
        let nanoseconds = Int(clamping: max(delay, .zero).inNanoseconds)
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds), execute: work)
    }
}
