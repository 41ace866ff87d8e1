#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import FlyingFox
import FlyingSocks
import Foundation
import Logging
import SkyDNSServer
import Synchronization

/// The operator's HTTP endpoint on `-metrics-addr`: Prometheus metrics on `-prometheus-path`
/// (`PROMETHEUS_PATH`, default `/metrics`), `/healthz` and `/readyz`. FlyingFox serves it on
/// Swift concurrency's threads, apart from the DNS threads.
public final class OperatorHTTPServer: Sendable {
    private let server: HTTPServer
    private let address: String
    private let logger: Logger
    private let task = Mutex<Task<Void, any Error>?>(nil)
    private let flyingFoxLogger: FlyingFoxLogger

    /// - Parameter address: `-metrics-addr`: `ip:port`, `[ipv6]:port` or `:port` (all IPv4 addresses).
    public init(address: String, metricsPath: String, metrics: ServerMetrics,
                readiness: @escaping @Sendable () -> HealthReport, logger: Logger) throws(OperatorHTTPError) {
        self.address = address
        self.logger = logger
        let flyingFoxAddress: any FlyingSocks.SocketAddress
        do {
            guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
                throw OperatorHTTPError(description: "no port")
            }
            var host = String(address[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") {
                flyingFoxAddress = try sockaddr_in6.inet6(ip6: String(host.dropFirst().dropLast()), port: port)
            } else {
                if host.isEmpty { host = "0.0.0.0" }
                flyingFoxAddress = try sockaddr_in.inet(ip4: host, port: port)
            }
        } catch {
            throw OperatorHTTPError(description: "invalid -metrics-addr \"\(address)\": want ip:port")
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
    public func start() throws(OperatorHTTPError) {
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
    public func stop() {
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
