#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSWire
import EtcdClient
import Logging
import Synchronization
import SkyDNSStore

/// etcd v2 leaves keys whose label starts with `_` out of recursive listings and watches, and
/// kube2sky keeps its named-port SRV records exactly there. A query for such a name that the
/// store cannot answer is parked here; one thread fetches that exact path from etcd (bounded
/// wait), stores it, and answers the parked queries. The watcher then keeps a path that holds
/// records current, and paths found absent are remembered briefly, so later queries answer from
/// memory. Clients choose these names, so everything here is bounded: the parked queries (past
/// `maxParked`, SERVFAIL at once), the paths remembered (`maxRemembered`, oldest forgotten
/// first), the time one batch spends fetching, the watches (only paths that exist, at most
/// `EtcdWatcher.maxHiddenWatches`), and the log lines a flood causes.
final class HiddenKeyResolver: Sendable {
    static let fetchTimeout = Duration.milliseconds(300)
    static let absentSeconds: Int64 = 5
    static let maxParked = 1024
    static let maxRemembered = 4096
    /// One batch fetches for at most this long; its queries for paths not reached get SERVFAIL.
    static let batchFetchSeconds = 1.0
    /// Paths with records past the watcher's limit are re-read this often, at most
    /// `maxRereadsPerSecond` of them a second (one thread): their changes show within seconds,
    /// at a bounded cost to etcd.
    static let rereadSeconds: Int64 = 10
    static let maxRereadsPerSecond = 20

    /// What a query for a name the store lacks should get.
    enum Lookup: Equatable {
        /// Park it until `path` is fetched.
        case fetch(path: [String])
        /// etcd was just too slow for this path: SERVFAIL, never a denial resolvers would cache.
        case unavailable
    }

    /// Paths fetched lately that hold no records (false) or that etcd did not answer in time
    /// (true), the paths fetched with records (kept current by their watch), and of those the
    /// ones without a watch, with when each is next re-read.
    private struct Known {
        var recent = ExpiringMemory<Bool>(capacity: HiddenKeyResolver.maxRemembered)
        var fetched: Set<String> = []
        var unwatched: [String: Int64] = [:]
    }

    private let backend: any RecordBackend
    private let apply: @Sendable ([StoreChange]) -> Void
    private let publisher: SnapshotPublisher
    private let logger: Logger
    private let keys: RecordKeyMapper
    private let known = Mutex(Known())
    private let parked: ParkedQueries
    private let forwarder: Forwarder?
    private let refused = Atomic<UInt64>(0)
    private let floodWarning = RateLimitedWarning(interval: .seconds(60))
    private let slowWarning = RateLimitedWarning(interval: .seconds(60))

    init(backend: any RecordBackend, keys: RecordKeyMapper, publisher: SnapshotPublisher, logger: Logger,
         forwarder: Forwarder? = nil, metrics: ServerMetrics? = nil, apply: @escaping @Sendable ([StoreChange]) -> Void) {
        parked = ParkedQueries(limit: Self.maxParked)
        self.backend = backend
        self.keys = keys
        self.publisher = publisher
        self.logger = logger
        self.forwarder = forwarder
        self.apply = apply
        parked.start { [self] batch in answer(batch) }
        spawnThread { [self] in reread() }
        metrics?.watchHiddenKeys { [self] in status }
    }

    /// For a name the store did not have, when etcd v2 is in use and the name has a `_` label:
    /// fetch the path up to its deepest `_` label, unless that path is known, recently found
    /// absent (nil: the NXDOMAIN stands) or recently unreachable.
    /// - Parameter name: the question name in wire form, as the client cased it.
    func lookup(name: UnsafeRawBufferPointer) -> Lookup? {
        // Most names have no `_`: they cost no label strings.
        guard backend.keyspace == .v2, name.contains(UInt8(ascii: "_")) else { return nil }
        let lowercased = name.map(asciiLowercase)
        let labels = lowercased.withUnsafeBufferPointer { wireLabels($0) }
        guard let deepest = labels.firstIndex(where: { $0.hasPrefix("_") }) else { return nil }
        let path = Array(labels[deepest...].reversed())
        let key = keys.prefix + path.joined(separator: "/")
        let now = monotonicSeconds()
        return known.withLock { known in
            if known.fetched.contains(key) { return nil }
            switch known.recent.value(for: key, now: now) {
            case false?: return nil
            case true?: return .unavailable
            case nil: return .fetch(path: path)
            }
        }
    }

    /// Parks a query for `path`; false when `maxParked` already wait (the caller answers
    /// SERVFAIL at once).
    func park(path: [String], query: ParsedQuery, writer: any ReplyWriter) -> Bool {
        if parked.park(path: path, query: query, writer: writer) { return true }
        refused.add(1, ordering: .relaxed)
        floodWarning.log(logger, """
            etcd v2: \(Self.maxParked) queries for hidden `_` names already wait for etcd; answering SERVFAIL at once \
            (a flood of names that exist nowhere?)
            """)
        return false
    }

