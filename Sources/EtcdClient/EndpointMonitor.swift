import Logging
import Synchronization

/// How one etcd endpoint answered its last health probes.
public struct EtcdEndpointHealth: Sendable, Equatable {
    /// The endpoint URL without user information.
    public var endpoint: String
    public var responsive: Bool
    /// Unix time of the last change between responsive and not.
    public var since: Double
    /// Why the last probe failed; empty while responsive.
    public var reason: String
}

/// Probes etcd's endpoints beside the watch, so that a member that accepts connections and never
/// answers (stopped, wedged, a proxy in front of a dead member) is found within seconds, not
/// after a watch's idle timeout: `GET /health` with a short timeout, the endpoint in use every
/// `interval`, one of the others per round when it was last probed `idleInterval` ago. Two failures in a row of the endpoint in use
/// call `onSilent` with its position in the ring.
final class EndpointMonitor: Sendable {
    static let interval = 3.0
    static let idleInterval = 30.0
    static let timeout = 2.0
    static let failuresBeforeSilent = 2
    static let maxBody = 4096

    private let config: EtcdClientConfig
    private let endpoints: EndpointRing
    private let logger: Logger
    private let isStopped: @Sendable () -> Bool
    private let sleep: @Sendable (Double) -> Void
    private let onSilent: @Sendable (Int, String) -> Void
    private let state: Mutex<[EtcdEndpointHealth]>

    init(config: EtcdClientConfig, endpoints: EndpointRing, logger: Logger, isStopped: @escaping @Sendable () -> Bool,
         sleep: @escaping @Sendable (Double) -> Void, onSilent: @escaping @Sendable (Int, String) -> Void) {
        self.config = config
        self.endpoints = endpoints
        self.logger = logger
        self.isStopped = isStopped
        self.sleep = sleep
        self.onSilent = onSilent
        let now = wallClockNow()
        state = Mutex((0..<endpoints.count).map {
            EtcdEndpointHealth(endpoint: redactingUserInfo(endpoints.url(at: $0)), responsive: true, since: now, reason: "")
        })
    }

    var health: [EtcdEndpointHealth] { state.withLock { $0 } }

    func start() {
        do {
            try startThread { [self] in run() }
        } catch {
            logger.warning("etcd: no thread for endpoint health probes (\(error)); a silent endpoint is found by the watch's idle timeout only")
        }
    }

    private func run() {
        let connections = (0..<endpoints.count).map { index in
            EtcdConnection(config: config, endpoints: endpoints, pinned: index) { [isStopped = self.isStopped] _ in isStopped() }
        }
        var failures = [Int](repeating: 0, count: endpoints.count)
        var lastProbe = [Double](repeating: 0, count: endpoints.count)
        while !isStopped() {
            let inUse = endpoints.current().index
            // The endpoint in use every round; of the others, the one probed longest ago, if that
            // was `idleInterval` ago: a long list of dead endpoints never delays the one in use.
            var due = [inUse]
            if let idle = connections.indices.filter({ $0 != inUse }).min(by: { lastProbe[$0] < lastProbe[$1] }),
               MonotonicClock.now - lastProbe[idle] >= Self.idleInterval {
                due.append(idle)
            }
            for index in due {
                guard !isStopped() else { return }
                lastProbe[index] = MonotonicClock.now
                let failure = probe(connections[index])
                failures[index] = failure == nil ? 0 : failures[index] &+ 1
                record(index, failure)
                if let failure, index == inUse, failures[index] == Self.failuresBeforeSilent {
                    onSilent(index, failure)
                }
            }
            // A first failure of the endpoint in use is confirmed at once rather than a round later.
            if !(1..<Self.failuresBeforeSilent).contains(failures[inUse]) { sleep(Self.interval) }
        }
    }

    /// nil when the endpoint answered healthy in time, else why not.
    private func probe(_ connection: EtcdConnection) -> String? {
        do {
            // At most a few KiB of the answer are kept: an endpoint is not trusted to send little.
            var body: [UInt8] = []
            let response = try connection.send(path: "/health", totalTimeout: Self.timeout) { chunk in
                body += chunk.prefix(Self.maxBody - body.count)
                return body.count < Self.maxBody
            }
            if response.ending == .timedOut { return "no complete answer to /health within \(Int(Self.timeout)) s" }
            return response.status == 200 ? nil : "/health answered HTTP \(response.status): \(bodySummary(body))"
        } catch EtcdError.transport(let message) where message.contains("Timeout") || message.contains("timed out") {
            return "no answer to /health within \(Int(Self.timeout)) s"
        } catch {
            return "\(error)"
        }
    }

    private func record(_ index: Int, _ failure: String?) {
        let change = state.withLock { all -> EtcdEndpointHealth? in
            var entry = all[index]
            let responsive = failure == nil
            let flipped = entry.responsive != responsive
            if flipped { entry.since = wallClockNow() }
            entry.responsive = responsive
            entry.reason = failure ?? ""
            all[index] = entry
            return flipped ? entry : nil
        }
        guard let change else { return }
        if change.responsive {
            logger.info("etcd: endpoint \(change.endpoint) answers again")
        } else {
            logger.warning("etcd: endpoint \(change.endpoint) does not answer: \(change.reason)")
        }
    }
}

/// `http://user:secret@host:2379` → `http://host:2379`, for logs, probes and metric labels.
func redactingUserInfo(_ url: String) -> String {
    guard let schemeEnd = url.firstRange(of: "://") else { return url }
    let rest = url[schemeEnd.upperBound...]
    let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
    guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
    return String(url[..<schemeEnd.upperBound]) + String(rest[rest.index(after: at)...])
}
