#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSWire
import Logging
import Synchronization
import SkyDNSStore

/// Resolves what the store cannot: names outside the domain go to the upstream nameservers
/// (or a stub zone's own servers), and answers whose CNAME/SRV/MX targets lie outside are
/// completed. It runs on threads of its own, so a slow or silent upstream never delays an
/// answer from the store; UDP queries are handed over and answered from here.
final class Forwarder: Sendable {
    struct Job {
        enum Kind { case forward(stub: [SocketAddress]?), completeAnswer }
        var kind: Kind
        var packet: [UInt8]
        var peer: sockaddr_storage
        var peerLength: socklen_t
        var fd: Int32
        /// When the worker received it (monotonic nanoseconds), for the answer-time histogram.
        var received: Int64 = 0
    }

    static let maxQueued = 4096
    static let threads = 16

    let timeout: Double
    let ndots: Int
    let cache: ResponseCache?
    private let rotate: Bool
    private let upstreams: Mutex<[SocketAddress]>
    private struct UpstreamHealth {
        var downUntil: Double
        var lastProbe: Double
    }
    private let health = Mutex<[String: UpstreamHealth]>([:])
    static let downSeconds = 5.0
    static let probeInterval = 1.0
    private let nextUpstream = Atomic<Int>(0)
    private let publisher: SnapshotPublisher
    private let logger: Logger
    private let queue = Mutex<[Job]>([])
    private let wakeup = Condition()
    private let metrics: ServerMetrics?

    init(upstreams: [SocketAddress], timeout: Double, rotate: Bool, ndots: Int, cache: ResponseCache?,
         publisher: SnapshotPublisher, logger: Logger, metrics: ServerMetrics? = nil) {
        self.metrics = metrics
        self.upstreams = Mutex(upstreams)
        self.timeout = timeout
        self.rotate = rotate
        self.ndots = ndots
        self.cache = cache
        self.publisher = publisher
        self.logger = logger
        for _ in 0..<Self.threads { spawnThread { [self] in run() } }
    }

    var hasUpstreams: Bool { upstreams.withLock { !$0.isEmpty } }

    func setUpstreams(_ servers: [SocketAddress]) {
        upstreams.withLock { $0 = servers }
    }

    /// Queues a UDP job; false when the queue is full (the caller answers SERVFAIL).
    func submit(_ job: Job) -> Bool {
        let accepted = queue.withLock { queue -> Bool in
            guard queue.count < Self.maxQueued else { return false }
            queue.append(job)
            return true
        }
        if accepted { wakeup.signal() }
        return accepted
    }

