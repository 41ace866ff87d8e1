#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
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

    init(logger: Logger, verbose: Bool, hiddenKeys: HiddenKeyResolver?, firstRead: FirstReadFallback? = nil,
         forwarder: Forwarder?, metrics: ServerMetrics = ServerMetrics()) {
        self.logger = logger
        self.verbose = verbose
        self.hiddenKeys = hiddenKeys
        self.firstRead = firstRead
        self.forwarder = forwarder
        self.metrics = metrics
    }

}

/// A responder that answers by the same rules wherever an answer is made (a UDP worker, a TCP
/// connection, the hidden-key and first-read threads, a forwarder thread): RA set when the
/// server forwards (`forwarder` not nil); names outside the domain resolved through the
/// upstreams when `mayWait` (otherwise the answer comes back as `.needsExternal`, to be handed
/// to a forwarder thread), and resolved to nothing with `-no-rec`, as in SkyDNS (a CNAME to one
/// is dropped, an SRV keeps its target without addresses).
func makeResponder(forwarder: Forwarder?, mayWait: Bool) -> QueryResponder {
    guard let forwarder else {
        let responder = QueryResponder(recursionAvailable: false)
        responder.external = { _, _ in nil }
        return responder
    }
    return mayWait ? forwarder.makeResponder() : QueryResponder(recursionAvailable: true)
}

enum Transport { case udp, tcp }

/// One worker's query path, shared by UDP and TCP: the responder, then what lies outside it
/// (names outside the domain, hidden etcd v2 keys, per-query logging).
final class QueryHandler {
    let context: ServerContext
    private let responder: QueryResponder

    init(context: ServerContext) {
        self.context = context
        responder = makeResponder(forwarder: context.forwarder, mayWait: false)
    }

    var logger: Logger { context.logger }

    enum Result {
        case reply
        case none
        /// The answer waits for an etcd v2 read of a hidden key (see `HiddenKeyResolver`).
        case parked(path: [String])
        /// A REFUSED reply is in the writer, but the name's own keys may answer it while the
        /// first read of etcd goes on (see `FirstReadFallback`).
        case notLoaded(path: [String])
        /// The answer waits for upstream servers (see `Forwarder`).
        case forward(Forwarder.Job.Kind)
    }

    /// Answers a query that `answer` handed on, here and now: for TCP connections and tests,
    /// whose thread may wait.
    func answerWaiting(_ packet: [UInt8], kind: Forwarder.Job.Kind, into writer: inout WireWriter) -> [UInt8]? {
        guard let forwarder = context.forwarder else { return nil }
        return forwarder.handle(kind, packet: packet, transport: .tcp, responder: forwarder.makeResponder(), writer: &writer)
    }

    /// Answers a `.notLoaded` query from the name's own keys, here and now (TCP, whose thread
    /// may wait for etcd); when they cannot answer it, the writer holds REFUSED.
    func answerNotLoaded(path: [String], packet: UnsafeRawBufferPointer, into writer: inout WireWriter) {
        if context.firstRead?.answerNow(path: path, packet: packet, responder: responder, maxUDPSize: nil,
                                        into: &writer) != true {
            responder.reply(to: packet, rcode: .refused, into: &writer)
        }
    }

    func answer(_ packet: UnsafeRawBufferPointer, snapshot: Snapshot, transport: Transport,
                into writer: inout WireWriter) -> Result {
        let outcome = responder.respond(to: packet, snapshot: snapshot,
                                        maxUDPSize: transport == .udp ? UDPWorker.maxResponseSize : nil, into: &writer)
        switch outcome {
        case .drop:
            return .none
        case .outsideZone(let query):
            return outsideZone(query, packet: packet, snapshot: snapshot, transport: transport, into: &writer)
        case .needsExternal:
            return context.forwarder == nil ? .none : .forward(.completeAnswer)
        case .notLoaded:
            guard context.firstRead?.isAvailable == true else {
                logQuery(rcode: .refused, packet: packet)
                return .reply
            }
            return .notLoaded(path: FirstReadFallback.path(lowercasedName: responder.lastQueryName))
        case .answered(let rcode):
            if rcode == .nxDomain, let hiddenKeys = context.hiddenKeys {
                switch hiddenKeys.lookup(lowercasedName: responder.lastQueryName) {
                case .fetch(let path): return .parked(path: path)
                case .unavailable: return reply(.servFail, packet: packet, into: &writer)
                case nil: break
                }
            }
            logQuery(rcode: rcode, packet: packet)
            return .reply
        }
    }

