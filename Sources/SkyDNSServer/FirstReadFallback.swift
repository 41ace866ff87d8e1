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

/// While the first read of a large keyspace streams in (a million keys take etcd tens of
/// seconds), an address query for a name the read has not reached would be refused. Instead the
/// name's own keys are read from etcd on their own, as SkyDNS did for every query, and the query
/// is answered from them alone. Only when they hold nothing but addresses: a CNAME or SRV target
/// may lie anywhere in the store, so such names stay refused until the read completes.
final class FirstReadFallback: Sendable {
    static let fetchTimeout = Duration.milliseconds(500)
    /// A name read is reused this long for the queries that follow it.
    static let reuseNanoseconds: Int64 = 1_000_000_000
    static let tooLargeNanoseconds: Int64 = 30_000_000_000
    /// Queries waiting beyond this many are refused at once: etcd is busy with the first read.
    static let maxParked = 1024
    /// A name with more keys below it (the apex, a big directory) waits for the read: reading
    /// it per query would cost etcd as much as the read itself.
    static let maxKeys = 256

    private let backend: any RecordBackend
    private let keys: RecordKeyMapper
    private let publisher: SnapshotPublisher
    private let logger: Logger
    private let parked: ParkedQueries
    private let forwarder: Forwarder?
    /// Names read lately: their one-name snapshot (nil: not answerable from their keys alone).
    private let recent = Mutex<[[String]: (snapshot: Snapshot?, until: Int64)]>([:])

    init(backend: any RecordBackend, keys: RecordKeyMapper, publisher: SnapshotPublisher, logger: Logger,
         forwarder: Forwarder? = nil) {
        parked = ParkedQueries(limit: Self.maxParked)
        self.forwarder = forwarder
        self.backend = backend
        self.keys = keys
        self.publisher = publisher
        self.logger = logger
        parked.start { [self] batch in answer(batch) }
    }

    /// Whether names can be read from etcd now: v3 is in use (its reads take a limit).
    var isAvailable: Bool { backend.keyspace == .v3 }

    /// Queues a query; false when too many wait (the caller replies REFUSED).
    func park(path: [String], query: ParsedQuery, writer: any ReplyWriter) -> Bool {
        parked.park(path: path, query: query, writer: writer)
    }

    private func answer(_ batch: [ParkedQueries.Query]) {
        let responder = makeResponder(forwarder: forwarder, resolvingOutside: false)
        var writer = WireWriter(capacity: UDPWorker.maxResponseSize)
        for parked in batch {
            let current = publisher.current
            guard let snapshot = current.isSynced ? current : snapshot(for: parked.path) else {
                parked.writer.refuse(.refused)
                continue
            }
            let query = parked.query
            let outcome = query.packet.withUnsafeBytes { packet in
                responder.respond(to: query.view, lowercasedName: query.lowercasedName, packet: packet,
                                  snapshot: snapshot, maxSize: parked.writer.maxSize, into: &writer)
            }
            if case .answered = outcome {
                parked.writer.write(writer.bytes)
            } else {
                parked.writer.refuse(.refused)
            }
        }
    }

    /// A snapshot holding only the keys at and below `path`, read now (or lately); nil when
    /// etcd did not answer or the keys hold more than addresses.
    private func snapshot(for path: [String]) -> Snapshot? {
        let now = monotonicNanoseconds()
        if let hit = recent.withLock({ $0[path] }), hit.until > now { return hit.snapshot }
        let key = keys.prefix + path.joined(separator: "/")
        let found: [KeyValue]
        switch backend.records(under: key, limit: Self.maxKeys, timeout: Self.fetchTimeout) {
        case .records(let read):
            found = read
        case .tooLarge:
            // Stays so until the read completes, or nearly: no need to ask again soon.
            recent.withLock { $0[path] = (nil, now + Self.tooLargeNanoseconds) }
            return nil
        case .unavailable:
            logger.debug("first read: \(key) not read from etcd in time; REFUSED for a second")
            recent.withLock { $0[path] = (nil, now + Self.reuseNanoseconds) }
            return nil
        }
        let store = RecordStore(zone: publisher.current.zone, pathPrefix: keys.prefix)
        store.apply([.replaceAll(found)])
        let snapshot = store.publisher.current
        var addressesOnly = true
        snapshot.root.forEachRecord { record in
            if case .name = record.target { addressesOnly = false }
            return addressesOnly
        }
        let usable = addressesOnly ? snapshot : nil
        recent.withLock { recent in
            recent = recent.filter { $0.value.until > now }
            recent[path] = (usable, now + Self.reuseNanoseconds)
        }
        return usable
    }
}
