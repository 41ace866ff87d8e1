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
/// check of the snapshot generation, one sendmmsg. With an upstream engine of its own, the
/// worker waits on the engine's epoll set, its socket among the engine's exchanges, and its
/// forwarded queries are exchanged on its own thread: no hand-over to another thread, whose
/// wake-ups cost two context switches a query where the threads share a CPU.
final class UDPWorker: @unchecked Sendable {
    // Owned by the single thread that runs `run()`.
    static let batchSize = 32
    /// Batches read while queries keep coming before the engine's exchanges are served.
    private static let batchesPerTurn = 8
    /// The socket's token in the engine's epoll set (the engine's own are below 2^63).
    private static let socketToken = UInt64.max - 1
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
    private let engine: UpstreamEngine?

    /// - Parameter engine: an upstream engine for this worker alone (`Forwarder.makeWorkerEngine`),
    ///   or nil to block on the socket and hand forwarded queries to the forwarder's engine.
    init(fd: Int32, context: ServerContext, reader: SnapshotReader, engine: UpstreamEngine? = nil) {
        self.fd = fd
        self.reader = reader
        metrics = context.metrics.makeWorkerBlock()
        // Without its socket in the engine's set the worker would never turn the engine.
        let engine = engine.flatMap { $0.poller.add(fd, interest: SKYDNS_EPOLLIN, token: Self.socketToken) ? $0 : nil }
        self.engine = engine
        handler = QueryHandler(context: context, metrics: metrics, engine: engine)
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
        guard let engine else {
            while true { _ = answerBatch(waiting: true) }
        }
        while true {
            // With no exchange open and nothing queued, the engine has nothing to wait for:
            // the worker blocks in recvmmsg alone, one system call a batch as without an engine
            // (an epoll_wait before each recvmmsg cost about 8% of the rate on one core).
            if engine.isIdle {
                guard answerBatch(waiting: true) > 0, engine.hasQueued else { continue }
                engine.finishTurn(takingAtMost: Self.batchSize * 2)
                continue
            }
            let count = engine.poller.wait(timeoutMilliseconds: engine.nextTimerWait())
            var readable = false
            for index in 0..<max(0, count) {
                let event = engine.poller.event(index)
                if event.token == Self.socketToken { readable = true } else { engine.handle(event) }
            }
            if readable {
                for _ in 0..<Self.batchesPerTurn {
                    guard answerBatch(waiting: false) == Self.batchSize else { break }
                }
            }
            engine.finishTurn(takingAtMost: Self.batchSize * 2)
        }
    }

    /// Reads one batch and answers it. Returns how many queries were read.
    private func answerBatch(waiting: Bool) -> Int {
        let received = skydns_recv_batch(fd, incoming, UInt32(Self.batchSize), waiting ? 1 : 0)
        if received < 0 {
            let error = errno
            if error == EINTR || error == EAGAIN || error == EWOULDBLOCK { return 0 }
            // ENOMEM, ENOBUFS...: logged at most every 10 s, and retried after a moment
            // rather than in a tight loop.
            receiveFailures.warning(handler.logger, "UDP receive failed: \(String(cString: strerror(error)))")
            usleep(10_000)
            return 0
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
        return Int(received)
    }
}
