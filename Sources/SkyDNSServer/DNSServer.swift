#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShim
import DNSSEC
import DNSWire
import EtcdClient
import Logging
import SkyDNSConfig
import SkyDNSStore
import Synchronization

/// The running server: the store kept current by the etcd watcher, and the UDP and TCP
/// listeners answering from its snapshots. The listeners never wait on etcd.
public final class DNSServer: Sendable {
    private let configuration: SkyDNSConfiguration
    private let logger: Logger
    private let store: RecordStore
    private let watcher: EtcdWatcher
    private let context: ServerContext
    private let address: SocketAddress
    private let udpWorkers: Int
    /// Everything counted, for Prometheus on `-metrics-addr`.
    public let metrics: ServerMetrics
    /// The connection to etcd, for `/readyz` (and `etcd_state`).
    private let etcdStatus = EtcdStatusTracker()
    private let forwarder: Forwarder?
    private let tcp = Mutex<TCPListener?>(nil)
    private let flags = Flags()

    private final class Flags: Sendable {
        let stopping = Atomic<Bool>(false)
        /// Whether `/skydns/config` has set the upstreams (then SIGHUP leaves them alone).
        let upstreamsFromEtcd = Atomic<Bool>(false)
    }

    public init(configuration: SkyDNSConfiguration, logger: Logger, udpWorkers: Int? = nil) throws {
        self.configuration = configuration
        self.logger = logger
        address = try SocketAddress(configuration.addr)
        let metrics = ServerMetrics(namespace: configuration.prometheusNamespace,
                                    subsystem: configuration.prometheusSubsystem)
        self.metrics = metrics
        let zone = try Zone(domain: configuration.domain, defaultTTL: configuration.ttl, negativeTTL: configuration.minTTL,
                            defaultPriority: configuration.priority, roundRobin: configuration.roundRobin,
                            hostmaster: configuration.hostmaster.isEmpty ? nil : configuration.hostmaster,
                            local: configuration.local, stubZonesEnabled: configuration.stubzones)
        let store = RecordStore(zone: zone, pathPrefix: configuration.pathPrefix)
        self.store = store
        let signer = try Self.makeSigner(configuration, apex: zone.domain, logger: logger)
        // One UDP worker per CPU we may run on.
        self.udpWorkers = udpWorkers ?? Int(skydns_usable_cpus())

        let clientConfig = Self.etcdClientConfig(configuration)
        let forwarder = try configuration.noRec ? nil : Self.makeForwarder(configuration, listen: address,
                                                                           publisher: store.publisher, logger: logger,
                                                                           metrics: metrics)
        self.forwarder = forwarder
        metrics.watch(cache: forwarder?.cache, publisher: store.publisher)
        let flags = flags
        let etcdStatus = etcdStatus
        metrics.watchEtcdState(etcdStatus)
        let liveConfig = Mutex(configuration)
        let writer = StoreWriter(store: store, logger: logger, metrics: metrics) { value in
            // SkyDNS's /skydns/config was read before serving (applyingEtcdConfigKey); of a change
            // seen later, the nameservers apply at once and the rest at the next start. Field by
            // field, as at start: a bad `ttl` must not keep new nameservers from taking effect.
            var merged = configuration
            do {
                for note in try merged.applyEtcdConfig(value) { logger.warning("\(store.keys.configKey): \(note)") }
            } catch {
                logger.warning("ignoring \(store.keys.configKey): \(error)")
                return
            }
            let previous = liveConfig.withLock { current in
                defer { current = merged }
                return current
            }
            var others = merged
            others.nameservers = previous.nameservers
            if others != previous {
                logger.warning("\(store.keys.configKey) changed; settings other than the nameservers take effect at the next start: \(merged.summary())")
            }
            guard !merged.nameservers.isEmpty, merged.nameservers != previous.nameservers, let forwarder else { return }
            let servers = merged.nameservers.compactMap { try? SocketAddress($0) }
            forwarder.setUpstreams(servers)
            flags.upstreamsFromEtcd.store(true, ordering: .relaxed)
            logger.info("upstream nameservers from \(store.keys.configKey): \(servers.map(\.description))")
        }
        // The watcher chooses its API before it delivers anything; with v2, `_` keys are hidden.
        let chosenAPI = WatcherAPI()
        watcher = EtcdWatcher(config: clientConfig, logger: logger, onChanges: { changes in
            writer.apply(changes, coalesce: true, hidesUnderscoreLabels: chosenAPI.current == .v2)
        }, onStateChange: { state in
            // The watcher logs each change itself.
            etcdStatus.changed(to: state)
        })
        let watcher = self.watcher
        chosenAPI.watcher.withLock { $0 = watcher }
        metrics.watchEtcdLag { watcher.watchLag }
        metrics.watchEtcdEndpoints { watcher.endpointHealth }
        let hiddenKeys = HiddenKeyResolver(backend: watcher, keys: store.keys, publisher: store.publisher,
                                           logger: logger, forwarder: forwarder, metrics: metrics,
                                           apply: { writer.apply($0, coalesce: false) })
        let firstRead = FirstReadFallback(backend: watcher, keys: store.keys, publisher: store.publisher, logger: logger,
                                          forwarder: forwarder)
        context = ServerContext(logger: logger, verbose: configuration.verbose, hiddenKeys: hiddenKeys, firstRead: firstRead,
                                forwarder: forwarder, metrics: metrics, signer: signer)
    }

