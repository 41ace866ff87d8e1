#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EtcdClient

/// What the probes say. `/healthz`: the process is alive and serving. `/readyz`: the first
/// complete read of etcd is done (before it the domain is REFUSED), whether etcd is reachable
/// now or the last good data is being served; not ready while shutting down.
public struct HealthReport: Sendable, Equatable {
    public var ready: Bool
    public var reason: String

    public init(ready: Bool, reason: String) {
        self.ready = ready
        self.reason = reason
    }

    /// - Parameter notes: what the operator should know besides (a keyspace left unserved, an
    ///   endpoint that does not answer, the first read's progress); appended after "; ".
    static func readiness(synced: Bool, records: Int, etcd: EtcdStatus, stopping: Bool,
                          notes: [String] = []) -> HealthReport {
        var report = readiness(synced: synced, records: records, etcd: etcd, stopping: stopping)
        if !stopping, !notes.isEmpty { report.reason += "; " + notes.joined(separator: "; ") }
        return report
    }

    private static func readiness(synced: Bool, records: Int, etcd: EtcdStatus, stopping: Bool) -> HealthReport {
        if stopping { return HealthReport(ready: false, reason: "not ready: shutting down") }
        guard synced else {
            var reason = "not ready: waiting for the first read of etcd"
            switch etcd.state {
            case .connecting: reason += " (connecting)"
            case .connected(let api): reason += " (connected, \(api.rawValue) API)"
            case .disconnected(let why): reason += " (etcd unreachable since \(isoTime(etcd.since)): \(why))"
            }
            return HealthReport(ready: false, reason: reason)
        }
        switch etcd.state {
        case .connected(let api):
            return HealthReport(ready: true, reason: "ready: serving \(records) records, etcd connected (\(api.rawValue) API)")
        case .disconnected(let why):
            return HealthReport(ready: true, reason:
                "ready: serving last good data (\(records) records), etcd unreachable since \(isoTime(etcd.since)): \(why)")
        case .connecting:
            return HealthReport(ready: true, reason: "ready: serving last good data (\(records) records), reconnecting to etcd")
        }
    }
}

/// `2024-05-01T12:00:00Z` for a Unix time.
func isoTime(_ seconds: Double) -> String {
    var time = time_t(seconds)
    var parts = tm()
    gmtime_r(&time, &parts)
    var buffer = [CChar](repeating: 0, count: 32)
    let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
    return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