    /// For the metrics: watched paths, paths remembered, queries refused because the queue was full.
    var status: (watched: Int, remembered: Int, refused: UInt64) {
        (backend.pathsKeptCurrent, known.withLock { $0.recent.count + $0.fetched.count }, refused.load(ordering: .relaxed))
    }

    /// Fetches each path of the batch once (for at most `batchFetchSeconds`), then answers its
    /// queries from the store by the rules every answer follows: one whose answer needs
    /// out-of-zone data goes on to the forwarder, as from a worker.
    private func answer(_ batch: [ParkedQueries.Query]) {
        let responder = makeResponder(forwarder: forwarder, resolvingOutside: false)
        var writer = WireWriter(capacity: UDPWorker.maxResponseSize)
        var ready: Set<String> = []
        let deadline = monotonicNow() + Self.batchFetchSeconds
        for key in Set(batch.map { keys.prefix + $0.path.joined(separator: "/") }) where monotonicNow() < deadline {
            if fetch(key) { ready.insert(key) }
        }
        let snapshot = publisher.current
        for parked in batch {
            let query = parked.query
            guard ready.contains(keys.prefix + parked.path.joined(separator: "/")) else {
                parked.writer.refuse(.servFail)
                continue
            }
            let outcome = query.packet.withUnsafeBytes { packet in
                responder.respond(to: query.view, lowercasedName: query.lowercasedName, packet: packet,
                                  snapshot: snapshot, maxSize: parked.writer.maxSize, into: &writer)
            }
            switch outcome {
            case .answered:
                parked.writer.write(writer.bytes)
            case .outOfZoneData:
                let job = Forwarder.Job(kind: .completeAnswer, query: query, writer: parked.writer)
                if forwarder?.submit(job) != true { parked.writer.refuse(.servFail) }
            default:
                parked.writer.drop()
            }
        }
    }

    /// Fetches `key` unless it is known; false when etcd did not answer in time.
    @discardableResult
    private func fetch(_ key: String) -> Bool {
        if known.withLock({ $0.fetched.contains(key) }) { return true }
        guard case .records(let found) = backend.records(under: key, limit: nil, timeout: Self.fetchTimeout) else {
            slowWarning.log(logger, "etcd v2: hidden key \(key) not fetched in time; answering SERVFAIL for it for a second")
            known.withLock { $0.recent.store(true, for: key, until: monotonicSeconds() + 1) }
            return false
        }
        if found.isEmpty {
            known.withLock { $0.recent.store(false, for: key, until: monotonicSeconds() + Self.absentSeconds) }
            return true
        }
        apply(found.map { .put($0) })
        let watched = backend.isKeptCurrent(key)
        known.withLock { known in
            known.recent.forget(key)
            known.fetched.insert(key)
            if !watched { known.unwatched[key] = monotonicSeconds() + Self.rereadSeconds }
        }
        return true
    }

    /// The thread that keeps paths without a watch current: each second, re-reads those due
    /// (at most `maxRereadsPerSecond`) and replaces what the store holds below them; a path
    /// that has gone is forgotten, so the next query fetches it afresh.
    private func reread() {
        while true {
            usleep(1_000_000)
            let now = monotonicSeconds()
            let due = known.withLock { known in
                known.unwatched.filter { $0.value <= now }.keys.sorted().prefix(Self.maxRereadsPerSecond)
            }
            for key in due {
                guard case .records(let found) = backend.records(under: key, limit: nil, timeout: Self.fetchTimeout) else {
                    continue
                }
                apply([.deleteTree(key: key)] + found.map { .put($0) })
                let watched = backend.isKeptCurrent(key)
                known.withLock { known in
                    if found.isEmpty {
                        known.fetched.remove(key)
                        known.unwatched[key] = nil
                    } else {
                        known.unwatched[key] = watched ? nil : monotonicSeconds() + Self.rereadSeconds
                    }
                }
            }
        }
    }
}

func monotonicSeconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec)
}

/// A condition variable for the resolver's queue (pthread, to stay off Foundation).
final class Condition: @unchecked Sendable {
    // pthread primitives are thread-safe by design; they only need a stable address.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    func signal() {
        pthread_mutex_lock(mutex)
        pthread_cond_signal(cond)
        pthread_mutex_unlock(mutex)
    }

    /// Waits until `ready` holds, re-checking at least every 100 ms.
    func wait(until ready: () -> Bool) {
        pthread_mutex_lock(mutex)
        while !ready() {
            var deadline = timespec()
            clock_gettime(CLOCK_REALTIME, &deadline)
            deadline.tv_nsec += 100_000_000
            if deadline.tv_nsec >= 1_000_000_000 {
                deadline.tv_sec += 1
                deadline.tv_nsec -= 1_000_000_000
            }
            pthread_cond_timedwait(cond, mutex, &deadline)
        }
        pthread_mutex_unlock(mutex)
    }
}
