import CSystemShim
import Logging
import SkyDNSConfig
import SkyDNSStore
import Synchronization

/// Serialises the store's writers (the watcher thread and the hidden-key fetcher), logs what
/// they could not store, and batches publication: a stream of watch events is published at most
/// once per `coalescingWindow`, so each event costs an in-place change instead of a copy of the
/// trie's shared paths (and the workers a snapshot swap).
final class StoreWriter: Sendable {
    private let store: RecordStore
    private let logger: Logger
    private struct PublishState {
        var lastPublished: ContinuousClock.Instant?
        /// Changes are applied that no snapshot shows yet.
        var unpublished = false
        var scheduled = false
        /// When the oldest watched change not yet published arrived.
        var oldestUnpublished: ContinuousClock.Instant?

        /// Publishes the store; returns how long the oldest watched change in it waited.
        mutating func publish(_ store: RecordStore, now: ContinuousClock.Instant) -> Duration? {
            store.publish()
            defer { oldestUnpublished = nil }
            lastPublished = now
            unpublished = false
            return oldestUnpublished.map { now - $0 }
        }
    }
    private let lock = Mutex(PublishState())
    private let onConfig: @Sendable ([UInt8]) -> Void
    private let metrics: ServerMetrics?
    private let clock: any ServerClock
    static let coalescingWindow = Duration.milliseconds(2)
    /// Skipped or clamped keys logged one by one per applied batch; the rest are counted.
    static let maxRejectionLines = 100

    init(store: RecordStore, logger: Logger, metrics: ServerMetrics? = nil, clock: any ServerClock = SystemClock(),
         onConfig: @escaping @Sendable ([UInt8]) -> Void) {
        self.store = store
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.onConfig = onConfig
    }

    /// - Parameters:
    ///   - coalesce: watch events may wait up to `coalescingWindow` to be published with those
    ///     that follow; everything else (reads, fetched hidden keys) is published at once.
    ///   - hidesUnderscoreLabels: when given, whether the data now comes from etcd v2 (see
    ///     `Snapshot.hidesUnderscoreLabels`).
    func apply(_ changes: [StoreChange], coalesce: Bool, hidesUnderscoreLabels: Bool? = nil) {
        for change in changes {
            switch change {
            case .put(let keyValue) where keyValue.key == store.keys.configKey:
                onConfig(keyValue.value)
            case .replaceAll(let all), .firstReadPage(let all, _, _):
                if let config = all.first(where: { $0.key == store.keys.configKey }) { onConfig(config.value) }
            default:
                break
            }
        }
        let arrived = clock.now
        let (rejected, becameSynced, count, publishIn, waited) = lock.withLock { state in
            let wasSynced = store.publisher.current.isSynced
            if let hidesUnderscoreLabels { store.hidesUnderscoreLabels = hidesUnderscoreLabels }
            let rejected = store.apply(changes, publish: false)
            let isRead = changes.contains(where: \.isRead)
            if coalesce && !isRead { state.oldestUnpublished = min(state.oldestUnpublished ?? arrived, arrived) }
            let now = clock.now
            var publishIn: Duration?
            var waited: Duration?
            if !coalesce || isRead || state.lastPublished.map({ now - $0 >= Self.coalescingWindow }) ?? true {
                waited = state.publish(store, now: now)
            } else if let lastPublished = state.lastPublished {
                state.unpublished = true
                if !state.scheduled {
                    state.scheduled = true
                    publishIn = lastPublished + Self.coalescingWindow - now
                }
            }
            return (rejected, !wasSynced && store.publisher.current.isSynced, store.recordCount, publishIn, waited)
        }
        if let waited { metrics?.changesPublished(after: waited.inNanoseconds) }
        if let publishIn {
            clock.run(after: publishIn) { [self] in
                let waited = lock.withLock { state -> Duration? in
                    state.scheduled = false
                    guard state.unpublished else { return nil }
                    return state.publish(store, now: clock.now)
                }
                if let waited { metrics?.changesPublished(after: waited.inNanoseconds) }
            }
        }
        metrics?.storeApplied(rejected: rejected.count { !$0.kept })
        // One line per key, up to a bound per batch: a first read of a million bad keys must not
        // become a million log lines.
        for record in rejected.prefix(Self.maxRejectionLines) {
            logger.warning("\(record.kept ? "clamping" : "skipping") etcd key \(record.key): \(record.error)")
        }
        if rejected.count > Self.maxRejectionLines {
            logger.warning("and \(rejected.count - Self.maxRejectionLines) more etcd keys skipped or clamped in the same batch")
        }
        if becameSynced {
            logger.info("first read of etcd complete: serving \(count) records")
            // The read's JSON pages are garbage now; hand their memory back to the system
            // rather than keep it as the process's high-water mark.
            skydns_release_free_memory()
        }
    }
}

extension StoreChange {
    /// Part of a full read of etcd: never held back.
    fileprivate var isRead: Bool {
        switch self {
        case .replaceAll, .firstReadPage: true
        case .put, .delete, .deleteTree: false
        }
    }
}
