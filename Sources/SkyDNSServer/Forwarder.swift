#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShim
import DNSWire
import Logging
import Synchronization
import SkyDNSStore

/// Resolves what the store cannot: names outside the domain go to the upstream nameservers
/// (or a stub zone's own servers), and answers whose CNAME/SRV/MX targets lie outside are
/// completed. It runs on threads of its own, so a slow or silent upstream never delays an
/// answer from the store; UDP queries are handed over and answered from here.
final class Forwarder: Sendable {
    /// A query handed over by a worker: what to do, the parsed query and where its reply goes.
    struct Job: Sendable {
        enum Kind: Sendable { case forward(stub: [SocketAddress]?), completeAnswer }
        var kind: Kind
        var query: ParsedQuery
        var writer: any ReplyWriter
    }

    static let maxQueued = 4096
    /// Nanoseconds a UDP query may wait for a forwarder thread: 5 s, when glibc and musl
    /// resolvers retry or give up.
    static let maxQueueWait: Int64 = 5_000_000_000
    static let threads = 16

    let timeout: Duration
    let ndots: Int
    let cache: ResponseCache?
    private let rotate: Bool
    private let upstreams: Mutex<[SocketAddress]>
    private struct UpstreamHealth {
        var downUntil: Double
        var lastProbe: Double
        /// It failed by sending the query back to us.
        var looped = false
    }
    private let health = Mutex<[String: UpstreamHealth]>([:])
    static let downSeconds = 5.0
    static let probeInterval = 1.0
    private let nextUpstream = Atomic<Int>(0)
    private let publisher: SnapshotPublisher
    private let logger: Logger
    private let queue = Mutex(JobQueue())
    private let wakeup = Condition()
    private let metrics: ServerMetrics?
    /// Where this server listens: an upstream that is this address is never used.
    private let listen: SocketAddress?
    let loop = ForwardingLoop()
    /// Loop warnings, from here and from the workers that see a query come back: one a minute.
    let loopWarning = RateLimitedWarning(interval: .seconds(60))

    init(upstreams: [SocketAddress], timeout: Duration, rotate: Bool, ndots: Int, cache: ResponseCache?,
         publisher: SnapshotPublisher, logger: Logger, metrics: ServerMetrics? = nil, listen: SocketAddress? = nil) {
        self.metrics = metrics
        self.listen = listen
        self.upstreams = Mutex([])
        self.timeout = timeout
        self.rotate = rotate
        self.ndots = ndots
        self.cache = cache
        self.publisher = publisher
        self.logger = logger
        setUpstreams(upstreams)
        for _ in 0..<Self.threads { spawnThread { [self] in run() } }
    }

    var hasUpstreams: Bool { upstreams.withLock { !$0.isEmpty } }

    /// Uses `servers` from now on, less any that is this server itself (from `-nameservers`,
    /// resolv.conf or `/skydns/config` alike): forwarding to ourselves would loop.
    func setUpstreams(_ servers: [SocketAddress]) {
        var kept: [SocketAddress] = []
        for server in servers {
            if let listen, isOwnAddress(server, listen: listen) {
                logger.warning("""
                    not forwarding to \(server): it is this server's own address (a forwarding loop); \
                    name the real upstream nameservers in -nameservers (SKYDNS_NAMESERVERS)
                    """)
                continue
            }
            kept.append(server)
            _ = metrics?.upstream(server.description)
        }
        if kept.isEmpty && !servers.isEmpty {
            logger.warning("every upstream is this server itself: names outside the domain will get SERVFAIL")
        }
        upstreams.withLock { $0 = kept }
    }

    /// Queues a UDP job; false when the queue is full (the caller answers SERVFAIL).
    func submit(_ job: Job) -> Bool {
        let accepted = queue.withLock { queue -> Bool in
            guard queue.count < Self.maxQueued else { return false }
            queue.push(job)
            return true
        }
        if accepted { wakeup.signal() }
        return accepted
    }

    private func run() {
        let responder = makeResponder(forwarder: self, resolvingOutside: true)
        var writer = WireWriter(capacity: UDPWorker.maxResponseSize)
        while true {
            wakeup.wait { queue.withLock { $0.count > 0 } }
            guard let job = queue.withLock({ $0.pop() }) else { continue }
            // A UDP query that waited longer than a stub resolver does is dropped: its client has
            // retried or given up, and answering it kept the upstreams and both cores busy for
            // minutes after a flood of expensive names had ended.
            if job.writer.transport == .udp, monotonicNanoseconds() - job.query.received > Self.maxQueueWait {
                job.writer.drop()
                continue
            }
            handle(job, responder: responder, writer: &writer)
        }
    }

    /// Answers a handed-over query through its reply writer, waiting on upstreams as needed.
    func handle(_ job: Job, responder: QueryResponder, writer: inout WireWriter) {
        switch job.kind {
        case .forward(let stub):
            forward(job.query, stub: stub, reply: job.writer)
        case .completeAnswer:
            let query = job.query
            let outcome = query.packet.withUnsafeBytes {
                responder.respond(to: query.view, lowercasedName: query.lowercasedName, packet: $0,
                                  snapshot: publisher.current, maxSize: job.writer.maxSize, into: &writer)
            }
            guard case .answered = outcome else { return job.writer.drop() }
            job.writer.write(writer.bytes)
        }
    }

