import EtcdClient
import Logging
import SkyDNSConfig

extension DNSServer {
    /// The etcd client settings a configuration asks for.
    public static func etcdClientConfig(_ configuration: SkyDNSConfiguration) -> EtcdClientConfig {
        EtcdClientConfig(
            endpoints: configuration.machines,
            prefix: etcdPrefix(configuration),
            api: configuration.etcd3.map { $0 ? .v3 : .v2 },
            caCertPath: configuration.caCert.isEmpty ? nil : configuration.caCert,
            tlsCertPath: configuration.tlsPem.isEmpty ? nil : configuration.tlsPem,
            tlsKeyPath: configuration.tlsKey.isEmpty ? nil : configuration.tlsKey,
            username: configuration.username.isEmpty ? nil : configuration.username,
            password: configuration.password.isEmpty ? nil : configuration.password,
            progressiveFirstRead: true)
    }

    /// `/skydns` for `-path-prefix=skydns`.
    static func etcdPrefix(_ configuration: SkyDNSConfiguration) -> String {
        "/" + configuration.pathPrefix.split(separator: "/").joined(separator: "/")
    }

    /// SkyDNS read `/<prefix>/config` once at start, before serving, over the flags' values; so
    /// does this, within `timeout`. Each field that does not take effect is logged; when
    /// etcd cannot be read the flags' values are used (as SkyDNS fell back), and a key read later
    /// through the watch only changes the upstreams.
    public static func applyingEtcdConfigKey(to configuration: SkyDNSConfiguration, logger: Logger,
                                             timeout: Duration = .seconds(5)) -> SkyDNSConfiguration {
        let key = etcdPrefix(configuration) + "/config"
        switch EtcdKeyReader.read(key, config: etcdClientConfig(configuration), timeout: timeout) {
        case .absent:
            logger.info("no \(key) in etcd: using the flags' settings")
            return configuration
        case .unavailable(let reason):
            logger.warning("could not read \(key) from etcd, using the flags' settings (as SkyDNS fell back): \(reason)")
            return configuration
        case .value(let json, let api):
            var merged = configuration
            do {
                let notes = try merged.applyEtcdConfig(json)
                for note in notes { logger.warning("\(key): \(note)") }
            } catch {
                logger.warning("ignoring \(key) (\(api.rawValue)): \(error); using the flags' settings")
                return configuration
            }
            if merged != configuration {
                logger.info("settings after \(key) (\(api.rawValue)) over the flags: \(merged.summary())")
            }
            return merged
        }
    }
}
