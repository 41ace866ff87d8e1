#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import EtcdClient
import FlyingFox
import FlyingSocks
import Foundation
import Logging
import SkyDNSStore
import Synchronization

/// What the probes say. `/healthz`: the process is alive and serving. `/readyz`: the first
/// complete read of etcd is done (before it the domain is REFUSED), whether etcd is reachable
/// now or the last good data is being served; not ready while shutting down.
public struct HealthReport: Sendable, Equatable {
    public var ready: Bool
    public var reason: String

    static func readiness(synced: Bool, records: Int, etcd: ServerMetrics.EtcdStatus, stopping: Bool) -> HealthReport {
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

/// The operator's HTTP endpoint on `-metrics-addr`: Prometheus metrics on `-prometheus-path`
/// (`PROMETHEUS_PATH`, default `/metrics`), `/healthz` and `/readyz`. FlyingFox serves it on
/// Swift concurrency's threads, apart from the DNS threads.
final class OperatorHTTPServer: Sendable {
    private let server: HTTPServer
    private let address: String
    private let logger: Logger
    private let task = Mutex<Task<Void, any Error>?>(nil)
    private let flyingFoxLogger: FlyingFoxLogger

    init(address: SocketAddress, metricsPath: String, metrics: ServerMetrics,
         readiness: @escaping @Sendable () -> HealthReport, logger: Logger) throws(OperatorHTTPError) {
        self.address = address.description
        self.logger = logger
        let flyingFoxAddress: any FlyingSocks.SocketAddress
        do {
            if address.family == AF_INET6 {
                flyingFoxAddress = try sockaddr_in6.inet6(ip6: address.hostText, port: address.port)
            } else {
                flyingFoxAddress = try sockaddr_in.inet(ip4: address.hostText, port: address.port)
            }
        } catch {
            throw OperatorHTTPError(description: "invalid -metrics-addr \"\(address.description)\"")
        }
        let handler = ClosureHTTPHandler { request in
            guard request.method == .GET || request.method == .HEAD else {
                return HTTPResponse(statusCode: .methodNotAllowed, headers: HTTPHeaders([HTTPHeader("Allow"): "GET, HEAD"]))
            }
            switch request.path {
            case metricsPath:
                return HTTPResponse(statusCode: .ok, headers: HTTPHeaders([.contentType: "text/plain; version=0.0.4; charset=utf-8"]),
                                    body: Data(metrics.exposition()))
            case "/healthz":
                return Self.text(.ok, "ok")
            case "/readyz":
                let report = readiness()
                return Self.text(report.ready ? .ok : .serviceUnavailable, report.reason)
            default:
                return Self.text(.notFound, "not found; try \(metricsPath), /healthz or /readyz")
            }
        }
        flyingFoxLogger = FlyingFoxLogger(logger: logger)
        server = HTTPServer(address: flyingFoxAddress, timeout: 15, logger: flyingFoxLogger, handler: handler)
    }

    private static func text(_ status: HTTPStatusCode, _ body: String) -> HTTPResponse {
        HTTPResponse(statusCode: status, headers: HTTPHeaders([.contentType: "text/plain; charset=utf-8"]), body: Data((body + "\n").utf8))
    }

    /// Starts listening; returns once the socket is bound, or throws why it could not be.
    func start() throws(OperatorHTTPError) {
        final class Outcome: Sendable {
            let value = Mutex<Result<Void, any Error>?>(nil)
            func set(_ result: Result<Void, any Error>) { value.withLock { if $0 == nil { $0 = result } } }
        }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let server = server
        let running = Task {
            do {
                try await server.run()
            } catch {
                outcome.set(.failure(error))
                done.signal()
                throw error
            }
        }
        Task {
            do {
                try await server.waitUntilListening(timeout: 10)
                outcome.set(.success(()))
            } catch {
                outcome.set(.failure(error))
            }
            done.signal()
        }
        done.wait()
        task.withLock { $0 = running }
        if case .failure(let error) = outcome.value.withLock({ $0 }) {
            running.cancel()
            throw OperatorHTTPError(description: "cannot serve metrics on \(address): \(error)")
        }
    }

    /// Stops listening and waits (briefly) for scrapes in progress.
    func stop() {
        flyingFoxLogger.stopping.store(true, ordering: .relaxed)
        let done = DispatchSemaphore(value: 0)
        let server = server
        Task {
            await server.stop(timeout: 0.2)
            done.signal()
        }
        _ = done.wait(timeout: .now() + 1)
    }
}

public struct OperatorHTTPError: Error, CustomStringConvertible {
    public var description: String
}

/// FlyingFox's log lines, through swift-log: its per-connection chatter at debug.
/// Once stopping, the listener's "disconnected" error is expected and logged at debug.
final class FlyingFoxLogger: FlyingSocks.Logging {
    let logger: Logger
    let stopping = Atomic<Bool>(false)
    init(logger: Logger) { self.logger = logger }
    func logDebug(_ debug: @autoclosure () -> String) { logger.trace("http: \(debug())") }
    func logInfo(_ info: @autoclosure () -> String) { logger.debug("http: \(info())") }
    func logWarning(_ warning: @autoclosure () -> String) { logger.warning("http: \(warning())") }
    func logError(_ error: @autoclosure () -> String) {
        logger.log(level: stopping.load(ordering: .relaxed) ? .debug : .warning, "http: \(error())")
    }
    func logCritical(_ critical: @autoclosure () -> String) {
        logger.log(level: stopping.load(ordering: .relaxed) ? .debug : .error, "http: \(critical())")
    }
}