    /// `-dnssec=BASENAME`: the key pair `BASENAME.key`/`.private`, for the served domain; nil
    /// without the flag. A key that does not load, or is for another zone, stops the start.
    private static func makeSigner(_ configuration: SkyDNSConfiguration, apex: DomainName,
                                   logger: Logger) throws(DNSSECSetupError) -> ZoneSigner? {
        guard !configuration.dnssec.isEmpty else { return nil }
        let key: SigningKey
        do {
            key = try KeyFiles.load(basename: configuration.dnssec)
        } catch {
            throw DNSSECSetupError(reason: error)
        }
        guard key.dnskey.owner == apex.lowercased() else {
            throw DNSSECSetupError(reason: .wrongZone(owner: key.dnskey.owner.description, domain: apex.description))
        }
        logger.info("""
            DNSSEC: signing \(apex) with key \(key.keyTag) (algorithm \(key.dnskey.algorithm.rawValue), \
            \(key.dnskey.algorithm.mnemonic)), signature cache \(configuration.scache) entries
            """)
        if configuration.scache > SignatureCache.maxCapacity {
            logger.warning("DNSSEC: -scache \(configuration.scache) is more than the \(SignatureCache.maxCapacity) signatures kept at most; keeping \(SignatureCache.maxCapacity)")
        }
        return ZoneSigner(key: key, cacheCapacity: configuration.scache, dnskeyTTL: configuration.ttl)
    }

    /// What `/readyz` says: ready once the first read of etcd is done, until shutdown.
    public func readiness() -> HealthReport {
        let snapshot = store.publisher.current
        return HealthReport.readiness(synced: snapshot.isSynced, records: snapshot.recordCount, etcd: etcdStatus.current,
                                      stopping: flags.stopping.load(ordering: .relaxed), notes: watcher.healthNotes)
    }

    private static func makeForwarder(_ configuration: SkyDNSConfiguration, listen: SocketAddress,
                                      publisher: SnapshotPublisher, logger: Logger, metrics: ServerMetrics) throws -> Forwarder {
        var upstreams = try configuration.nameservers.map { text throws(ServerError) in try SocketAddress(text) }
        if upstreams.isEmpty {
            let read = resolvConfNameservers()
            upstreams = read.servers
            logger.info("upstream nameservers from /etc/resolv.conf: \(upstreams.map(\.description))")
            logRejected(read.rejected, logger: logger)
        }
        if upstreams.isEmpty {
            logger.warning("no upstream nameservers: names outside \(configuration.domain) will get SERVFAIL")
        }
        if configuration.rcache > ResponseCache.maxCapacity {
            logger.warning("-rcache \(configuration.rcache) is more than the \(ResponseCache.maxCapacity) replies kept at most; keeping \(ResponseCache.maxCapacity)")
        }
        let cache = configuration.rcache > 0
            ? ResponseCache(capacity: configuration.rcache, maxTTL: UInt32(clamping: configuration.rcacheTTL)) : nil
        return try Forwarder(upstreams: upstreams, upstreamTimeout: configuration.upstreamTimeout, rotate: configuration.nsRotate,
                         ndots: configuration.ndots, cache: cache, publisher: publisher, logger: logger, metrics: metrics,
                         listen: listen)
    }

    /// File descriptors kept from TCP connections for etcd's connections.
    private static let spareDescriptors = 8

