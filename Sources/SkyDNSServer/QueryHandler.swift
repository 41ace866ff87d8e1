#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSSEC
import DNSWire
import Logging
import SkyDNSStore

/// What every worker shares: settings and the services a query may need besides the snapshot.
final class ServerContext: Sendable {
    let logger: Logger
    let verbose: Bool
    let hiddenKeys: HiddenKeyResolver?
    let firstRead: FirstReadFallback?
    /// nil with `-no-rec`: names outside the domain are refused.
    let forwarder: Forwarder?
    let metrics: ServerMetrics
    /// `-dnssec`: signs answers to queries with DO set.
    let signer: ZoneSigner?

    init(logger: Logger, verbose: Bool, hiddenKeys: HiddenKeyResolver?, firstRead: FirstReadFallback? = nil,
         forwarder: Forwarder?, metrics: ServerMetrics = ServerMetrics(), signer: ZoneSigner? = nil) {
        self.logger = logger
        self.verbose = verbose
        self.hiddenKeys = hiddenKeys
        self.firstRead = firstRead
        self.forwarder = forwarder
        self.metrics = metrics
        self.signer = signer
    }

    /// RA in every reply: set when the server forwards (RFC 1035 §4.1.1), clear with `-no-rec`.
    var recursionAvailable: Bool { forwarder != nil }
}

/// The one place responders are built, so that every answer follows the same rules wherever it
/// is made (a UDP worker, a TCP loop, a forwarder or etcd-read thread): RA set when the server
/// forwards (`forwarder` not nil); out-of-zone data (CNAME, SRV and MX targets outside the
/// domain) resolved through the upstreams when `resolvingOutside` (a thread that may wait;
/// otherwise the outcome is `.outOfZoneData`, to be handed to the forwarder), and resolved to
/// nothing with `-no-rec`, as in SkyDNS (a CNAME to one is dropped, an SRV keeps its target
/// without addresses).
func makeResponder(forwarder: Forwarder?, resolvingOutside: Bool) -> QueryResponder {
    let responder = QueryResponder(recursionAvailable: forwarder != nil)
    if let forwarder {
        if resolvingOutside { responder.external = { name, type in forwarder.resolve(name, type: type) } }
    } else {
        responder.external = { _, _ in [] }
    }
    return responder
}

/// One worker's query path, shared by UDP and TCP: parse once and decide once (the responder),
/// then what lies outside the store (names outside the domain, hidden etcd v2 keys, names the
/// first read has not reached), handed with the parsed query and a reply writer to the slow
/// path that answers it; per-query metrics and logging from the parse.
final class QueryHandler {
    let context: ServerContext
    private let responder: QueryResponder
    /// The worker's metrics block: counted here, where the question's type is known.
    private let metrics: MetricsBlock
    private let signing: ResponseSigning?
    /// The worker's own upstream engine, when it runs one (see `Forwarder.makeWorkerEngine`).
    private let engine: UpstreamEngine?

    init(context: ServerContext, metrics: MetricsBlock, engine: UpstreamEngine? = nil) {
        self.context = context
        self.metrics = metrics
        self.engine = engine
        responder = makeResponder(forwarder: context.forwarder, resolvingOutside: false)
        signing = context.signer.map(ResponseSigning.init)
    }


    var logger: Logger { context.logger }

