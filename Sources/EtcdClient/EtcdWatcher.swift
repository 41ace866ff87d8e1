import Logging
import SkyDNSStore

/// Keeps the record store current with everything under the configured prefix: one full read
/// (`StoreChange.replaceAll`), then a watch, with failover between endpoints, reconnects that
/// resume from the last applied revision, and a full re-read whenever etcd cannot replay the gap.
public final class EtcdWatcher: @unchecked Sendable {
    // Safe to share between threads: the mutable fields below are only touched under
    // `condition`; `onChanges` calls are serialised by `deliveryLock`; everything else is
    // immutable or Sendable. Each background thread owns its own connection.
    let config: EtcdClientConfig
    let logger: Logger
    private let onChanges: @Sendable ([StoreChange]) -> Void
    private let onStateChange: @Sendable (EtcdConnectionState) -> Void
    let endpoints: EndpointRing
    private let condition = ConditionLock()
    /// Recursive so that a consumer calling stop() from inside onChanges does not deadlock.
    private let deliveryLock = ConditionLock(recursive: true)

    private var started = false
    var stopped = false
    var api: EtcdAPI?
    var lastState: EtcdConnectionState?
    /// Paths fetched by fetchHidden and watched since; v2 full reads re-read them because a
    /// recursive listing of the prefix leaves them out.
    var hiddenPaths: Set<String> = []
    var hiddenWatchLimitLogged = false

    /// How often an empty keyspace is re-checked against the other API when detecting.
    static let probeInterval = 1.0
    /// fetchHidden watches at most this many paths; each one holds a thread and a connection.
    static let maxHiddenWatches = 256

    public init(
        config: EtcdClientConfig, logger: Logger,
        onChanges: @escaping @Sendable ([StoreChange]) -> Void,
        onStateChange: @escaping @Sendable (EtcdConnectionState) -> Void = { _ in }
    ) {
        var config = config
        while config.prefix.hasSuffix("/") { config.prefix.removeLast() }
        self.config = config
        self.logger = logger
        self.onChanges = onChanges
        self.onStateChange = onStateChange
        self.endpoints = EndpointRing(config.endpoints)
        self.api = config.api
    }

    /// Spawns the background thread; returns immediately. The first full read (`.replaceAll`, or
    /// `.firstReadPage`s) arrives through onChanges as soon as it completes.
    public func start() {
        let first = locked { () -> Bool in
            defer { started = true }
            return !started && !stopped
        }
        guard first else { return }
        report(.connecting)
        do {
            try startThread { [self] in runMain() }
        } catch {
            report(.disconnected(reason: "no thread to follow etcd with (\(error))"))
        }
        let monitor = EndpointMonitor(
            config: config, endpoints: endpoints, logger: logger, isStopped: { [weak self] in self?.isStopped ?? true },
            sleep: { [weak self] in self?.pause($0) },
            onSilent: { [weak self] index, reason in self?.abandon(endpoint: index, reason) })
        locked { self.monitor = monitor }
        monitor.start()
    }

    /// Probes the endpoints beside the watch; set by start().
    var monitor: EndpointMonitor?
    /// An endpoint the monitor found silent while the ring pointed at it: the main thread's
    /// request to it is cancelled and it moves on. The notice may come after the main thread has
    /// moved on by itself; it then ends no request to another endpoint.
    var silentEndpoint: (index: Int, reason: String)?

    func abandon(endpoint index: Int, _ reason: String) {
        logger.warning("etcd: \(redactingUserInfo(endpoints.url(at: index))) is silent (\(reason)); failing over")
        locked { silentEndpoint = (index, reason) }
    }

    /// How far the first read has come while it runs; nil before and after.
    public var firstReadProgress: FirstReadProgress? { locked { firstRead } }
    var firstRead: FirstReadProgress?

    func setFirstRead(_ progress: FirstReadProgress?) { locked { firstRead = progress } }

