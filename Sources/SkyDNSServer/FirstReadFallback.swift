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
    /// Queries waiting beyond this many are refused at once: etcd is busy with the first read.
    static let maxParked = 1024

    private struct Parked {
        var path: [String]
        var packet: [UInt8]
        var peer: sockaddr_storage
        var peerLength: socklen_t
        var fd: Int32
        var received: Int64
    }

    private let watcher: EtcdWatcher
    private let keys: RecordKeyMapper
    private let publisher: SnapshotPublisher
    private let logger: Logger
    private let queue = Mutex<[Parked]>([])
    private let wakeup = Condition()
    /// Names read lately: their one-name snapshot (nil: not answerable from their keys alone).
    private let recent = Mutex<[[String]: (snapshot: Snapshot?, until: Int64)]>([:])

    private let metrics: ServerMetrics?

    init(watcher: EtcdWatcher, keys: RecordKeyMapper, publisher: SnapshotPublisher, logger: Logger,
         metrics: ServerMetrics? = nil) {
        self.metrics = metrics
        self.watcher = watcher
        self.keys = keys
        self.publisher = publisher
        self.logger = logger
        spawnThread { [self] in run() }
    }

    /// The trie path of the lower-cased wire name `name` (`kafka.domeos.sohu.` is
    /// `["sohu", "domeos", "kafka"]`).
    static func path(lowercasedName name: UnsafeBufferPointer<UInt8>) -> [String] {
        var labels: [String] = []
        var offset = 0
        while name[offset] != 0 {
            let length = Int(name[offset])
            labels.append(String(decoding: UnsafeBufferPointer(rebasing: name[(offset + 1)..<(offset + 1 + length)]), as: UTF8.self))
            offset += length + 1
        }
        return labels.reversed()
    }

    /// Whether names can be read from etcd now (an API is chosen: etcd has been reached).
    var isAvailable: Bool { watcher.activeAPI != nil }

    /// Queues a UDP query; false when too many wait (the caller sends the REFUSED it has).
    func park(path: [String], packet: UnsafeRawBufferPointer, peer: sockaddr_storage, peerLength: socklen_t, fd: Int32) -> Bool {
        let parked = queue.withLock { queue in
            guard queue.count < Self.maxParked else { return false }
            queue.append(Parked(path: path, packet: Array(packet), peer: peer, peerLength: peerLength, fd: fd,
                                received: monotonicNanoseconds()))
            return true
        }
        if parked { wakeup.signal() }
        return parked
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

    private func run() {
        let responder = QueryResponder()
        var writer = WireWriter(capacity: UDPWorker.maxResponseSize)
        while true {
            wakeup.wait { queue.withLock { !$0.isEmpty } }
            let batch = queue.withLock { queue in
                defer { queue.removeAll() }
                return queue
            }
            for var parked in batch {
                let answered = parked.packet.withUnsafeBytes { packet in
                    answerNow(path: parked.path, packet: packet, responder: responder, maxUDPSize: UDPWorker.maxResponseSize,
                              into: &writer)
                        || responder.reply(to: packet, rcode: .refused, into: &writer)
                }
                guard answered else { continue }
                _ = writer.bytes.withUnsafeBytes { bytes in
                    withUnsafePointer(to: &parked.peer) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            sendto(parked.fd, bytes.baseAddress, bytes.count, 0, $0, parked.peerLength)
                        }
                    }
                }
                if let metrics {
                    parked.packet.withUnsafeBytes { query in
                        writer.bytes.withUnsafeBytes { metrics.udpShared.answered(query: query, reply: $0) }
                    }
                    metrics.udpShared.answerDuration(nanoseconds: monotonicNanoseconds() - parked.received, count: 1)
                }
            }
        }
    }

    /// A snapshot holding only the keys at and below `path`, read now (or lately); nil when
    /// etcd did not answer or the keys hold more than addresses.
    private func snapshot(for path: [String]) -> Snapshot? {
        let now = monotonicNanoseconds()
        if let hit = recent.withLock({ $0[path] }), hit.until > now { return hit.snapshot }
        guard let found = watcher.fetchSubtree(key: keys.prefix + path.joined(separator: "/"), timeout: Self.fetchTimeout) else {
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
