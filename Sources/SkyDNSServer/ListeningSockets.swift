#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShim
import Logging

/// The sockets the server answers on: a UDP socket for each worker and the TCP listening sockets.
struct ListeningSockets {
    /// One entry per UDP worker; workers may share a socket (a passed one).
    var udp: [Int32] = []
    var tcp: [Int32] = []
    /// Where they listen, for the start-up line.
    var description = ""

    /// Binds `address`: a SO_REUSEPORT UDP socket for each worker (a kernel queue each), and one
    /// TCP socket.
    static func bind(_ address: SocketAddress, udpWorkers: Int) throws(ServerError) -> ListeningSockets {
        var sockets = ListeningSockets(description: "\(address) (udp x\(udpWorkers), tcp)")
        try address.checkNotInUse(type: Int32(SOCK_DGRAM.rawValue))
        try address.checkNotInUse(type: Int32(SOCK_STREAM.rawValue))
        for _ in 0..<udpWorkers {
            let fd = try address.bind(type: Int32(SOCK_DGRAM.rawValue))
            try prepareUDP(fd)
            sockets.udp.append(fd)
        }
        sockets.tcp.append(try address.bind(type: Int32(SOCK_STREAM.rawValue)))
        return sockets
    }

    /// The sockets systemd passed (`-systemd`): `udpWorkers` workers share each UDP socket.
    static func activated(udpWorkers: Int, logger: Logger) throws(ServerError) -> ListeningSockets {
        let passed = try ActivatedSockets.fromEnvironment()
        for reason in passed.skipped { logger.warning("-systemd: \(reason); leaving it alone") }
        var sockets = ListeningSockets()
        for socket in passed.udp {
            try prepareUDP(socket.fd)
            sockets.udp += Array(repeating: socket.fd, count: udpWorkers)
        }
        sockets.tcp = passed.tcp.map(\.fd)
        let names = passed.udp.map { "udp \($0.address)" } + passed.tcp.map { "tcp \($0.address)" }
        sockets.description = "systemd sockets: \(names.joined(separator: ", "))"
            + (passed.udp.isEmpty ? "" : " (udp x\(udpWorkers) each)")
        // Both are served but only one came: say so, since clients fail without a word.
        if passed.tcp.isEmpty {
            logger.warning("-systemd: no stream (TCP) socket passed: truncated answers cannot be retried over TCP; add ListenStream= to the socket unit")
        }
        if passed.udp.isEmpty {
            logger.warning("-systemd: no datagram (UDP) socket passed: resolvers, which ask over UDP first, get no answer; add ListenDatagram= to the socket unit")
        }
        return sockets
    }

    /// A UDP worker's socket blocks (recvmmsg waits for the first datagram). Bound to a wildcard
    /// address (0.0.0.0, ::), it reports each query's local address, so that the reply leaves
    /// from the address the query reached: on a node with several addresses a reply from another
    /// one is dropped by the client.
    private static func prepareUDP(_ fd: Int32) throws(ServerError) {
        guard skydns_set_nonblocking(fd, 0) == 0 else { throw .socket("fcntl", errno) }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw .socket("getsockname", errno) }
        let family = Int32(storage.ss_family)
        let wildcard = withUnsafeBytes(of: &storage) { raw in
            family == AF_INET6 ? raw[8..<24].allSatisfy { $0 == 0 } : raw[4..<8].allSatisfy { $0 == 0 }
        }
        guard wildcard else { return }
        guard skydns_receive_local_addresses(fd, family) == 0 else { throw .socket("setsockopt IP_PKTINFO", errno) }
    }
}


/// The sockets systemd passes to a socket-activated service (sd_listen_fds(3)): `LISTEN_PID` names
/// this process and `LISTEN_FDS` counts descriptors from 3. Datagram sockets are served as UDP,
/// stream sockets as TCP; descriptors that are not IPv4 or IPv6 sockets are logged and left alone.
struct ActivatedSockets {
    /// The first passed descriptor (SD_LISTEN_FDS_START).
    static let firstFD: Int32 = 3
    /// More than any socket unit passes; a larger `LISTEN_FDS` is an error, not a loop bound.
    static let maxCount = 64

    struct Socket {
        let fd: Int32
        /// "127.0.0.1:53", "[::]:53", for the log.
        let address: String
    }

    var udp: [Socket] = []
    var tcp: [Socket] = []
    /// Why each descriptor left alone was skipped.
    var skipped: [String] = []

    /// Reads and then unsets the environment variables (so no child inherits them), and sorts
    /// the descriptors by type.
    ///
    /// - Throws: `ServerError.activation` when no socket was passed to this process, when
    ///   `LISTEN_FDS` is not a count from 1 to `maxCount`, or when no passed descriptor is a
    ///   UDP or TCP socket.
    static func fromEnvironment() throws(ServerError) -> ActivatedSockets {
        let pidText = getenv("LISTEN_PID").map { String(cString: $0) }
        let countText = getenv("LISTEN_FDS").map { String(cString: $0) }
        for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(name) }
        guard let pidText, let countText else {
            throw .activation("-systemd: no sockets passed by systemd (LISTEN_PID and LISTEN_FDS are not set)")
        }
        guard let pid = Int32(pidText), pid == getpid() else {
            throw .activation("-systemd: no sockets passed by systemd to this process (LISTEN_PID=\(pidText.prefix(32)))")
        }
        guard let count = Int(countText), (1...maxCount).contains(count) else {
            throw .activation("-systemd: LISTEN_FDS=\(countText.prefix(32)) is not a count from 1 to \(maxCount)")
        }
        var sockets = ActivatedSockets()
        for fd in firstFD..<(firstFD + Int32(count)) {
            sockets.take(fd)
        }
        guard !sockets.udp.isEmpty || !sockets.tcp.isEmpty else {
            throw .activation("-systemd: no UDP or TCP socket among the \(count) passed: \(sockets.skipped.joined(separator: "; "))")
        }
        return sockets
    }

    private mutating func take(_ fd: Int32) {
        var type: Int32 = 0
        var domain: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 else {
            skipped.append("fd \(fd) is not a socket (\(String(cString: strerror(errno))))")
            return
        }
        length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) == 0, domain == AF_INET || domain == AF_INET6 else {
            skipped.append("fd \(fd) is not an IPv4 or IPv6 socket")
            return
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let socket = Socket(fd: fd, address: Self.localAddress(fd))
        switch type {
        case Int32(SOCK_DGRAM.rawValue): udp.append(socket)
        case Int32(SOCK_STREAM.rawValue):
            // A socket unit with Accept=yes passes one connection per instance: not served here.
            var listening: Int32 = 0
            length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0, listening != 0 else {
                skipped.append("fd \(fd) is a stream socket that is not listening (Accept=yes is not supported)")
                return
            }
            tcp.append(socket)
        default: skipped.append("fd \(fd) is neither a datagram nor a stream socket")
        }
    }

    private static func localAddress(_ fd: Int32) -> String {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return "fd \(fd)" }
        let port = withUnsafeBytes(of: &storage) { UInt16($0[2]) << 8 | UInt16($0[3]) }
        let host = addressText(storage)
        return storage.ss_family == sa_family_t(AF_INET6) ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
