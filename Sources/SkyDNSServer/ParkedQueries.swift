#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShim
import DNSWire
import Synchronization

/// UDP queries set aside while something slow (an etcd read) is done for them, and the thread
/// that answers them: a resolver that parks queries owns one, and gives it the batch handler.
final class ParkedQueries: Sendable {
    struct Query {
        /// The trie path the query waits for.
        var path: [String]
        var packet: [UInt8]
        var peer: sockaddr_storage
        var peerLength: socklen_t
        var fd: Int32
        var received: Int64
    }

    /// Answers a batch: calls `send` with each query it has a reply for (left out: dropped).
    typealias BatchHandler = @Sendable (_ batch: [Query], _ send: (Query, [UInt8]) -> Void) -> Void

    private let limit: Int
    private let queue = Mutex<[Query]>([])
    private let wakeup = Condition()
    private let metrics: ServerMetrics?

    init(limit: Int = .max, metrics: ServerMetrics?) {
        self.limit = limit
        self.metrics = metrics
    }

    /// Starts the thread that answers parked queries with `handler`; call once.
    func start(_ handler: @escaping BatchHandler) {
        spawnThread { [self] in run(handler) }
    }

    /// Queues a query; false when `limit` wait already.
    func park(path: [String], packet: UnsafeRawBufferPointer, peer: sockaddr_storage, peerLength: socklen_t, fd: Int32) -> Bool {
        let query = Query(path: path, packet: Array(packet), peer: peer, peerLength: peerLength, fd: fd,
                          received: monotonicNanoseconds())
        let parked = queue.withLock { queue in
            guard queue.count < limit else { return false }
            queue.append(query)
            return true
        }
        if parked { wakeup.signal() }
        return parked
    }

    private func run(_ handler: BatchHandler) {
        while true {
            wakeup.wait { queue.withLock { !$0.isEmpty } }
            let batch = queue.withLock { queue in
                defer { queue.removeAll() }
                return queue
            }
            var answered = 0
            handler(batch) { query, reply in
                answered += 1
                var peer = query.peer
                _ = reply.withUnsafeBytes { bytes in
                    // From the address the query reached (kept with the peer).
                    skydns_send_reply(query.fd, bytes.baseAddress, bytes.count, &peer, query.peerLength)
                }
                guard let metrics else { return }
                query.packet.withUnsafeBytes { packet in
                    reply.withUnsafeBytes { metrics.udpShared.answered(query: packet, reply: $0) }
                }
                metrics.udpShared.answerDuration(nanoseconds: monotonicNanoseconds() - query.received, count: 1)
            }
            for _ in answered..<batch.count { metrics?.udpShared.add(MetricsBlock.Slot.dropped) }
        }
    }
}

/// The labels of a lower-cased wire-form name, first label first.
func labels(ofWireName name: UnsafeBufferPointer<UInt8>) -> [String] {
    var labels: [String] = []
    var offset = 0
    while name[offset] != 0 {
        let length = Int(name[offset])
        labels.append(String(decoding: UnsafeBufferPointer(rebasing: name[(offset + 1)..<(offset + 1 + length)]), as: UTF8.self))
        offset += length + 1
    }
    return labels
}
