#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShim
import Dispatch
import EtcdClient
import Logging
import SkyDNSServer
import Synchronization

/// The operator's HTTP endpoint on `-metrics-addr`: Prometheus metrics on `PROMETHEUS_PATH`
/// (default `/metrics`), `/healthz` and `/readyz`, GET or HEAD, one request per connection.
///
/// One thread of its own polls the listener and at most `maxConnections` connections, so no
/// client can make it start a thread or spend more than a bounded amount of work: a request head
/// is read up to 8 KiB (431 beyond, the rest never read), each connection has `requestTimeout`
/// to send its head and take its answer, and when every slot is taken the oldest connection is
/// closed for the new one (a slow or stalled client cannot lock the probes out).
public final class OperatorHTTPServer: Sendable {
    /// Connections served at once (64, fewer under a small open-files limit); the oldest is
    /// closed to make room for a new one.
    static let maxConnections = operatorHTTPConnections
    /// Seconds a connection has from being accepted to having its answer sent.
    static let requestTimeout: Int64 = 5
    /// After the answer: unread request bytes are discarded up to this many (closing with them
    /// unread would reset the connection, and the client could lose the answer), for at most 1 s.
    static let drainLimit = 65_536

    private let address: ListenAddress
    private let routes: Routes
    private let logger: Logger
    /// The eventfd that wakes the loop to stop.
    private let wake = Mutex<Int32>(-1)
    private let stopped = DispatchSemaphore(value: 0)

    /// - Parameter address: `-metrics-addr`: `ip:port`, `[ipv6]:port` or `:port` (every address,
    ///   IPv6 included where the kernel has it, as `-addr=:53`).
    /// - Throws: `OperatorHTTPError` when the address is not one of those.
    public init(address: String, metricsPath: String, metrics: ServerMetrics,
                readiness: @escaping @Sendable () -> HealthReport, logger: Logger) throws(OperatorHTTPError) {
        guard let parsed = ListenAddress(address) else {
            throw OperatorHTTPError(description: "invalid -metrics-addr \"\(address)\": want ip:port")
        }
        self.address = parsed
        self.logger = logger
        routes = Routes(metricsPath: metricsPath, metrics: metrics, readiness: readiness)
    }

    /// Binds and listens, then starts the serving thread.
    /// - Throws: `OperatorHTTPError` naming the address when it cannot be bound (in use, not
    ///   ours) or the thread cannot be started.
    public func start() throws(OperatorHTTPError) {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failure("socket", errno) }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        guard address.bind(fd) == 0, listen(fd, 128) == 0 else {
            let code = errno
            close(fd)
            throw failure("bind", code)
        }
        let wakeFD = skydns_eventfd()
        guard wakeFD >= 0 else {
            let code = errno
            close(fd)
            throw failure("eventfd", code)
        }
        let loop = EventLoop(listener: fd, wake: wakeFD, routes: routes)
        do {
            try startThread { [stopped] in
                loop.run()
                stopped.signal()
            }
            wake.withLock { $0 = wakeFD }
        } catch {
            close(fd)
            close(wakeFD)
            throw OperatorHTTPError(description: "cannot serve metrics on \(address.text): \(error)")
        }
    }

    private func failure(_ call: String, _ code: Int32) -> OperatorHTTPError {
        OperatorHTTPError(description: "cannot serve metrics on \(address.text): \(call): \(String(cString: strerror(code)))")
    }

    /// Stops listening, closes every connection, and waits (at most a second) for the thread.
    public func stop() {
        let wakeFD = wake.withLock { $0 }
        guard wakeFD >= 0 else { return }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
        _ = stopped.wait(timeout: .now() + 1)
    }
}

public struct OperatorHTTPError: Error, CustomStringConvertible {
    public var description: String
}

/// What each path answers.
struct Routes: Sendable {
    let metricsPath: String
    let metrics: ServerMetrics
    let readiness: @Sendable () -> HealthReport

    func respond(method: HTTPRequestHead.Method, path: String) -> HTTPResponse {
        guard method != .other else {
            var response = HTTPResponse(.methodNotAllowed, text: "method not allowed; use GET or HEAD")
            response.extraHeader = "Allow: GET, HEAD"
            return response
        }
        switch path {
        case metricsPath:
            return HTTPResponse(.ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics.exposition())
        case "/healthz":
            return HTTPResponse(.ok, text: "ok")
        case "/readyz":
            let report = readiness()
            return HTTPResponse(report.ready ? .ok : .serviceUnavailable, text: report.reason)
        default:
            return HTTPResponse(.notFound, text: "not found; try \(metricsPath), /healthz or /readyz")
        }
    }
}

/// `-metrics-addr` as a socket address.
struct ListenAddress: Sendable {
    let family: Int32
    let text: String
    private let storage: sockaddr_storage
    private let length: socklen_t

    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        var host = String(text[..<colon])
        var storage = sockaddr_storage()
        // `:port` is every address, as `-addr=:53` and Go's listener take it.
        if host.isEmpty, ipv6Available() { host = "[::]" }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, String(host.dropFirst().dropLast()), &address.sin6_addr) == 1 else { return nil }
            withUnsafeBytes(of: address) { raw in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) } }
            family = AF_INET6
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            if host.isEmpty { host = "0.0.0.0" }  // a kernel without IPv6
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return nil }
            withUnsafeBytes(of: address) { raw in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) } }
            family = AF_INET
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        }
        self.storage = storage
        self.text = text
    }

    /// Binds `fd` here (`[::]` taking IPv4 clients too); bind(2)'s result.
    func bind(_ fd: Int32) -> Int32 {
        takeIPv4OnIPv6Wildcard(fd, boundTo: storage)
        var address = storage
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
    }
}
