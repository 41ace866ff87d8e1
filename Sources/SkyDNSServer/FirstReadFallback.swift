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
    static let fetchTimeout = 0.5
    /// A name read is reused this long for the queries that follow it.
    static let reuseNanoseconds: Int64 = 1_000_000_000
    static let tooLargeNanoseconds: Int64 = 30_000_000_000
    /// Queries waiting beyond this many are refused at once: etcd is busy with the first read.
    static let maxParked = 1024
    /// A name with more keys below it (the apex, a big directory) waits for the read: reading
    /// it per query would cost etcd as much as the read itself.
    static let maxKeys = 256

    private let watcher: EtcdWatcher
    private let keys: RecordKeyMapper
    private let publisher: SnapshotPublisher
    private let logger: Logger
    private let parked: ParkedQueries
    private let forwarder: Forwarder?
    /// Names read lately: their one-name snapshot (nil: not answerable from their keys alone).
    private let recent = Mutex<[[String]: (snapshot: Snapshot?, until: Int64)]>([:])

    init(watcher: EtcdWatcher, keys: RecordKeyMapper, publisher: SnapshotPublisher, logger: Logger,
         forwarder: Forwarder? = nil, metrics: ServerMetrics? = nil) {
        parked = ParkedQueries(limit: Self.maxParked, metrics: metrics)
        self.forwarder = forwarder
        self.watcher = watcher
        self.keys = keys
        self.publisher = publisher
        self.logger = logger
        parked.start { [self] batch, send in answer(batch, send: send) }
    }

    /// The trie path of the lower-cased wire name `name` (`kafka.domeos.sohu.` is
    /// `["sohu", "domeos", "kafka"]`).
    static func path(lowercasedName name: UnsafeBufferPointer<UInt8>) -> [String] {
        labels(ofWireName: name).reversed()
    }

    /// Whether names can be read from etcd now: v3 is in use (its reads take a limit).
    var isAvailable: Bool { watcher.activeAPI == .v3 }

    /// Queues a UDP query; false when too many wait (the caller sends the REFUSED it has).
    func park(path: [String], packet: UnsafeRawBufferPointer, peer: sockaddr_storage, peerLength: socklen_t, fd: Int32) -> Bool {
        parked.park(path: path, packet: packet, peer: peer, peerLength: peerLength, fd: fd)
    }

    /// Answers `packet` into `writer` from the name's own keys, waiting for etcd (TCP, whose
    /// connection has a thread of its own); false when it cannot (the REFUSED stands).
    func answerNow(path: [String], packet: UnsafeRawBufferPointer, responder: QueryResponder, maxUDPSize: Int?,
                   into writer: inout WireWriter) -> Bool {
        let current = publisher.current
        guard let snapshot = current.isSynced ? current : snapshot(for: path) else { return false }
        let outcome = responder.respond(to: packet, snapshot: snapshot, maxUDPSize: maxUDPSize, into: &writer)
        if case .answered = outcome { return true }
        return false
    }

    private func answer(_ batch: [ParkedQueries.Query], send: (ParkedQueries.Query, [UInt8]) -> Void) {
        let responder = makeResponder(forwarder: forwarder, mayWait: false)
        var writer = WireWriter(capacity: UDPWorker.maxResponseSize)
        for query in batch {
            let answered = query.packet.withUnsafeBytes { packet in
                answerNow(path: query.path, packet: packet, responder: responder, maxUDPSize: UDPWorker.maxResponseSize,
                          into: &writer)
                    || responder.reply(to: packet, rcode: .refused, into: &writer)
            }
            if answered { send(query, writer.bytes) }
        }
    }

    /// A snapshot holding only the keys at and below `path`, read now (or lately); nil when
    /// etcd did not answer or the keys hold more than addresses.
    private func snapshot(for path: [String]) -> Snapshot? {
        let now = monotonicNanoseconds()
        if let hit = recent.withLock({ $0[path] }), hit.until > now { return hit.snapshot }
        let key = keys.prefix + path.joined(separator: "/")
        let found: [EtcdKeyValue]
        switch watcher.fetchSmallSubtree(key: key, limit: Self.maxKeys, timeout: Self.fetchTimeout) {
        case .keys(let read):
            found = read
        case .tooLarge:
            // Stays so until the read completes, or nearly: no need to ask again soon.
            recent.withLock { $0[path] = (nil, now + Self.tooLargeNanoseconds) }
            return nil
        case .failed:
            logger.debug("first read: \(key) not read from etcd in time; REFUSED for a second")
            recent.withLock { $0[path] = (nil, now + Self.reuseNanoseconds) }
            return nil
        }
        let store = RecordStore(zone: publisher.current.zone, pathPrefix: keys.prefix)
        store.apply([.replaceAll(found.map { KeyValue(key: $0.key, value: $0.value, ttl: $0.ttl) })])
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