    /// Sends the client's query upstream (first answering server wins) and replies with the
    /// answer fitted to the client's query (see `ForwardedReply.fit`); SERVFAIL when every
    /// upstream failed; FORMERR when the query's OPT options are malformed.
    func forward(_ parsed: ParsedQuery, stub: [SocketAddress]?, reply writer: any ReplyWriter) {
        guard let query = parsed.message else { return writer.refuse(.formErr) }
        let limit = writer.maxSize
        let key = ResponseCache.Key(query)
        if let cache, stub == nil, let hit = cache.lookup(key) {
            return writer.write(ForwardedReply.fit(hit, to: query, maxSize: limit))
        }
        var outgoing = loop.marked(query, advertising: QueryResponder.advertisedUDPSize)
        if stub != nil { outgoing.edns?.options.append(EDNS.Option(code: stubForwardMarker, data: [])) }
        let configured = stub ?? orderedUpstreams()
        let servers = candidates(configured)
        // Passed over for looping counts as looping, so that the loop is still said below.
        var looped = servers.isEmpty && isLooping(configured)
        for server in servers {
            switch exchange(outgoing, with: server) {
            case .success(let reply):
                if let cache, stub == nil { cache.insert(key, reply: reply) }
                return writer.write(ForwardedReply.fit(reply, to: query, maxSize: limit))
            case .failure(let failure):
                looped = looped || failure == .loop
            }
        }
        metrics?.forwarding.add(MetricsBlock.Slot.forwardServFail)
        if servers.isEmpty {
            logger.debug("every upstream failed within the last \(Self.downSeconds) s; replying SERVFAIL")
        } else {
            logger.warning("no upstream answered for a forwarded query; replying SERVFAIL")
        }
        // A loop is passed back, so that a server that forwarded to us does not retry through us.
        if looped { return writer.write(ForwardingLoop.loopReply(to: query)) }
        writer.refuse(.servFail)
    }

    /// Addresses and CNAME targets outside the domain, for completing answers from the store.
    func resolve(_ name: DomainName, type: RecordType) -> [ResourceRecord]? {
        var header = Header(id: 0, questionCount: 1)
        header.recursionDesired = true
        let query = loop.marked(Message(header: header, questions: [Question(name: name, type: type)]),
                                advertising: QueryResponder.advertisedUDPSize)
        for server in candidates(orderedUpstreams()) {
            if case .success(let reply) = exchange(query, with: server) {
                guard reply.header.responseCode == .noError else { return nil }
                return ForwardedReply.answers(to: name, type: type, in: reply.answers)
            }
        }
        return nil
    }

    /// One exchange with `server`, counted (under its address) and remembered for its health.
    private func exchange(_ query: Message, with server: SocketAddress) -> Result<Message, UpstreamExchange.Failure> {
        let started = monotonicNanoseconds()
        let result = UpstreamExchange.exchange(query, with: server, timeout: timeout)
        metrics?.upstream(server.description).countExchange(result, nanoseconds: monotonicNanoseconds() - started)
        noteOutcome(of: server, result)
        switch result {
        case .success:
            break
        case .failure(.loop):
            loopWarning.log(logger, """
                forwarding loop: upstream \(server) sends queries back to this server; passing it over. \
                Name upstreams that do not lead back here in -nameservers (SKYDNS_NAMESERVERS); in \
                Kubernetes run the server with dnsPolicy: Default
                """)
        case .failure(let failure):
            logger.debug("upstream \(server) failed: \(failure)")
        }
        return result
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

    private func isLooping(_ servers: [SocketAddress]) -> Bool {
        health.withLock { health in servers.contains { health[$0.description]?.looped == true } }
    }

    private func noteOutcome(of server: SocketAddress, _ result: Result<Message, UpstreamExchange.Failure>) {
        let now = monotonicNow()
        health.withLock { health in
            switch result {
            case .success:
                health[server.description] = nil
            case .failure(let failure):
                if health[server.description] == nil && failure != .loop {
                    logger.warning("upstream \(server) is not answering; passing it over for \(Self.downSeconds) s at a time")
                }
                health[server.description] = UpstreamHealth(downUntil: now + Self.downSeconds, lastProbe: now,
                                                            looped: failure == .loop)
            }
        }
    }

    private func orderedUpstreams() -> [SocketAddress] {
        let servers = upstreams.withLock { $0 }
        guard rotate, servers.count > 1 else { return servers }
        let start = nextUpstream.add(1, ordering: .relaxed).newValue % servers.count
        return Array(servers[start...] + servers[..<start])
    }
}

/// The forwarder's queue, first in first out. Taking a job is O(1) amortised (removing the
/// first element of an array moved all the others: up to 4,096 jobs for each query under a flood).
struct JobQueue {
    private var jobs: [Forwarder.Job] = []
    private var head = 0

    var count: Int { jobs.count - head }

    mutating func push(_ job: Forwarder.Job) { jobs.append(job) }

    mutating func pop() -> Forwarder.Job? {
        guard head < jobs.count else { return nil }
        let job = jobs[head]
        head += 1
        if head == jobs.count {
            jobs.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 && 2 * head >= jobs.count {
            jobs.removeFirst(head)
            head = 0
        }
        return job
    }
}

/// The upstreams when none are configured: the `nameserver` lines of resolv.conf (at most
/// `maxResolvConfServers`; the forwarder drops any that is this server itself, saying so).
func resolvConfNameservers(path: String = "/etc/resolv.conf") -> [SocketAddress] {
    guard let file = fopen(path, "r") else { return [] }
    defer { fclose(file) }
    var servers: [SocketAddress] = []
    var line: UnsafeMutablePointer<CChar>?
    var capacity = 0
    while servers.count < maxResolvConfServers, getline(&line, &capacity, file) > 0, let text = line {
        let fields = String(cString: text).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard fields.count >= 2, fields[0] == "nameserver" else { continue }
        let host = String(fields[1])
        guard let server = try? SocketAddress(host.contains(":") ? "[\(host)]:53" : "\(host):53") else { continue }
        servers.append(server)
    }
    free(line)
    return servers
}

/// glibc reads 3 `nameserver` lines; a few more are allowed, not a file's worth.
let maxResolvConfServers = 16
