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
/// wait), stores it, and answers the parked queries. The watcher then keeps the path current,
/// and paths found absent are remembered briefly, so later queries answer from memory.
final class HiddenKeyResolver: Sendable {
    static let fetchTimeout = 0.3
    static let absentSeconds: Int64 = 5

    private enum PathState {
        case fetched
        case absent(until: Int64)
        /// etcd did not answer in time: we cannot say the name does not exist.
        case unreachable(until: Int64)
    }

    /// What a query for a name the store lacks should get.
    enum Lookup: Equatable {
        /// Park it until `path` is fetched.
        case fetch(path: [String])
        /// etcd was just too slow for this path: SERVFAIL, never a denial resolvers would cache.
        case unavailable
    }

    private let watcher: EtcdWatcher
    private let apply: @Sendable ([StoreChange]) -> Void
    private let publisher: SnapshotPublisher
    private let logger: Logger
    private let keys: RecordKeyMapper
    private let known = Mutex<[String: PathState]>([:])
    private let parked: ParkedQueries

    init(watcher: EtcdWatcher, keys: RecordKeyMapper, publisher: SnapshotPublisher, logger: Logger,
         metrics: ServerMetrics? = nil, apply: @escaping @Sendable ([StoreChange]) -> Void) {
        parked = ParkedQueries(metrics: metrics)
        self.watcher = watcher
        self.keys = keys
        self.publisher = publisher
        self.logger = logger
        self.apply = apply
        parked.start { [self] batch, send in answer(batch, send: send) }
    }

    /// For a name the store did not have, when etcd v2 is in use and the name has a `_` label:
    /// fetch the path up to its deepest `_` label, unless that path is known, recently found
    /// absent (nil: the NXDOMAIN stands) or recently unreachable.
    func lookup(lowercasedName name: UnsafeBufferPointer<UInt8>) -> Lookup? {
        guard watcher.activeAPI == .v2 else { return nil }
        let labels = labels(ofWireName: name)
        guard let deepest = labels.firstIndex(where: { $0.hasPrefix("_") }) else { return nil }
        let path = Array(labels[deepest...].reversed())
        let key = keys.prefix + path.joined(separator: "/")
        let now = monotonicSeconds()
        return known.withLock { known in
            switch known[key] {
            case .fetched: return nil
            case .absent(let until) where until > now: return nil
            case .unreachable(let until) where until > now: return .unavailable
            default: return .fetch(path: path)
            }
        }
    }

    func park(path: [String], packet: UnsafeRawBufferPointer, peer: sockaddr_storage, peerLength: socklen_t, fd: Int32) {
        _ = parked.park(path: path, packet: packet, peer: peer, peerLength: peerLength, fd: fd)
    }

    /// For TCP, whose connection thread may simply wait.
    func fetchNow(path: [String]) {
        fetch(keys.prefix + path.joined(separator: "/"))
    }

    /// Fetches each path of the batch once, then answers its queries from the store.
    private func answer(_ batch: [ParkedQueries.Query], send: (ParkedQueries.Query, [UInt8]) -> Void) {
        let responder = QueryResponder()
        var writer = WireWriter(capacity: UDPWorker.maxResponseSize)
        var unreachable: Set<String> = []
        for key in Set(batch.map { keys.prefix + $0.path.joined(separator: "/") }) where !fetch(key) {
            unreachable.insert(key)
        }
        let snapshot = publisher.current
        for query in batch {
            let outcome = query.packet.withUnsafeBytes { packet in
                if unreachable.contains(keys.prefix + query.path.joined(separator: "/")) {
                    return responder.reply(to: packet, rcode: .servFail, into: &writer)
                        ? QueryResponder.Outcome.answered(.servFail) : .drop
                }
                return responder.respond(to: packet, snapshot: snapshot, maxUDPSize: UDPWorker.maxResponseSize, into: &writer)
            }
            if case .answered = outcome { send(query, writer.bytes) }
        }
    }

    /// Fetches `key` unless it is known; false when etcd did not answer in time.
    @discardableResult
    private func fetch(_ key: String) -> Bool {
        let isKnown = known.withLock { known -> Bool in
            if case .fetched = known[key] { return true }
            return false
        }
        if isKnown { return true }
        guard let found = watcher.fetchHidden(key: key, timeout: Self.fetchTimeout) else {
            logger.warning("etcd v2: hidden key \(key) not fetched in time; answering SERVFAIL for it for a second")
            known.withLock { $0[key] = .unreachable(until: monotonicSeconds() + 1) }
            return false
        }
        if found.isEmpty {
            known.withLock { $0[key] = .absent(until: monotonicSeconds() + Self.absentSeconds) }
            return true
        }
        apply(found.map { .put(KeyValue(key: $0.key, value: $0.value, ttl: $0.ttl)) })
        known.withLock { $0[key] = .fetched }
        return true
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