    /// Answers `packet`. True when `writer` holds the reply to send now (counted); false when
    /// there is nothing to send now: the query was dropped (counted), or handed with a reply
    /// writer made from `origin` to a slow path, which replies through it.
    /// - Parameter received: when the transport read the query (monotonic nanoseconds).
    func answer(_ packet: UnsafeRawBufferPointer, snapshot: Snapshot, origin: ReplyOrigin, received: Int64,
                into writer: inout WireWriter) -> Bool {
        let maxUDPSize = origin.transport == .udp ? UDPWorker.maxResponseSize : nil
        // A signed answer is made whole, then cut to size with its signatures.
        let signedLimit = signing?.signedAnswerLimit(packet, transport: origin.transport)
        switch responder.respond(to: packet, snapshot: snapshot, maxUDPSize: signedLimit == nil ? maxUDPSize : nil,
                                 into: &writer) {
        case .drop:
            metrics.add(MetricsBlock.Slot.dropped)
            return false
        case .answered(let rcode, let query):
            if rcode == .nxDomain, let query, let hiddenKeys = context.hiddenKeys {
                let name = UnsafeRawBufferPointer(rebasing: packet[Header.size..<(Header.size + query.nameLength)])
                switch hiddenKeys.lookup(name: name) {
                case .fetch(let path):
                    let parsed = ParsedQuery(packet: packet, view: query, received: received)
                    let reply = makeAnswerWriter(origin, parsed)
                    if !hiddenKeys.park(path: path, query: parsed, writer: reply) {
                        // Too many already wait for etcd: say so at once.
                        reply.refuse(.servFail)
                    }
                    return false
                case .unavailable:
                    return reply(.servFail, to: query, packet: packet, into: &writer)
                case nil:
                    break
                }
            }
            if let signedLimit, let signing, !signing.sign(&writer, maxSize: signedLimit), writer.count > signedLimit {
                // Not the domain's to sign (a refusal, a reverse name): answered again within the usual limit.
                _ = responder.respond(to: packet, snapshot: snapshot, maxUDPSize: maxUDPSize, into: &writer)
            }
            return sent(rcode, query: query, packet: packet, writer: writer)
        case .outsideZone(let query):
            let cached = cachedReply(to: query, packet: packet, snapshot: snapshot, origin: origin, into: &writer)
            if case .written(let rcode) = cached { return sent(rcode, query: query, packet: packet, writer: writer) }
            return outsideZone(ParsedQuery(packet: packet, view: query, received: received), snapshot: snapshot,
                               origin: origin, askCache: cached != .miss, into: &writer)
        case .outOfZoneData(let query):
            guard let forwarder = context.forwarder else {
                metrics.add(MetricsBlock.Slot.dropped)
                return false
            }
            let parsed = ParsedQuery(packet: packet, view: query, received: received)
            handOff(Forwarder.Job(kind: .completeAnswer, query: parsed, writer: makeAnswerWriter(origin, parsed)), to: forwarder)
            return false
        case .notLoaded(let query):
            // The REFUSED in the writer goes out unless the name's own keys can be read.
            guard let firstRead = context.firstRead, firstRead.isAvailable else {
                return sent(.refused, query: query, packet: packet, writer: writer)
            }
            let parsed = ParsedQuery(packet: packet, view: query, received: received)
            let reply = makeAnswerWriter(origin, parsed)
            if !firstRead.park(path: parsed.path, query: parsed, writer: reply) { reply.refuse(.refused) }
            return false
        }
    }

    /// SkyDNS's rules for names outside the domain (see `OutsideZoneRules`), in order: a query
    /// that came back around a forwarding loop is not forwarded again (see `ForwardingLoop`);
    /// stub zones first (a query already marked as forwarded by a stub is dropped, to stop
    /// loops); names with too few labels get NXDOMAIN without an SOA, servers without upstreams
    /// SERVFAIL; `-no-rec` refuses; cached answers are answered here; the rest goes upstream.
    /// `askCache` false: the cache has been asked (see `cachedReply`) and has nothing.
    private func outsideZone(_ query: ParsedQuery, snapshot: Snapshot, origin: ReplyOrigin, askCache: Bool,
                             into writer: inout WireWriter) -> Bool {
        guard let forwarder = context.forwarder else { return reply(.refused, to: query, into: &writer) }
        let rules = forwarder.rules(for: query.view, snapshot: snapshot)
        // The query as a message only when something below reads more than the question (nil:
        // malformed OPT options, which the forwarder answers FORMERR).
        let message = rules.readsMessage || forwarder.cache != nil ? query.message : nil
        if rules.readsMessage, let message, forwarder.loop.hasLooped(message) {
            forwarder.loopWarning.log(logger, """
                forwarding loop: a query this server forwarded came back to it; answering SERVFAIL instead of \
                forwarding it again. Name upstreams that do not lead back here in -nameservers \
                (SKYDNS_NAMESERVERS); in Kubernetes run the server with dnsPolicy: Default
                """)
            writer.reset()
            writer.writeBytes(ForwardingLoop.loopReply(to: message))
            return sent(.servFail, query: query, writer: writer)
        }
        if rules.readsMessage, let message, let name = message.questions.first?.name,
           let stub = snapshot.stubZone(for: name) {
            if message.edns?.options.contains(where: { $0.code == stubForwardMarker }) == true {
                metrics.add(MetricsBlock.Slot.dropped)
                return false
            }
            let servers = stub.servers.compactMap { try? SocketAddress($0) }
            handOff(Forwarder.Job(kind: .forward(stub: servers), query: query, writer: makeWriter(origin, query)),
                    to: forwarder)
            return false
        }
        if let rcode = rules.answer { return reply(rcode, to: query, into: &writer) }
        if askCache, let cache = forwarder.cache, let message {
            let limit = Self.sizeLimit(query.view, transport: origin.transport)
            let cached = query.packet.withUnsafeBytes { cache.reply(to: query.view, packet: $0, maxSize: limit, into: &writer) }
            if case .written(let rcode) = cached { return sent(rcode, query: query, writer: writer) }
            if cached == .needsFitting, let hit = cache.lookup(ResponseCache.Key(message), countingMiss: false) {
                writer.reset()
                writer.writeBytes(ForwardedReply.fit(hit, to: message, maxSize: limit))
                return sent(ResponseCode(rawValue: writer.bytes[3] & 0x0F), query: query, writer: writer)
            }
        }
        handOff(Forwarder.Job(kind: .forward(stub: nil), query: query, writer: makeWriter(origin, query)), to: forwarder)
        return false
    }