    /// Binds the sockets (failing fast if the address is taken; with `-systemd`, takes those
    /// systemd passed), then starts the watcher and the listener threads. Returns once
    /// everything runs.
    public func start() throws {
        let sockets = try configuration.systemd ? ListeningSockets.activated(udpWorkers: udpWorkers, logger: logger)
                                                : ListeningSockets.bind(address, udpWorkers: udpWorkers)
        watcher.start()
        for fd in sockets.udp {
            let worker = UDPWorker(fd: fd, context: context, reader: store.publisher.makeReader(),
                                   engine: try forwarder?.makeWorkerEngine())
            try startThread { worker.run() }
        }
        let loops = sockets.tcp.isEmpty ? 0 : min(udpWorkers, 4)
        // Each loop's epoll, eventfd and reserve fd, and the connections on their way between loops.
        let free = freeFileDescriptors() - 3 * loops - (loops > 1 ? TCPListener.maxHandedOver : 0)
        // Out of descriptors, an exchange fails at once and the log blames the upstream.
        if let forwarder, free < forwarder.upstreamPlaces + Self.spareDescriptors {
            logger.warning("""
                the open-files limit (\(openFileLimit())) leaves \(max(0, free)) file descriptors, fewer than the \
                \(forwarder.upstreamPlaces) upstream exchanges and etcd need: forwarded queries will fail \
                (SERVFAIL); raise it (ulimit -n)
                """)
        }
        if !sockets.tcp.isEmpty {
            // Beside each loop's own descriptors (out of `free` already), the upstream
            // exchanges' places, the metrics server's connections and a few for etcd stay out of
            // the connections' reach.
            let reserved = (forwarder?.upstreamPlaces ?? 0) + operatorHTTPConnections + Self.spareDescriptors
            var limits = TCPListener.Limits()
            if limits.fit(descriptors: free - reserved) {
                logger.warning("""
                    at most \(limits.maxConnections) TCP connections: the open-files limit (\(openFileLimit())) leaves \
                    no more beside the upstream exchanges and etcd; raise it (ulimit -n) for more
                    """)
            }
            let tcp = try TCPListener(fds: sockets.tcp, loops: loops, ownsSockets: !configuration.systemd,
                                      limits: limits, context: context, publisher: store.publisher)
            try tcp.start()
            self.tcp.withLock { $0 = tcp }
        }
        logger.info("listening on \(sockets.description) for \(configuration.domain)")
    }

    // The steps of a shutdown; the executable calls them in its one shutdown sequence.

    /// From now on `/readyz` answers 503 "not ready: shutting down"; queries are still answered.
    public func stopBeingReady() {
        flags.stopping.store(true, ordering: .releasing)
    }

    /// Stops accepting TCP connections and answers what the open ones already sent, waiting at
    /// most `limit` for them to close. UDP is not affected. Returns whether every connection closed.
    @discardableResult
    public func drainTCP(within limit: Duration) -> Bool {
        let listener = tcp.withLock { $0 }
        listener?.stop()
        let open = listener?.openConnections ?? 0
        let shown = GoDuration.format(nanoseconds: limit.inNanoseconds)
        logger.info("shutting down: no new TCP connections; waiting up to \(shown) for \(open) open")
        let drained = listener?.drain(within: limit) ?? true
        if !drained {
            logger.warning("shutting down: \(listener?.openConnections ?? 0) TCP connections still open after \(shown)")
        }
        return drained
    }

    /// Names the `nameserver` entries of resolv.conf that are no address (a typo, an unknown
    /// interface after `%`), which would otherwise leave the forwarder short of an upstream unsaid.
    private static func logRejected(_ rejected: [String], logger: Logger) {
        for entry in rejected {
            logger.warning("/etc/resolv.conf: nameserver \(entry.debugDescription) is not an IP address (or names no interface after %); ignoring it")
        }
    }

    /// Stops following etcd: the data served stays as last read.
    public func stopWatchingEtcd() {
        watcher.stop()
    }

    /// SIGHUP: re-reads what may change while running. Today that is the upstream nameservers
    /// from /etc/resolv.conf, when neither `-nameservers` nor `/skydns/config` chose them.
    public func reload() {
        guard let forwarder else {
            logger.info("SIGHUP: -no-rec is set; no upstreams to re-read")
            return
        }
        if !configuration.nameservers.isEmpty {
            logger.info("SIGHUP: upstreams come from -nameservers; nothing to re-read")
            return
        }
        if flags.upstreamsFromEtcd.load(ordering: .relaxed) {
            logger.info("SIGHUP: upstreams come from \(store.keys.configKey); not re-reading /etc/resolv.conf")
            return
        }
        let read = resolvConfNameservers()
        let upstreams = read.servers
        forwarder.setUpstreams(upstreams)
        logger.info("SIGHUP: upstream nameservers from /etc/resolv.conf: \(upstreams.map(\.description))")
        Self.logRejected(read.rejected, logger: logger)
        if upstreams.isEmpty {
            logger.warning("no upstream nameservers: names outside \(configuration.domain) will get SERVFAIL")
        }
    }
}

/// The watcher's API, for its own event callback (made before the watcher is).
private final class WatcherAPI: Sendable {
    let watcher = Mutex<EtcdWatcher?>(nil)
    var current: EtcdAPI? { watcher.withLock { $0 }?.activeAPI }
}
