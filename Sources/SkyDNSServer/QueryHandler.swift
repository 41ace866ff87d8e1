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

    init(logger: Logger, verbose: Bool, hiddenKeys: HiddenKeyResolver?) {
        self.logger = logger
        self.verbose = verbose
        self.hiddenKeys = hiddenKeys
    }
}

enum Transport { case udp, tcp }

/// One worker's query path, shared by UDP and TCP: the responder, then what lies outside it
/// (names outside the domain, hidden etcd v2 keys, per-query logging).
final class QueryHandler {
    let context: ServerContext
    private let responder = QueryResponder()

    init(context: ServerContext) {
        self.context = context
    }

    var logger: Logger { context.logger }

    enum Result {
        case reply
        case none
        /// The answer waits for an etcd v2 read of a hidden key (see `HiddenKeyResolver`).
        case parked(path: [String])
    }

    func answer(_ packet: UnsafeRawBufferPointer, snapshot: Snapshot, transport: Transport,
                into writer: inout WireWriter) -> Result {
        let outcome = responder.respond(to: packet, snapshot: snapshot,
                                        maxUDPSize: transport == .udp ? UDPWorker.maxResponseSize : nil, into: &writer)
        switch outcome {
        case .drop:
            return .none
        case .outsideZone(let query):
            // Forwarding is not part of this build yet: say so rather than time the client out.
            responder.beginResponse(query, packet: packet, rcode: .refused, authoritative: false, into: &writer)
            responder.endResponse(query, answers: 0, authorities: 0, additionals: 0, truncated: false, into: &writer)
            logQuery(rcode: .refused, packet: packet)
            return .reply
        case .answered(let rcode):
            if rcode == .nxDomain, let hiddenKeys = context.hiddenKeys,
               let path = hiddenKeys.pathToFetch(lowercasedName: responder.lastQueryName, zone: snapshot.zone) {
                return .parked(path: path)
            }
            logQuery(rcode: rcode, packet: packet)
            return .reply
        }
    }

    private func logQuery(rcode: ResponseCode, packet: UnsafeRawBufferPointer) {
        guard context.verbose else { return }
        let message = try? Message(parsing: Array(packet))
        let question = message?.questions.first.map { "\($0.name) \($0.type)" } ?? "?"
        context.logger.info("query \(question): \(rcode)")
    }
}