    private func run() {
        let responder = makeResponder()
        var writer = WireWriter(capacity: UDPWorker.maxResponseSize)
        while true {
            wakeup.wait { queue.withLock { !$0.isEmpty } }
            guard var job = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
            guard let reply = handle(job.kind, packet: job.packet, transport: .udp, responder: responder, writer: &writer) else {
                continue
            }
            _ = reply.withUnsafeBytes { bytes in
                withUnsafePointer(to: &job.peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(job.fd, bytes.baseAddress, bytes.count, 0, $0, job.peerLength)
                    }
                }
            }
            if let metrics {
                job.packet.withUnsafeBytes { query in
                    reply.withUnsafeBytes { metrics.udpShared.answered(query: query, reply: $0) }
                }
                metrics.udpShared.answerDuration(nanoseconds: monotonicNanoseconds() - job.received, count: 1)
            }
        }
    }

    /// A responder that may complete answers through the upstreams (for forwarder threads and
    /// TCP connections, which may wait).
    func makeResponder() -> QueryResponder {
        let responder = QueryResponder(recursionAvailable: true)
        responder.external = { [self] name, type in resolve(name, type: type) }
        return responder
    }

    /// The reply for a handed-over query, waiting on upstreams as needed; nil to stay silent.
    func handle(_ kind: Job.Kind, packet: [UInt8], transport: Transport, responder: QueryResponder,
                writer: inout WireWriter) -> [UInt8]? {
        switch kind {
        case .forward(let stub):
            return forward(packet, transport: transport, stub: stub, responder: responder, writer: &writer)
        case .completeAnswer:
            let outcome = packet.withUnsafeBytes {
                responder.respond(to: $0, snapshot: publisher.current,
                                  maxUDPSize: transport == .udp ? UDPWorker.maxResponseSize : nil, into: &writer)
            }
            guard case .answered = outcome else { return nil }
            return writer.bytes
        }
    }

    /// Sends the client's query upstream (first answering server wins) and returns the reply
    /// with the client's ID and question casing, SERVFAIL when every upstream failed.
    func forward(_ packet: [UInt8], transport: Transport, stub: [SocketAddress]?, responder: QueryResponder,
                 writer: inout WireWriter) -> [UInt8]? {
        guard let question = UpstreamExchange.questionRange(packet) else { return nil }
        let cacheKey = cache.map { _ in ResponseCache.key(lowercasedQuestion: packet[question].map(asciiLowercase),
                                                         dnssecOK: dnssecOK(packet)) }
        if let cache, let cacheKey, stub == nil,
           let hit = packet.withUnsafeBytes({ cache.lookup(key: cacheKey, query: $0) }) {
            return fitted(hit, packet: packet, transport: transport, responder: responder, writer: &writer)
        }
        let outgoing = stub == nil ? packet : markedForStub(packet)
        metrics?.forwarding.add(stub == nil ? MetricsBlock.Slot.forwardedUpstream : MetricsBlock.Slot.forwardedStub)
        let servers = candidates(stub ?? orderedUpstreams())
        for server in servers {
            let started = monotonicNanoseconds()
            let result = UpstreamExchange.exchange(outgoing, with: server, timeout: timeout)
            metrics?.forwarding.countExchange(result, nanoseconds: monotonicNanoseconds() - started)
            noteOutcome(of: server, result)
            switch result {
            case .success(var reply):
                reply[0] = packet[0]
                reply[1] = packet[1]
                for index in question { reply[index] = packet[index] }
                // We answer as a recursive service: not authoritative, recursion available.
                reply[2] &= ~UInt8(Header.aaBit >> 8)
                reply[3] |= UInt8(Header.raBit)
                if let cache, let cacheKey, stub == nil { cache.insert(key: cacheKey, reply: reply) }
                return fitted(reply, packet: packet, transport: transport, responder: responder, writer: &writer)
            case .failure(let failure):
                logger.debug("upstream \(server) failed: \(failure)")
            }
        }
        metrics?.forwarding.add(MetricsBlock.Slot.forwardServFail)
        if servers.isEmpty {
            logger.debug("every upstream failed within the last \(Self.downSeconds) s; replying SERVFAIL")
        } else {
            logger.warning("no upstream answered for a forwarded query; replying SERVFAIL")
        }
        packet.withUnsafeBytes { _ = responder.reply(to: $0, rcode: .servFail, into: &writer) }
        return writer.bytes
    }

    /// Addresses and CNAME targets outside the domain, for completing answers from the store.
    func resolve(_ name: DomainName, type: RecordType) -> [ResourceRecord]? {
        var header = Header(id: 0, questionCount: 1)
        header.recursionDesired = true
        let query = Message(header: header, questions: [Question(name: name, type: type)], edns: EDNS()).encode()
        for server in candidates(orderedUpstreams()) {
            let started = monotonicNanoseconds()
            let result = UpstreamExchange.exchange(query, with: server, timeout: timeout)
            metrics?.forwarding.countExchange(result, nanoseconds: monotonicNanoseconds() - started)
            noteOutcome(of: server, result)
            if case .success(let reply) = result {
                guard let message = try? Message(parsing: reply), message.header.responseCode == .noError else { return nil }
                return message.answers
            }
        }
        return nil
    }

    /// The query with SkyDNS's stub marker option, so that a stub server that sends it back to us
    /// is not answered in a loop.
    private func markedForStub(_ packet: [UInt8]) -> [UInt8] {
        guard var message = try? Message(parsing: packet) else { return packet }
        var edns = message.edns ?? EDNS()
        edns.options.append(EDNS.Option(code: stubForwardMarker, data: []))
        message.edns = edns
        return message.encode()
    }

    /// An upstream that just failed is passed over for `downSeconds`, so that a dead or
    /// black-holed server does not cost every query a full timeout (and a forwarder thread):
    /// healthy servers first, then at most one probe a second to each server that is down.
    /// Empty when every server is down and was probed within the second: SERVFAIL at once.
    private func candidates(_ servers: [SocketAddress]) -> [SocketAddress] {
        let now = monotonicNow()
        return health.withLock { health in
            var up: [SocketAddress] = []
            var probes: [SocketAddress] = []
            for server in servers {
                guard var state = health[server.description], state.downUntil > now else {
                    up.append(server)
                    continue
                }
                if now - state.lastProbe >= Self.probeInterval {
                    state.lastProbe = now
                    health[server.description] = state
                    probes.append(server)
                }
            }
            return up + probes
        }
    }

    private func noteOutcome(of server: SocketAddress, _ result: Result<[UInt8], UpstreamExchange.Failure>) {
        let now = monotonicNow()
        health.withLock { health in
            switch result {
            case .success:
                health[server.description] = nil
            case .failure:
                if health[server.description] == nil {
                    logger.warning("upstream \(server) is not answering; passing it over for \(Self.downSeconds) s at a time")
                }
                health[server.description] = UpstreamHealth(downUntil: now + Self.downSeconds, lastProbe: now)
            }
        }
    }

    private func orderedUpstreams() -> [SocketAddress] {
        let servers = upstreams.withLock { $0 }
        guard rotate, servers.count > 1 else { return servers }
        let start = nextUpstream.add(1, ordering: .relaxed).newValue % servers.count
        return Array(servers[start...] + servers[..<start])
    }

    /// A UDP client gets at most what it can take: a larger reply (fetched over TCP upstream)
    /// becomes a truncated one, and the client comes back over TCP.
    private func fitted(_ reply: [UInt8], packet: [UInt8], transport: Transport, responder: QueryResponder,
                        writer: inout WireWriter) -> [UInt8] {
        guard transport == .udp, reply.count > udpLimit(packet) else { return reply }
        packet.withUnsafeBytes { _ = responder.reply(to: $0, rcode: .noError, truncated: true, into: &writer) }
        return writer.bytes
    }

    private func udpLimit(_ packet: [UInt8]) -> Int {
        guard let message = try? Message(parsing: packet), let edns = message.edns else { return 512 }
        return min(Int(max(edns.udpPayloadSize, EDNS.minimumPayloadSize)), UDPWorker.maxResponseSize)
    }

    private func dnssecOK(_ packet: [UInt8]) -> Bool {
        (try? Message(parsing: packet))?.edns?.dnssecOK ?? false
    }
}

/// The upstreams when none are configured: the `nameserver` lines of resolv.conf, less any that
/// is this server itself (forwarding to ourselves would loop).
func resolvConfNameservers(path: String = "/etc/resolv.conf", excluding listen: SocketAddress) -> [SocketAddress] {
    guard let file = fopen(path, "r") else { return [] }
    defer { fclose(file) }
    var servers: [SocketAddress] = []
    var line: UnsafeMutablePointer<CChar>?
    var capacity = 0
    while getline(&line, &capacity, file) > 0 {
        let fields = String(cString: line!).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard fields.count >= 2, fields[0] == "nameserver" else { continue }
        let host = String(fields[1])
        guard let server = try? SocketAddress(host.contains(":") ? "[\(host)]:53" : "\(host):53") else { continue }
        let isSelf = server.port == listen.port
            && (server.hostText == listen.hostText || listen.hostText == "0.0.0.0" || listen.hostText == "::")
        if !isSelf { servers.append(server) }
    }
    free(line)
    return servers
}