    /// How each endpoint answered its last health probe.
    public var endpointHealth: [EtcdEndpointHealth] { locked { monitor }?.health ?? [] }

    /// Ends all background work. No onChanges call starts after this returns.
    public func stop() {
        deliveryLock.withLock {
            locked {
                stopped = true
                condition.broadcast()
            }
        }
    }

    /// How many hidden v2 paths are watched (at most `maxHiddenWatches`).
    public var hiddenWatchCount: Int { locked { hiddenPaths.count } }

    /// Whether `key` is a hidden v2 path kept current by a watch.
    public func isWatchingHidden(_ key: String) -> Bool { locked { hiddenPaths.contains(key) } }

    /// The API in use once chosen.
    public var activeAPI: EtcdAPI? { locked { api } }

    /// How many revisions (v3) or indexes (v2) the applied changes trail the newest etcd has
    /// reported: 0 when caught up.
    public var watchLag: Int64 { locked { max(0, position.latest - position.applied) } }
    var position: (applied: Int64, latest: Int64) = (0, 0)
    /// Set when detection found records in both keyspaces (see `keyspaceNotice`).
    var keyspaceWarning: String?

    func runMain() {
        let connection = EtcdConnection(config: config, endpoints: endpoints) { [weak self] endpoint in
            guard let self else { return true }
            return self.locked { self.stopped || self.silentEndpoint?.index == endpoint }
        }
        let progress = WatchProgress()
        progress.onPosition = { [weak self] applied, latest in
            guard let self else { return }
            self.locked { self.position = (applied, latest) }
        }
        while !isStopped {
            do {
                switch try chosenAPI(connection) {
                case .v3: try followV3(connection, progress)
                case .v2: try followV2(connection, progress)
                }
            } catch {
                guard !isStopped else { break }
                let silent = locked { () -> (index: Int, reason: String)? in
                    defer { silentEndpoint = nil }
                    return silentEndpoint
                }
                let failed = connection.endpoint
                connection.failover()
                if let silent, silent.index == connection.usedEndpoint {
                    report(.disconnected(reason: "\(redactingUserInfo(endpoints.url(at: silent.index))): \(silent.reason)"))
                } else {
                    report(.disconnected(reason: "\(failed): \(error)"))
                }
                let delay = progress.backoff.next()
                logger.debug("etcd: \(failed) failed (\(error)); trying \(connection.endpoint) in \(Int(delay * 1000)) ms")
                pause(delay)
            }
        }
    }

    // MARK: - Plumbing

    var isStopped: Bool { locked { stopped } }

    func makeConnection() -> EtcdConnection {
        EtcdConnection(config: config, endpoints: endpoints) { [weak self] _ in self?.isStopped ?? true }
    }

    func deliver(_ changes: [StoreChange]) {
        deliveryLock.withLock {
            guard !changes.isEmpty, !isStopped else { return }
            onChanges(changes)
        }
    }

    /// Reports a change of connection state once, not on every retry.
    func report(_ state: EtcdConnectionState) {
        let changed = locked { () -> Bool in
            let same: Bool
            switch (lastState, state) {
            case (.disconnected?, .disconnected): same = true
            default: same = lastState == state
            }
            lastState = state
            return !same
        }
        guard changed else { return }
        switch state {
        case .connecting: logger.info("etcd: connecting to \(config.endpoints.joined(separator: ","))")
        case .connected(let api): logger.info("etcd: connected to \(endpoints.current().url) (\(api.rawValue))")
        case .disconnected(let reason): logger.warning("etcd: disconnected: \(reason); retrying")
        }
        onStateChange(state)
    }

    /// Sleeps up to `seconds`, waking early on stop().
    func pause(_ seconds: Double) {
        let deadline = MonotonicClock.now + seconds
        condition.lock()
        while !stopped && condition.wait(until: deadline) {}
        condition.unlock()
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }
}
