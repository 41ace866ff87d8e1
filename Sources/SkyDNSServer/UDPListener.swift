#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShim
import DNSWire
import SkyDNSStore

/// One UDP worker: its own SO_REUSEPORT socket, a batch of receive and send slots that live as
/// long as the worker, and its own responder and snapshot view. Per batch: one recvmmsg, one
/// check of the snapshot generation, one sendmmsg.
final class UDPWorker: @unchecked Sendable {
    // Owned by the single thread that runs `run()`.
    static let batchSize = 32
    /// Responses are capped here even if the client advertises more; larger answers go over TCP.
    static let maxResponseSize = 4096
    private static let receiveSize = 4096

    private let fd: Int32
    private let handler: QueryHandler
    private var reader: SnapshotReader
    private let incoming: UnsafeMutablePointer<skydns_dgram>
    private let outgoing: UnsafeMutablePointer<skydns_dgram>
    private var writer = WireWriter(capacity: UDPWorker.maxResponseSize)
    /// This worker's counters: written only here, summed when Prometheus scrapes.
    private let metrics: MetricsBlock
    private let receiveFailures = RateLimitedLog()

    init(fd: Int32, context: ServerContext, reader: SnapshotReader) {
        self.fd = fd
        self.reader = reader
        metrics = context.metrics.makeWorkerBlock()
        handler = QueryHandler(context: context, metrics: metrics)
        incoming = .allocate(capacity: Self.batchSize)
        outgoing = .allocate(capacity: Self.batchSize)
        for index in 0..<Self.batchSize {
            incoming[index] = skydns_dgram(peer: sockaddr_storage(), peer_len: 0,
                                           buf: .allocate(capacity: Self.receiveSize), cap: Self.receiveSize, len: 0)
            outgoing[index] = skydns_dgram(peer: sockaddr_storage(), peer_len: 0,
                                           buf: .allocate(capacity: Self.maxResponseSize), cap: Self.maxResponseSize, len: 0)
        }
    }

    func run() {
        while true {
            let received = skydns_recv_batch(fd, incoming, UInt32(Self.batchSize))
            if received < 0 {
                let error = errno
                if error == EINTR { continue }
                // ENOMEM, ENOBUFS...: logged at most every 10 s, and retried after a moment
                // rather than in a tight loop.
                receiveFailures.warning(handler.logger, "UDP receive failed: \(String(cString: strerror(error)))")
                usleep(10_000)
                continue
            }
            let started = monotonicNanoseconds()
            let snapshot = reader.refresh()
            var replies = 0
            for index in 0..<Int(received) {
                let packet = UnsafeRawBufferPointer(start: incoming[index].buf, count: incoming[index].len)
                let origin = ReplyOrigin.udp(fd: fd, peer: incoming[index].peer, peerLength: incoming[index].peer_len)
                // Otherwise dropped, or handed with a reply writer to a slow path.
                guard handler.answer(packet, snapshot: snapshot, origin: origin, received: started, into: &writer) else {
                    continue
                }
                // Every reply is built within the slot; a longer one is a bug, never an overflow.
                guard writer.count <= Self.maxResponseSize else {
                    metrics.add(MetricsBlock.Slot.dropped)
                    continue
                }
                outgoing[replies].peer = incoming[index].peer
                outgoing[replies].peer_len = incoming[index].peer_len
                writer.bytes.withUnsafeBytes { bytes in
                    UnsafeMutableRawPointer(outgoing[replies].buf).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                }
                outgoing[replies].len = writer.count
                replies += 1
            }
            if replies > 0 {
                _ = skydns_send_batch(fd, outgoing, UInt32(replies))
                // Every answer in the batch is counted as taking the whole batch's time.
                metrics.answerDuration(nanoseconds: monotonicNanoseconds() - started, count: replies)
            }
        }
    }
}
