import DNSWire
import SkyDNSStore

/// What SkyDNS's rules decide for a query for a name outside the domain before the response
/// cache is asked, read from the parse alone. The one statement of those rules: the receive
/// path writes a cache hit straight from the receive buffer only when `cacheEligible`, and
/// `QueryHandler.outsideZone` applies them in order, so a rule changed here reaches both.
struct OutsideZoneRules: Equatable, Sendable {
    /// A rule that reads the query as a message may apply, and goes first: the client's OPT
    /// options may carry the forwarding loop's mark (see `ForwardingLoop`) or the stub-zone
    /// marker, or stub zones are configured (the name may lie in one).
    let readsMessage: Bool
    /// The reply when the query is not to go upstream: NXDOMAIN for a name other than the root
    /// with fewer than `-ndots` labels (not forwarded; stub resolvers stop there and caches keep
    /// nothing, RFC 2308 §5), else SERVFAIL when there are no upstreams. nil: the cache, then upstream.
    let answer: ResponseCode?

    /// Whether a reply kept in the response cache may answer the query as it stands: no rule
    /// that reads the message applies and none answers it.
    var cacheEligible: Bool { !readsMessage && answer == nil }

    /// - Parameters:
    ///   - labelCount: the question name's labels (0: the root, which resolvers probe their
    ///     upstreams with and is never a search-list candidate).
    ///   - hasOptions: the query's OPT record holds options (RFC 6891 §6.1.2).
    init(labelCount: Int, hasOptions: Bool, hasStubZones: Bool, ndots: Int, hasUpstreams: Bool) {
        readsMessage = hasOptions || hasStubZones
        if labelCount < ndots && labelCount != 0 {
            answer = .nxDomain
        } else {
            answer = hasUpstreams ? nil : .servFail
        }
    }
}

extension Forwarder {
    /// SkyDNS's rules before the cache for the query `view`, with the stub zones of `snapshot`.
    /// Allocates nothing.
    func rules(for view: QueryView, snapshot: Snapshot) -> OutsideZoneRules {
        OutsideZoneRules(labelCount: view.labelCount, hasOptions: !(view.edns?.options.isEmpty ?? true),
                         hasStubZones: !snapshot.stubZones.isEmpty, ndots: ndots, hasUpstreams: hasUpstreams)
    }
}