    /// SkyDNS's rules for names outside the domain: a query that came back around a
    /// forwarding loop is not forwarded again (see `ForwardingLoop`); stub zones first (a query
    /// already marked as forwarded by a stub is dropped, to stop loops); names other than the
    /// root with fewer than `-ndots` labels, which are not forwarded, get NXDOMAIN without an
    /// SOA (stub resolvers stop there, caches keep nothing: RFC 2308 §5); servers without
    /// upstreams get SERVFAIL; `-no-rec` refuses; cached answers are answered here; the rest
    /// goes upstream.
    private func outsideZone(_ query: QueryView, packet: UnsafeRawBufferPointer, snapshot: Snapshot,
                             transport: Transport, into writer: inout WireWriter) -> Result {
        guard let forwarder = context.forwarder else {
            return reply(.refused, packet: packet, into: &writer)
        }
        // The whole query is read only when something below needs more than the question.
        let message = query.edns != nil || !snapshot.stubZones.isEmpty || forwarder.cache != nil
            ? try? Message(parsing: Array(packet)) : nil
        if let message, forwarder.loop.hasLooped(message) {
            forwarder.loopWarning.log(logger, """
                forwarding loop: a query this server forwarded came back to it; answering SERVFAIL instead of \
                forwarding it again. Name upstreams that do not lead back here in -nameservers \
                (SKYDNS_NAMESERVERS); in Kubernetes run the server with dnsPolicy: Default
                """)
            writer.reset()
            writer.writeBytes(ForwardingLoop.loopReply(to: message))
            logQuery(rcode: .servFail, packet: packet)
            return .reply
        }
        if !snapshot.stubZones.isEmpty, let message, let name = message.questions.first?.name,
           let stub = snapshot.stubZone(for: name) {
            if message.edns?.options.contains(where: { $0.code == stubForwardMarker }) == true { return .none }
            return .forward(.forward(stub: stub.servers.compactMap { try? SocketAddress($0) }))
        }
        let labels = responder.lastQueryName.reduce(into: (count: 0, skip: 0)) { state, byte in
            if state.skip == 0 {
                if byte != 0 { state.count += 1 }
                state.skip = Int(byte)
            } else {
                state.skip -= 1
            }
        }.count
        // The root is never a search-list candidate, and resolvers probe their upstreams with it.
        guard labels >= forwarder.ndots || labels == 0 else { return reply(.nxDomain, packet: packet, into: &writer) }
        guard forwarder.hasUpstreams else { return reply(.servFail, packet: packet, into: &writer) }
        if let cache = forwarder.cache, let message, let hit = cache.lookup(ResponseCache.Key(message)) {
            let limit = ForwardedReply.sizeLimit(for: message, transport: transport, maxUDPSize: UDPWorker.maxResponseSize)
            writer.reset()
            writer.writeBytes(ForwardedReply.fit(hit, to: message, maxSize: limit))
            logQuery(rcode: ResponseCode(rawValue: writer.bytes[3] & 0x0F), packet: packet)
            return .reply
        }
        return .forward(.forward(stub: nil))
    }

    func overloaded(_ packet: UnsafeRawBufferPointer, into writer: inout WireWriter) {
        responder.reply(to: packet, rcode: .servFail, into: &writer)
    }

    private func reply(_ rcode: ResponseCode, packet: UnsafeRawBufferPointer, into writer: inout WireWriter) -> Result {
        responder.reply(to: packet, rcode: rcode, into: &writer)
        logQuery(rcode: rcode, packet: packet)
        return .reply
    }

    private func logQuery(rcode: ResponseCode, packet: UnsafeRawBufferPointer) {
        guard context.verbose else { return }
        let message = try? Message(parsing: Array(packet))
        let question = message?.questions.first.map { "\($0.name) \($0.type)" } ?? "?"
        context.logger.info("query \(question): \(rcode)")
    }
}

/// The EDNS0 option SkyDNS puts on queries it forwards to a stub zone's servers, and by which
/// it recognises (and drops) a query that has come back around.
let stubForwardMarker: UInt16 = 65011
