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
/// completed. Forwarded queries are exchanged on an upstream engine's event loop (see
/// `UpstreamEngine`), so a slow or silent upstream holds no thread and never delays an answer
/// from the store: each UDP worker runs an engine of its own in its loop (`makeWorkerEngine`),
/// and one engine on a thread of its own takes the rest (TCP, stub zones of hidden keys, answers
/// to complete). Answers to complete wait on a few threads of their own, which ask the engine.
final class Forwarder: Sendable {
    /// A query handed over by a worker: what to do, the parsed query and where its reply goes.
    struct Job: Sendable {
        enum Kind: Sendable { case forward(stub: [SocketAddress]?), completeAnswer }
        var kind: Kind
        var query: ParsedQuery
        var writer: any ReplyWriter
    }

    /// Answers to complete that may wait for a thread.
    static let maxQueued = 4096
    /// Nanoseconds a UDP query may wait to be forwarded: 5 s, when glibc and musl resolvers
    /// retry or give up; past it, no query is sent to a further upstream either.
    static let maxQueueWait: Int64 = 5_000_000_000
    /// Threads completing answers from the store (each waits for its upstream lookups).
    static let threads = 16
    /// Queries in exchange with upstreams at once, each holding a socket, over all engines: at
    /// most a quarter of the process's file descriptors.
    static let maxInFlight = 1024

    /// How long one upstream has to answer one exchange.
    let upstreamTimeout: Duration
    let ndots: Int
    let cache: ResponseCache?
    let upstreams: UpstreamSet
    private let engine: UpstreamEngine
    /// `maxInFlight`, shared by every engine.
    private let budget: InFlightBudget
    private let publisher: SnapshotPublisher
    private let logger: Logger
    private let queue = Mutex(JobQueue())
    private let wakeup = Condition()
    private let metrics: ServerMetrics?
    let loop = ForwardingLoop()
    /// Forwarded queries no upstream answered: each is counted, but a line for each would let
    /// clients write the log at their query rate (names whose upstream times out while others
    /// keep it marked up, or no descriptor left for an exchange).
    private let failureWarning = RateLimitedWarning(interval: .seconds(10))
    var loopWarning: RateLimitedWarning { upstreams.loopWarning }

    /// - Throws: `ServerError` when the engine's epoll descriptors are refused.
    init(upstreams servers: [SocketAddress], upstreamTimeout: Duration, rotate: Bool, ndots: Int, cache: ResponseCache?,
         publisher: SnapshotPublisher, logger: Logger, metrics: ServerMetrics? = nil,
         listen: SocketAddress? = nil) throws(ServerError) {
        self.metrics = metrics
        self.upstreamTimeout = upstreamTimeout
        self.ndots = ndots
        self.cache = cache
        self.publisher = publisher
        self.logger = logger
        let upstreams = UpstreamSet(rotate: rotate, listen: listen, logger: logger, metrics: metrics)
        self.upstreams = upstreams
        budget = InFlightBudget(limit: min(Self.maxInFlight, openFileLimit() / 4))
        engine = try Self.makeEngine(timeout: upstreamTimeout, budget: budget, upstreams: upstreams)
        upstreams.set(servers)
        let engine = engine
        spawnThread { engine.run() }
        for _ in 0..<Self.threads { spawnThread { [self] in run() } }
    }

    var hasUpstreams: Bool { !upstreams.isEmpty }

    /// The most upstream exchanges open at once, each holding a file descriptor.
    var upstreamPlaces: Int { budget.limit }

    func setUpstreams(_ servers: [SocketAddress]) { upstreams.set(servers) }

    /// An engine for a UDP worker to run in its own loop (see `UpstreamEngine`), sharing
    /// `maxInFlight` with the others. Throws `ServerError` when epoll or eventfd descriptors are
    /// refused.
    func makeWorkerEngine() throws(ServerError) -> UpstreamEngine {
        try Self.makeEngine(timeout: upstreamTimeout, budget: budget, upstreams: upstreams)
    }

    /// Every engine of the server: one timeout, one budget, and every exchange reported to the
    /// upstreams' health and metrics.
    private static func makeEngine(timeout: Duration, budget: InFlightBudget,
                                   upstreams: UpstreamSet) throws(ServerError) -> UpstreamEngine {
        try UpstreamEngine(timeout: timeout, budget: budget) { upstreams.observe($0, $1, nanoseconds: $2) }
    }