    /// A forwarded answer kept in the response cache, written as kept (`ResponseCache.reply(to:…)`)
    /// before anything is copied out of `packet`, for a query `OutsideZoneRules` finds
    /// `cacheEligible`. Any other query gets `.needsFitting`: `outsideZone` asks the cache in its turn.
    private func cachedReply(to query: QueryView, packet: UnsafeRawBufferPointer, snapshot: Snapshot,
                             origin: ReplyOrigin, into writer: inout WireWriter) -> ResponseCache.WireHit {
        guard let forwarder = context.forwarder, let cache = forwarder.cache,
              forwarder.rules(for: query, snapshot: snapshot).cacheEligible
        else { return .needsFitting }
        return cache.reply(to: query, packet: packet, maxSize: Self.sizeLimit(query, transport: origin.transport),
                           into: &writer)
    }

    /// The largest reply `query` may receive (see `ForwardedReply.sizeLimit`).
    private static func sizeLimit(_ query: QueryView, transport: Transport) -> Int {
        transport == .udp ? min(query.udpLimit, UDPWorker.maxResponseSize) : 65535
    }

    private func makeWriter(_ origin: ReplyOrigin, _ query: ParsedQuery) -> any ReplyWriter {
        origin.writer(for: query, recursionAvailable: context.recursionAvailable, metrics: context.metrics)
    }

    /// The writer of an answer from the store completed on a slow path: signed on its way out
    /// when the query asks for DNSSEC records (see `SigningReplyWriter`).
    private func makeAnswerWriter(_ origin: ReplyOrigin, _ query: ParsedQuery) -> any ReplyWriter {
        let writer = makeWriter(origin, query)
        guard let signer = context.signer, query.view.edns?.dnssecOK == true else { return writer }
        return SigningReplyWriter(writer, signer: signer)
    }

    private func handOff(_ job: Forwarder.Job, to forwarder: Forwarder) {
        guard !forwarder.submit(job, ownEngine: engine) else { return }
        // Too much is waiting on upstreams already: say so at once.
        metrics.add(MetricsBlock.Slot.queueFull)
        job.writer.refuse(.servFail)
    }

    private func reply(_ rcode: ResponseCode, to query: QueryView, packet: UnsafeRawBufferPointer,
                       into writer: inout WireWriter) -> Bool {
        responder.reply(to: query, packet: packet, rcode: rcode, into: &writer)
        return sent(rcode, query: query, packet: packet, writer: writer)
    }

    private func reply(_ rcode: ResponseCode, to query: ParsedQuery, into writer: inout WireWriter) -> Bool {
        query.packet.withUnsafeBytes { packet in
            responder.reply(to: query.view, packet: packet, rcode: rcode, into: &writer)
        }
        return sent(rcode, query: query, writer: writer)
    }

    /// Counts and logs a reply that is in `writer`, to be sent now.
    /// - Parameter querySize: the client's message size, when `packet` is not all of it.
    private func sent(_ rcode: ResponseCode, query: QueryView?, packet: UnsafeRawBufferPointer, querySize: Int? = nil,
                      writer: WireWriter) -> Bool {
        writer.bytes.withUnsafeBytes { reply in
            metrics.answered(type: query?.type, querySize: querySize ?? packet.count, typeFrom: query == nil ? packet : nil,
                             reply: reply)
        }
        if context.verbose { logQuery(rcode: rcode, question: query.map { (packet, $0) }) }
        return true
    }

    private func sent(_ rcode: ResponseCode, query: ParsedQuery, writer: WireWriter) -> Bool {
        query.packet.withUnsafeBytes { sent(rcode, query: query.view, packet: $0, querySize: query.size, writer: writer) }
    }

    private func logQuery(rcode: ResponseCode, question: (packet: UnsafeRawBufferPointer, view: QueryView)?) {
        let text = question.map { packet, view in
            let name = (try? DomainName(wire: packet[Header.size..<(Header.size + view.nameLength)])) ?? .root
            return "\(name) \(view.type)"
        } ?? "?"
        context.logger.info("query \(text): \(rcode)")
    }
}

/// The EDNS0 option SkyDNS puts on queries it forwards to a stub zone's servers, and by which
/// it recognises (and drops) a query that has come back around.
let stubForwardMarker: UInt16 = 65011
