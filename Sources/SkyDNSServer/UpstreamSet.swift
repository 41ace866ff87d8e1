import DNSWire
import Logging
import Synchronization

/// The upstream nameservers and what the forwarder knows of their health: the order to ask them
/// in (rotated with `-ns-rotate`), which ones to pass over for a while, and the counting and
/// logging of every exchange with them.
final class UpstreamSet: Sendable {
    private struct Health {
        var downUntil: Double
        var lastProbe: Double
        /// It failed by sending the query back to us.
        var looped = false
    }

    static let downSeconds = 5.0
    static let probeInterval = 1.0

    private let servers = Mutex<[SocketAddress]>([])
    private let health = Mutex<[String: Health]>([:])
    private let nextUpstream = Atomic<Int>(0)
    private let rotate: Bool
    /// Where this server listens: an upstream that is this address is never used.
    private let listen: SocketAddress?
    private let logger: Logger
    private let metrics: ServerMetrics?
    /// Loop warnings, from here and from the workers that see a query come back: one a minute.
    let loopWarning = RateLimitedWarning(interval: .seconds(60))

    init(rotate: Bool, listen: SocketAddress?, logger: Logger, metrics: ServerMetrics?) {
        self.rotate = rotate
        self.listen = listen
        self.logger = logger
        self.metrics = metrics
    }

    var isEmpty: Bool { servers.withLock { $0.isEmpty } }

    /// Uses `configured` from now on, less any that is this server itself (from `-nameservers`,
    /// resolv.conf or `/skydns/config` alike): forwarding to ourselves would loop.
    func set(_ configured: [SocketAddress]) {
        var kept: [SocketAddress] = []
        for server in configured {
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
        if kept.isEmpty && !configured.isEmpty {
            logger.warning("every upstream is this server itself: names outside the domain will get SERVFAIL")
        }
        servers.withLock { $0 = kept }
    }

    /// The configured servers, starting one further along at each call with `-ns-rotate`.
    func ordered() -> [SocketAddress] {
        let list = servers.withLock { $0 }
        guard rotate, list.count > 1 else { return list }
        let start = nextUpstream.add(1, ordering: .relaxed).newValue % list.count
        return Array(list[start...] + list[..<start])
    }

    /// An upstream that just failed is passed over for `downSeconds`, so that a dead or
    /// black-holed server does not cost every query a full timeout: healthy servers first, then
    /// at most one probe a second to each server that is down. Empty when every server is down
    /// and was probed within the second: SERVFAIL at once.
    func candidates(_ list: [SocketAddress]) -> [SocketAddress] {
        let now = monotonicNow()
        return health.withLock { health in
            var up: [SocketAddress] = []
            var probes: [SocketAddress] = []
            for server in list {
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

    /// Whether one of `list` was last passed over for sending queries back to us.
    func isLooping(_ list: [SocketAddress]) -> Bool {
        health.withLock { health in list.contains { health[$0.description]?.looped == true } }
    }

    /// One exchange with `server` ended with `result` after `nanoseconds`: counted (under its
    /// address), logged when it failed, remembered for its health.
    func observe(_ server: SocketAddress, _ result: Result<Message, UpstreamExchange.Failure>, nanoseconds: Int64) {
        metrics?.upstream(server.description).countExchange(result, nanoseconds: nanoseconds)
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
        let now = monotonicNow()
        health.withLock { health in
            switch result {
            case .success:
                health[server.description] = nil
            case .failure(let failure):
                if health[server.description] == nil && failure != .loop {
                    logger.warning("upstream \(server) is not answering; passing it over for \(Self.downSeconds) s at a time")
                }
                health[server.description] = Health(downUntil: now + Self.downSeconds, lastProbe: now,
                                                    looped: failure == .loop)
            }
        }
    }
}
