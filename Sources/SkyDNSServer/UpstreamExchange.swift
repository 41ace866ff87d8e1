#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShim  // SOCK_DGRAM/SOCK_STREAM: without it, some build orders see sys/socket.h only through this module
import DNSWire

/// One query to one upstream server, done the way that resists spoofing: a fresh random ID and a
/// fresh socket (so a random source port) per query, connected so that only the upstream's
/// address can answer, and a reply accepted only when its ID and question match. A truncated
/// UDP reply is retried over TCP.
enum UpstreamExchange {
    enum Failure: Error { case timeout, network(Int32), malformed }

    /// Sends `query` (whose ID is replaced) and returns the upstream's reply with that ID.
    static func exchange(_ query: [UInt8], with server: SocketAddress, timeout: Double) -> Result<[UInt8], Failure> {
        var query = query
        let id = UInt16.random(in: 0...UInt16.max)
        query[0] = UInt8(id >> 8)
        query[1] = UInt8(id & 0xFF)
        let deadline = monotonicNow() + timeout
        switch udp(query, id: id, server: server, deadline: deadline) {
        case .success(let reply) where reply[2] & 0x02 != 0:
            // TC: the whole answer only comes over TCP.
            return tcp(query, id: id, server: server, deadline: max(deadline, monotonicNow() + timeout / 2))
        case let result:
            return result
        }
    }

    private static func udp(_ query: [UInt8], id: UInt16, server: SocketAddress, deadline: Double) -> Result<[UInt8], Failure> {
        let fd = socket(server.family, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return .failure(.network(errno)) }
        defer { close(fd) }
        guard server.connect(fd) else { return .failure(.network(errno)) }
        guard query.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == query.count else {
            return .failure(.network(errno))
        }
        var buffer = [UInt8](repeating: 0, count: 65535)
        while true {
            guard wait(fd, events: Int16(POLLIN), deadline: deadline) else { return .failure(.timeout) }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return .failure(.network(errno))
            }
            let reply = Array(buffer[..<count])
            // Anything else arriving on this port (a spoof, a late reply) is ignored.
            if matches(reply, query: query, id: id) { return .success(reply) }
        }
    }

    private static func tcp(_ query: [UInt8], id: UInt16, server: SocketAddress, deadline: Double) -> Result<[UInt8], Failure> {
        let fd = socket(server.family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .failure(.network(errno)) }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        if !server.connect(fd) && errno != EINPROGRESS { return .failure(.network(errno)) }
        guard wait(fd, events: Int16(POLLOUT), deadline: deadline) else { return .failure(.timeout) }
        var pending = TCPFraming.frame(query)[...]
        while !pending.isEmpty {
            guard wait(fd, events: Int16(POLLOUT), deadline: deadline) else { return .failure(.timeout) }
            let sent = pending.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return .failure(.network(errno))
            }
            pending = pending.dropFirst(sent)
        }
        var deframer = TCPDeframer()
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            if let message = deframer.nextMessage() {
                let reply = Array(message)
                if matches(reply, query: query, id: id) { return .success(reply) }
                continue
            }
            guard wait(fd, events: Int16(POLLIN), deadline: deadline) else { return .failure(.timeout) }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard count > 0 else { return .failure(.network(count == 0 ? ECONNRESET : errno)) }
            deframer.append(buffer[..<count])
        }
    }

    /// A reply to `query`: same ID, QR set, and the same question (case aside).
    static func matches(_ reply: [UInt8], query: [UInt8], id: UInt16) -> Bool {
        guard reply.count >= Header.size, reply[2] & 0x80 != 0,
              UInt16(reply[0]) << 8 | UInt16(reply[1]) == id,
              let sent = questionRange(query), let got = questionRange(reply), sent.count == got.count else { return false }
        return zip(query[sent], reply[got]).allSatisfy { asciiLowercase($0) == asciiLowercase($1) }
    }

    /// The bytes of the (single, uncompressed) question section.
    static func questionRange(_ message: [UInt8]) -> Range<Int>? {
        guard message.count >= Header.size, message[4] == 0, message[5] == 1 else { return nil }
        var offset = Header.size
        while offset < message.count, message[offset] != 0 {
            guard message[offset] & 0xC0 == 0 else { return nil }
            offset += Int(message[offset]) + 1
        }
        guard offset + 5 <= message.count else { return nil }
        return Header.size..<(offset + 5)
    }

    private static func wait(_ fd: Int32, events: Int16, deadline: Double) -> Bool {
        while true {
            let remaining = deadline - monotonicNow()
            guard remaining > 0 else { return false }
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let result = poll(&descriptor, 1, Int32(max(1, (remaining * 1000).rounded(.up))))
            if result > 0 { return true }
            if result < 0 && errno == EINTR { continue }
            if result == 0 { return false }
            return false
        }
    }
}

func monotonicNow() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
