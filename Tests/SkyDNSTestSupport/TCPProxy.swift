import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A loopback TCP forwarder the test can cut (`disconnect`: drop every connection and refuse
/// new ones) and restore, so a watcher can be kept away from etcd while etcd keeps running.
public final class TCPProxy: @unchecked Sendable {
    // Safe to share: `listener` and `connections` are only touched under `lock`.
    public let port: UInt16
    private let target: UInt16
    private let lock = NSLock()
    private var listener: Int32 = -1
    private var connections: [ForwardedConnection] = []

    public var endpoint: String { "http://127.0.0.1:\(port)" }

    public init(to target: UInt16) throws {
        self.target = target
        self.port = try freeLoopbackPort()
        try connect()
    }

    deinit { disconnect() }

    /// Starts accepting and forwarding connections.
    public func connect() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = loopback(port)
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard ok, listen(fd, 16) == 0 else {
            close(fd)
            throw SupportError.io("listen on 127.0.0.1:\(port): \(errnoText())")
        }
        lock.withLock { listener = fd }
        Thread.detachNewThread { [self] in acceptLoop(fd) }
    }

    /// Drops every forwarded connection and stops listening.
    public func disconnect() {
        lock.withLock {
            if listener >= 0 { shutdown(listener, Int32(SHUT_RDWR)) }
            listener = -1
            for connection in connections { connection.cut() }
            connections = []
        }
    }

    private func acceptLoop(_ listenFD: Int32) {
        defer { close(listenFD) }
        while true {
            let client = accept(listenFD, nil, nil)
            guard client >= 0 else { return }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = loopback(target)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            let connection = ForwardedConnection(client, upstream)
            let registered = lock.withLock { () -> Bool in
                guard connected, listener == listenFD else { return false }
                connections.append(connection)
                return true
            }
            guard registered else {
                close(client)
                close(upstream)
                continue
            }
            Thread.detachNewThread { connection.pump(from: client, to: upstream) }
            Thread.detachNewThread { connection.pump(from: upstream, to: client) }
        }
    }

    private func loopback(_ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}

/// Two sockets forwarded both ways. They are closed only once both pumps are done, and
/// never shut down after that, so a reused descriptor number is never touched.
private final class ForwardedConnection: @unchecked Sendable {
    // Safe to share: `running` and `closed` are only touched under `lock`.
    private let lock = NSLock()
    private let sockets: (Int32, Int32)
    private var running = 2
    private var closed = false

    init(_ a: Int32, _ b: Int32) { sockets = (a, b) }

    func cut() {
        lock.withLock {
            guard !closed else { return }
            shutdown(sockets.0, Int32(SHUT_RDWR))
            shutdown(sockets.1, Int32(SHUT_RDWR))
        }
    }

    func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            let written = buffer.withUnsafeBytes { send(destination, $0.baseAddress, count, Int32(MSG_NOSIGNAL)) }
            guard written == count else { break }
        }
        cut()
        lock.withLock {
            running -= 1
            if running == 0 {
                close(sockets.0)
                close(sockets.1)
                closed = true
            }
        }
    }
}
