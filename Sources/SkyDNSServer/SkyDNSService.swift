#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShim
import DNSWire
import EtcdClient
import Logging
import SkyDNSConfig
import SkyDNSStore
import Synchronization

/// The running server: the store kept current by the etcd watcher, and the UDP and TCP
/// listeners answering from its snapshots. The listeners never wait on etcd.
public final class SkyDNSService: Sendable {
    private let configuration: SkyDNSConfiguration
    private let logger: Logger
    private let store: RecordStore
    private let watcher: EtcdWatcher
    private let context: ServerContext
    private let address: SocketAddress
    private let udpWorkers: Int

    public init(configuration: SkyDNSConfiguration, logger: Logger, udpWorkers: Int? = nil) throws {
        self.configuration = configuration
        self.logger = logger
        address = try SocketAddress(configuration.addr)
        let zone = try Zone(domain: configuration.domain, defaultTTL: configuration.ttl, minTTL: configuration.minTTL,
                            defaultPriority: configuration.priority, roundRobin: configuration.roundRobin,
                            hostmaster: configuration.hostmaster.isEmpty ? nil : configuration.hostmaster,
                            local: configuration.local, stubZonesEnabled: configuration.stubzones)
        let store = RecordStore(zone: zone, pathPrefix: configuration.pathPrefix)
        self.store = store
        // One UDP worker per CPU we may run on.
        self.udpWorkers = udpWorkers ?? Int(skydns_usable_cpus())

        let clientConfig = EtcdClientConfig(
            endpoints: configuration.machines,
            prefix: "/" + configuration.pathPrefix.split(separator: "/").joined(separator: "/"),
            api: configuration.etcd3.map { $0 ? .v3 : .v2 },
            caCertPath: configuration.caCert.isEmpty ? nil : configuration.caCert,
            tlsCertPath: configuration.tlsPem.isEmpty ? nil : configuration.tlsPem,
            tlsKeyPath: configuration.tlsKey.isEmpty ? nil : configuration.tlsKey,
            username: configuration.username.isEmpty ? nil : configuration.username,
            password: configuration.password.isEmpty ? nil : configuration.password)
        let forwarder = try configuration.noRec ? nil : Self.makeForwarder(configuration, listen: address,
                                                                           publisher: store.publisher, logger: logger)
        let writer = StoreWriter(store: store, logger: logger) { value in
            // SkyDNS's /skydns/config: the nameservers can change while we run.
            var merged = configuration
            do {
                try merged.merge(etcdConfigJSON: value)
            } catch {
                logger.warning("ignoring \(store.keys.configKey): \(error)")
                return
            }
            guard configuration.nameservers.isEmpty, !merged.nameservers.isEmpty, let forwarder else { return }
            let servers = merged.nameservers.compactMap { try? SocketAddress($0) }
            forwarder.setUpstreams(servers)
            logger.info("upstream nameservers from \(store.keys.configKey): \(servers.map(\.description))")
        }
        let apply: @Sendable ([StoreChange]) -> Void = { writer.apply($0) }
        watcher = EtcdWatcher(config: clientConfig, logger: logger, onEvents: { events in
            apply(events.map(StoreChange.init))
        }, onStateChange: { state in
            logger.info("etcd: \(state)")
        })
        let hiddenKeys = HiddenKeyResolver(watcher: watcher, keys: store.keys, publisher: store.publisher,
                                           logger: logger, apply: apply)
        context = ServerContext(logger: logger, verbose: configuration.verbose, hiddenKeys: hiddenKeys, forwarder: forwarder)
    }

    private static func makeForwarder(_ configuration: SkyDNSConfiguration, listen: SocketAddress,
                                      publisher: SnapshotPublisher, logger: Logger) throws -> Forwarder {
        var upstreams = try configuration.nameservers.map { text throws(ServerError) in try SocketAddress(text) }
        if upstreams.isEmpty {
            upstreams = resolvConfNameservers(excluding: listen)
            logger.info("upstream nameservers from /etc/resolv.conf: \(upstreams.map(\.description))")
        }
        if upstreams.isEmpty {
            logger.warning("no upstream nameservers: names outside \(configuration.domain) will get SERVFAIL")
        }
        let cache = configuration.rcache > 0
            ? ResponseCache(capacity: configuration.rcache, maxTTL: UInt32(clamping: configuration.rcacheTTL)) : nil
        return Forwarder(upstreams: upstreams, timeout: configuration.readTimeout, rotate: configuration.nsRotate,
                         ndots: configuration.ndots, cache: cache, publisher: publisher, logger: logger)
    }

    /// Binds the sockets (failing fast if the address is taken), then starts the watcher and
    /// the listener threads. Returns once everything runs.
    public func start() throws {
        var udpSockets: [Int32] = []
        for _ in 0..<udpWorkers { udpSockets.append(try address.bind(type: Int32(SOCK_DGRAM.rawValue))) }
        let tcpSocket = try address.bind(type: Int32(SOCK_STREAM.rawValue))
        watcher.start()
        for fd in udpSockets {
            let worker = UDPWorker(fd: fd, handler: QueryHandler(context: context), reader: store.publisher.makeReader())
            spawnThread { worker.run() }
        }
        let tcp = TCPListener(fd: tcpSocket, context: context, publisher: store.publisher)
        spawnThread { tcp.run() }
        logger.info("listening on \(address) (udp x\(udpWorkers), tcp) for \(configuration.domain)")
    }
}

/// Serialises the store's writers (the watcher thread and the hidden-key fetcher) and logs what
/// they could not store.
final class StoreWriter: Sendable {
    private let store: RecordStore
    private let logger: Logger
    private let lock = Mutex<Void>(())
    private let onConfig: @Sendable ([UInt8]) -> Void

    init(store: RecordStore, logger: Logger, onConfig: @escaping @Sendable ([UInt8]) -> Void) {
        self.store = store
        self.logger = logger
        self.onConfig = onConfig
    }

    func apply(_ changes: [StoreChange]) {
        for change in changes {
            switch change {
            case .put(let keyValue) where keyValue.key == store.keys.configKey:
                onConfig(keyValue.value)
            case .replaceAll(let all):
                if let config = all.first(where: { $0.key == store.keys.configKey }) { onConfig(config.value) }
            default:
                break
            }
        }
        let (rejected, becameSynced, count) = lock.withLock { _ in
            let wasSynced = store.publisher.current.isSynced
            let rejected = store.apply(changes)
            return (rejected, !wasSynced && store.publisher.current.isSynced, store.recordCount)
        }
        for record in rejected {
            logger.warning("skipping etcd key \(record.key): \(record.error)")
        }
        if becameSynced {
            logger.info("first read of etcd complete: serving \(count) records")
        }
    }
}

extension StoreChange {
    init(_ event: EtcdEvent) {
        switch event {
        case .snapshot(let all): self = .replaceAll(all.map { KeyValue(key: $0.key, value: $0.value, ttl: $0.ttl) })
        case .put(let kv): self = .put(KeyValue(key: kv.key, value: kv.value, ttl: kv.ttl))
        case .delete(let key): self = .delete(key: key)
        case .deleteTree(let key): self = .deleteTree(key: key)
        }
    }
}