    /// Takes a job; false when too many wait already (the caller answers SERVFAIL).
    /// - Parameter ownEngine: the calling worker's engine (see `makeWorkerEngine`), which then
    ///   exchanges a forwarded query on the worker's thread; nil for the forwarder's own.
    func submit(_ job: Job, ownEngine: UpstreamEngine? = nil) -> Bool {
        switch job.kind {
        case .forward(let stub):
            let work: UpstreamEngine.Work = { [self] in prepare(job.query, stub: stub, reply: job.writer) }
            guard let ownEngine else { return engine.submit(work) }
            return ownEngine.submit(work, fromOwner: true)
        case .completeAnswer:
            let accepted = queue.withLock { queue -> Bool in
                guard queue.count < Self.maxQueued else { return false }
                queue.push(job)
                return true
            }
            if accepted { wakeup.signal() }
            return accepted
        }
    }

    /// Answers to complete from the store, one at a time per thread.
    private func run() {
        let responder = makeResponder(forwarder: self, resolvingOutside: true)
        var writer = WireWriter(capacity: UDPWorker.maxResponseSize)
        while true {
            wakeup.wait { queue.withLock { $0.count > 0 } }
            guard let job = queue.withLock({ $0.pop() }) else { continue }
            if isStale(job.query, job.writer) {
                job.writer.drop()
                continue
            }
            handle(job, responder: responder, writer: &writer)
        }
    }

    /// A UDP query that waited longer than a stub resolver does is dropped: its client has
    /// retried or given up, and answering a flood's stale backlog kept the upstreams and both
    /// cores busy for minutes after it ended.
    private func isStale(_ query: ParsedQuery, _ writer: any ReplyWriter) -> Bool {
        writer.transport == .udp && monotonicNanoseconds() - query.received > Self.maxQueueWait
    }

    /// Answers a handed-over query through its reply writer: forwarded queries through the
    /// engine, answers to complete here, waiting on upstreams as needed.
    func handle(_ job: Job, responder: QueryResponder, writer: inout WireWriter) {
        switch job.kind {
        case .forward:
            if !submit(job) { job.writer.refuse(.servFail) }
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

    /// On the engine's thread: the upstream request for a forwarded query, whose reply goes to
    /// `writer` fitted to the client's query (see `ForwardedReply.fit`): the upstream's answer,
    /// SERVFAIL when every upstream failed, the loop reply when one sent it back here. nil when
    /// it was answered without an upstream: from the cache, FORMERR for malformed OPT options,
    /// or dropped as stale.
    private func prepare(_ parsed: ParsedQuery, stub: [SocketAddress]?, reply writer: any ReplyWriter) -> UpstreamRequest? {
        if isStale(parsed, writer) {
            writer.drop()
            return nil
        }
        guard let query = parsed.message else {
            writer.refuse(.formErr)
            return nil
        }
        let limit = writer.maxSize
        let key = ResponseCache.Key(query)
        if let cache, stub == nil, let hit = cache.lookup(key) {
            writer.write(ForwardedReply.fit(hit, to: query, maxSize: limit))
            return nil
        }
        var outgoing = loop.marked(query, advertising: QueryResponder.advertisedUDPSize)
        if stub != nil { outgoing.edns?.options.append(EDNS.Option(code: stubForwardMarker, data: [])) }
        let configured = stub ?? upstreams.ordered()
        let servers = upstreams.candidates(configured)
        // Passed over for looping counts as looping, so that the loop is still said below.
        let passedOverLooping = servers.isEmpty && upstreams.isLooping(configured)
        // Past the wait a stub resolver allows, no further server: its client has retried or given up.
        return UpstreamRequest(query: outgoing, servers: servers, lastStart: parsed.received &+ Self.maxQueueWait) { [self] outcome in
            switch outcome {
            case .answered(let reply):
                // The form just kept serves this client too, when it fits: one encode, not two.
                if let cache, stub == nil, let kept = cache.insert(key, reply: reply),
                   let bytes = kept.reply(to: parsed, maxSize: limit) {
                    writer.write(bytes)
                } else {
                    writer.write(ForwardedReply.fit(reply, to: query, maxSize: limit))
                }
            case .failed(let looped):
                metrics?.forwarding.add(MetricsBlock.Slot.forwardServFail)
                if servers.isEmpty {
                    logger.debug("every upstream failed within the last \(UpstreamSet.downSeconds) s; replying SERVFAIL")
                } else {
                    failureWarning.log(logger, "no upstream answered for a forwarded query; replying SERVFAIL")
                }
                // A loop is passed back, so that a server that forwarded to us does not retry through us.
                if looped || passedOverLooping {
                    writer.write(ForwardingLoop.loopReply(to: query))
                } else {
                    writer.refuse(.servFail)
                }
            }
        }
    }

    /// Addresses and CNAME targets outside the domain, for completing answers from the store;
    /// waits for the engine. Empty for NXDOMAIN; nil when no upstream answered NOERROR or
    /// NXDOMAIN (a failure, not a denial: see `ExternalResolver`).
    func resolve(_ name: DomainName, type: RecordType) -> [ResourceRecord]? {
        var header = Header(id: 0, questionCount: 1)
        header.recursionDesired = true
        let query = loop.marked(Message(header: header, questions: [Question(name: name, type: type)]),
                                advertising: QueryResponder.advertisedUDPSize)
        let servers = upstreams.candidates(upstreams.ordered())
        let done = Rendezvous<UpstreamOutcome>()
        let lastStart = monotonicNanoseconds() &+ Self.maxQueueWait
        guard engine.submit({ UpstreamRequest(query: query, servers: servers, lastStart: lastStart) { done.put($0) } })
        else { return nil }
        guard case .answered(let reply) = done.take() else { return nil }
        switch reply.header.responseCode {
        case .noError: return ForwardedReply.answers(to: name, type: type, in: reply.answers)
        case .nxDomain: return []
        default: return nil
        }
    }
}

/// One value handed from one thread to another that waits for it.
final class Rendezvous<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)
    private let condition = Condition()

