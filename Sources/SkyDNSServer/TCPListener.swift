#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSWire
import Synchronization
import SkyDNSStore

/// DNS over TCP (RFC 7766): two-byte length framing, several queries per connection, answered in
/// order. Connections are capped and closed when idle.
final class TCPListener: Sendable {
    static let maxConnections = 512
    static let idleTimeoutSeconds = 10

    private let fd: Int32
    private let context: ServerContext
    private let publisher: SnapshotPublisher
    private let open = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// Open connections, so that `stop()` can end them once their queries are answered.
    private let clients = Mutex<Set<Int32>>([])

    init(fd: Int32, context: ServerContext, publisher: SnapshotPublisher) {
        self.fd = fd
        self.context = context
        self.publisher = publisher
    }

    func run() {
        listen(fd, 128)
        while true {
            let client = accept(fd, nil, nil)
            if stopping.load(ordering: .acquiring) {
                if client >= 0 { close(client) }
                return
            }
            if client < 0 {
                if errno != EINTR { context.logger.warning("TCP accept failed: \(String(cString: strerror(errno)))") }
                continue
            }
            guard open.add(1, ordering: .relaxed).newValue <= Self.maxConnections else {
                open.subtract(1, ordering: .relaxed)
                close(client)
                continue
            }
            var timeout = timeval(tv_sec: Self.idleTimeoutSeconds, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            clients.withLock { _ = $0.insert(client) }
            if stopping.load(ordering: .acquiring) { shutdown(client, Int32(SHUT_RD)) }
            spawnThread { [self] in
                serve(client)
                clients.withLock { _ = $0.remove(client) }
                close(client)
                open.subtract(1, ordering: .relaxed)
            }
        }
    }

    /// Stops accepting connections and lets each open one finish: queries already received are
    /// answered, then the connection reads end-of-file and closes.
    func stop() {
        stopping.store(true, ordering: .releasing)
        shutdown(fd, Int32(SHUT_RDWR))  // wakes accept(2); new connections are refused from now on
        clients.withLock { clients in
            for client in clients { shutdown(client, Int32(SHUT_RD)) }
        }
    }

    /// Waits until every connection has closed, or `seconds` have passed; true if all closed.
    func drain(seconds: Double) -> Bool {
        let deadline = monotonicNanoseconds() + Int64(seconds * 1e9)
        while open.load(ordering: .relaxed) > 0 {
            if monotonicNanoseconds() >= deadline { return false }
            usleep(10_000)
        }
        return true
    }

    var openConnections: Int { open.load(ordering: .relaxed) }

    private func serve(_ client: Int32) {
        let metrics = context.metrics.tcp
        let handler = QueryHandler(context: context)
        var deframer = TCPDeframer()
        var reader = publisher.makeReader()
        var writer = WireWriter(capacity: 65535)
        var chunk = [UInt8](repeating: 0, count: 16384)
        // Replies to everything one read delivered, framed, sent with one call: a client that
        // pipelines (dnsperf, a resolver's connection pool) costs a system call per read, not per
        // query.
        var output: [UInt8] = []
        output.reserveCapacity(65536)
        // The idle timeout bounds each read; this bounds a whole message, so a client that
        // trickles a byte now and then cannot hold the connection (and its thread) forever.
        var messageStarted: Int64?
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return }
            deframer.append(chunk[..<count])
            var completedAny = false
            defer {
                // What is left is the start of the next message: time it from its first byte.
                if deframer.pendingByteCount == 0 || completedAny { messageStarted = nil }
                if deframer.pendingByteCount > 0 && messageStarted == nil { messageStarted = monotonicNanoseconds() }
            }
            if let started = messageStarted, deframer.pendingByteCount > 0, !deframer.hasCompleteMessage,
               monotonicNanoseconds() - started > Int64(Self.idleTimeoutSeconds) * 1_000_000_000 {
                return
            }
            while let message = deframer.nextMessage() {
                completedAny = true
                let started = monotonicNanoseconds()
                var result = message.withUnsafeBytes { packet in
                    handler.answer(packet, snapshot: reader.refresh(), transport: .tcp, into: &writer)
                }
                if case .parked(let path) = result {
                    // A TCP connection has a thread of its own, so it can wait for the fetch; what
                    // is answered already goes out first.
                    guard flush(client, &output) else { return }
                    context.hiddenKeys?.fetchNow(path: path)
                    result = message.withUnsafeBytes { packet in
                        handler.answer(packet, snapshot: reader.refresh(), transport: .tcp, into: &writer)
                    }
                }
                var forwarded: [UInt8]?
                switch result {
                case .reply:
                    break
                case .notLoaded(let path):
                    guard flush(client, &output) else { return }
                    message.withUnsafeBytes { packet in handler.answerNotLoaded(path: path, packet: packet, into: &writer) }
                case .forward(let kind):
                    guard flush(client, &output) else { return }
                    guard let waited = handler.answerWaiting(Array(message), kind: kind, into: &writer) else {
                        metrics.add(MetricsBlock.Slot.dropped)
                        continue
                    }
                    forwarded = waited
                case .none, .parked:
                    metrics.add(MetricsBlock.Slot.dropped)
                    continue
                }
                let replyStart = output.count + 2
                if let forwarded {
                    TCPFraming.append(forwarded, to: &output)
                } else {
                    writer.bytes.withUnsafeBufferPointer { TCPFraming.append($0, to: &output) }
                }
                message.withUnsafeBytes { query in
                    output.withUnsafeBytes { metrics.answered(query: query, reply: UnsafeRawBufferPointer(rebasing: $0[replyStart...])) }
                }
                metrics.answerDuration(nanoseconds: monotonicNanoseconds() - started, count: 1)
                if output.count >= Self.flushThreshold {
                    guard flush(client, &output) else { return }
                }
            }
            guard flush(client, &output) else { return }
        }
    }

    /// Replies gathered beyond this are sent before answering more.
    private static let flushThreshold = 32768

    /// Sends all of `output` (going on after partial sends) and empties it; false when the
    /// connection failed.
    private func flush(_ client: Int32, _ output: inout [UInt8]) -> Bool {
        var sent = 0
        let complete = output.withUnsafeBytes { bytes in
            while sent < bytes.count {
                let result = send(client, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
                if result < 0 && errno == EINTR { continue }
                guard result > 0 else { return false }
                sent += result
            }
            return true
        }
        output.removeAll(keepingCapacity: true)
        return complete
    }
}
