import DNSWire
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Blocking loopback sockets for tests: free ports, one DNS exchange over UDP or TCP, one HTTP/1.0
// request. Everything here talks to 127.0.0.1 only.

/// What the helpers in this module throw.
public enum SupportError: Error, CustomStringConvertible {
    case io(String)
    case timeout(String)
    case http(Int, String)
    case notReady(String)

    public var description: String {
        switch self {
        case .io(let what): "I/O error: \(what)"
        case .timeout(let what): "timed out: \(what)"
        case .http(let status, let body): "HTTP \(status): \(body)"
        case .notReady(let what): what
        }
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }

private func loopback(_ port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

private func connectSocket(_ fd: Int32, port: UInt16) -> Bool {
    var address = loopback(port)
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

private func setTimeouts(_ fd: Int32, _ timeout: Duration) {
    let (seconds, attoseconds) = timeout.components
    var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
}

/// A TCP socket connected to 127.0.0.1:`port`, with send and receive timeouts; close it.
func connectedTCPSocket(port: UInt16, timeout: Duration, what: String) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SupportError.io("socket: \(errnoText())") }
    setTimeouts(fd, timeout)
    guard connectSocket(fd, port: port) else {
        let text = errnoText()
        close(fd)
        throw SupportError.io("connect to \(what) on 127.0.0.1:\(port): \(text)")
    }
    return fd
}

/// A TCP socket bound to an ephemeral port on 127.0.0.1 (not listening) and that port; close it.
private func boundLoopbackSocket() throws -> (fd: Int32, port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SupportError.io("socket: \(errnoText())") }
    var address = loopback(0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
        }
    }
    guard bound else {
        let text = errnoText()
        close(fd)
        throw SupportError.io("bind: \(text)")
    }
    return (fd, UInt16(bigEndian: address.sin_port))
}

/// A port the kernel hands out for an ephemeral TCP bind on 127.0.0.1 (free right now; a test
/// running beside this one may take it next).
public func freeLoopbackPort() throws -> UInt16 {
    let (fd, port) = try boundLoopbackSocket()
    close(fd)
    return port
}

/// A loopback port held bound and never listened on for as long as this lives: connecting to it
/// is refused at once, and no other process can bind it meanwhile (the socket is bound without
/// SO_REUSEADDR). An endpoint that is down for the whole test, where a port from
/// `freeLoopbackPort()` might be taken by an etcd or a server that a parallel test starts.
public final class RefusingPort: Sendable {
    public let port: UInt16
    private let fd: Int32

    /// `http://127.0.0.1:<port>`.
    public var endpoint: String { "http://127.0.0.1:\(port)" }

    public init() throws { (fd, port) = try boundLoopbackSocket() }

    deinit { close(fd) }
}

func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    var sent = 0
    while sent < bytes.count {
        let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw SupportError.io("send: \(errnoText())") }
        sent += n
    }
}

private func receiveExactly(_ fd: Int32, _ count: Int, what: String) throws -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: count)
    var received = 0
    while received < count {
        let n = buffer[received...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw SupportError.timeout(what) }
        guard n > 0 else { throw SupportError.io("\(what): connection closed after \(received) of \(count) bytes") }
        received += n
    }
    return buffer
}

/// Reads until the peer closes the connection.
func receiveAll(_ fd: Int32, what: String) throws -> [UInt8] {
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 { throw SupportError.io("reading from \(what): \(errnoText())") }
        if n == 0 { return response }
        response += buffer[0..<n]
    }
}

/// Sends one datagram to 127.0.0.1:`port` and returns the first reply with the same ID.
public func udpExchange(_ query: [UInt8], port: UInt16, timeout: Duration = .seconds(2)) throws -> [UInt8] {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { throw SupportError.io("socket: \(errnoText())") }
    defer { close(fd) }
    guard connectSocket(fd, port: port) else { throw SupportError.io("connect: \(errnoText())") }
    setTimeouts(fd, timeout)
    try sendAll(fd, query)
    let deadline = ContinuousClock.now + timeout
    var buffer = [UInt8](repeating: 0, count: 65536)
    while ContinuousClock.now < deadline {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
        guard n >= 0 else { throw SupportError.io("recv: \(errnoText())") }
        if n >= 2 && buffer[0] == query[0] && buffer[1] == query[1] { return Array(buffer[0..<n]) }
    }
    throw SupportError.timeout("no UDP reply from 127.0.0.1:\(port) within \(timeout)")
}

/// Sends one query over a new TCP connection (2-byte length prefix, RFC 1035 §4.2.2) and returns
/// the reply.
public func tcpExchange(_ query: [UInt8], port: UInt16, timeout: Duration = .seconds(5)) throws -> [UInt8] {
    let fd = try connectedTCPSocket(port: port, timeout: timeout, what: "the DNS server")
    defer { close(fd) }
    try sendAll(fd, TCPFraming.frame(query))
    let prefix = try receiveExactly(fd, 2, what: "TCP reply length from 127.0.0.1:\(port)")
    let length = Int(prefix[0]) << 8 | Int(prefix[1])
    return try receiveExactly(fd, length, what: "TCP reply body from 127.0.0.1:\(port)")
}