    func put(_ newValue: Value) {
        value.withLock { $0 = newValue }
        condition.signal()
    }

    /// Waits for the value `put` hands over.
    func take() -> Value {
        while true {
            condition.wait { value.withLock { $0 != nil } }
            if let taken = value.withLock({ $0 }) { return taken }
        }
    }
}

/// The process's soft limit on open files (RLIMIT_NOFILE), at most Int.max.
func openFileLimit() -> Int {
    var limit = rlimit()
    #if canImport(Glibc)
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
    #else
    guard getrlimit(RLIMIT_NOFILE, &limit) == 0 else { return 1024 }
    #endif
    return Int(clamping: limit.rlim_cur)  // RLIM_INFINITY is the largest value
}

/// Connections the operator's HTTP endpoint (metrics, probes) serves at once: 64, fewer under a
/// small open-files limit (a sixteenth of it, at least 4), so that they cannot take the file
/// descriptors that upstream exchanges and etcd need.
public let operatorHTTPConnections = min(64, max(4, openFileLimit() / 16))

/// File descriptors the process may still open: the soft limit less the lowest free one (the
/// kernel hands out the lowest, so at start this is how many are open).
func freeFileDescriptors() -> Int {
    let probe = skydns_open_reserve_fd()
    guard probe >= 0 else { return 0 }
    close(probe)
    return max(0, openFileLimit() - Int(probe))
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
/// `maxResolvConfServers`; the forwarder drops any that is this server itself, saying so), read
/// as glibc and musl read them: the address ends at a blank, `;` or `#` (a comment), CR is a
/// blank, and a link-local address keeps its `%zone`. `rejected` holds the entries that are no
/// address, so that they are logged rather than lost without a word.
func resolvConfNameservers(path: String = "/etc/resolv.conf") -> (servers: [SocketAddress], rejected: [String]) {
    guard let file = fopen(path, "r") else { return ([], []) }
    defer { fclose(file) }
    var servers: [SocketAddress] = []
    var rejected: [String] = []
    var line: UnsafeMutablePointer<CChar>?
    var capacity = 0
    while servers.count < maxResolvConfServers, rejected.count < maxResolvConfServers,
          getline(&line, &capacity, file) > 0, let text = line {
        let fields = String(cString: text).split(whereSeparator: isResolvConfBlank)
        guard fields.count >= 2, fields[0] == "nameserver" else { continue }
        let host = String(fields[1].prefix { $0 != ";" && $0 != "#" })
        // Empty or bracketed would reach SocketAddress as `:53` or `[]:53`, which mean 0.0.0.0.
        guard !host.isEmpty, !host.contains("["), !host.contains("]"), let server = try? SocketAddress(host.contains(":") ? "[\(host)]:53" : "\(host):53") else {
            rejected.append(String(fields[1].prefix(64)))
            continue
        }
        servers.append(server)
    }
    free(line)
    return (servers, rejected)
}

/// A blank between resolv.conf's fields; CR LF is one Character.
private func isResolvConfBlank(_ c: Character) -> Bool {
    c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\r\n"
}

/// glibc reads 3 `nameserver` lines; a few more are allowed, not a file's worth.
let maxResolvConfServers = 16
