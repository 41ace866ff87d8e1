import StrictJSON

/// Reads one key once, outside the watch: SkyDNS's `/<prefix>/config`, which it read at start
/// before serving.
public enum EtcdKeyReader {
    public enum Outcome: Sendable, Equatable {
        /// The key's value, and the keyspace it was found in.
        case value([UInt8], EtcdAPI)
        /// No endpoint holds the key (in the keyspaces asked).
        case absent
        /// No endpoint answered within the time limit; the last failure.
        case unavailable(String)
    }

    /// Asks each endpoint in turn until one answers, within `timeout` in all, each
    /// endpoint getting an equal share of what is left: a hung endpoint (one that accepts
    /// connections and never answers) listed first must not spend the whole time, leaving the
    /// healthy ones after it unasked. With `config.api` nil both keyspaces are asked, v2 first
    /// (SkyDNS's default without -etcd3).
    public static func read(_ key: String, config: EtcdClientConfig, timeout: Duration) -> Outcome {
        let deadline = MonotonicClock.now + timeout.asSeconds
        let endpoints = EndpointRing(config.endpoints)
        let connection = EtcdConnection(config: config, endpoints: endpoints) { _ in MonotonicClock.now > deadline + 1 }
        let apis: [EtcdAPI] = config.api.map { [$0] } ?? [.v2, .v3]
        var failure = "no endpoint was tried"
        for index in 0..<endpoints.count {
            let remaining = deadline - MonotonicClock.now
            guard remaining > 0 else { break }
            let attemptDeadline = MonotonicClock.now + remaining / Double(endpoints.count - index)
            do {
                for api in apis {
                    if let value = try read(key, api: api, connection, timeout: max(0.001, attemptDeadline - MonotonicClock.now)) {
                        return .value(value, api)
                    }
                }
                return .absent
            } catch {
                failure = "\(connection.endpoint): \(error)"
                connection.failover()
            }
        }
        return .unavailable(failure)
    }

    /// The value, or nil when this keyspace does not hold the key (or is not served).
    private static func read(_ key: String, api: EtcdAPI, _ connection: EtcdConnection, timeout: Double) throws -> [UInt8]? {
        switch api {
        case .v3:
            do {
                return try EtcdV3(connection: connection).readKey(key, timeout: timeout)
            } catch EtcdError.server(let status, _) where status < 500 && status != 200 {
                return nil  // no v3 gateway
            }
        case .v2:
            let response = try connection.send(path: "/v2/keys" + v2KeyPath(key), totalTimeout: timeout,
                                               maxBody: HTTPRequest.smallBody)
            guard response.status == 200 else {
                if response.status == 404 || response.status == 400 { return nil }  // absent, or v2 not served
                throw EtcdError.server(status: response.status, message: bodySummary(response.body))
            }
            guard let value = (try? JSONValue.parse(response.body))?["node"]?["value"]?.string else { return nil }
            return Array(value.utf8)
        }
    }
}
