#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShim  // SOCK_DGRAM/SOCK_STREAM: without it, some build orders see sys/socket.h only through this module
import DNSWire
import SkyDNSConfig

/// One query to one upstream server, done the way that resists spoofing: a fresh random ID and a
/// fresh socket (so a random source port) per query, connected so that only the upstream's
/// address can answer, and a reply accepted only when its ID and question match. A truncated
/// UDP reply is retried over TCP. A reply is parsed whole before it is accepted: one that is not
/// a well-formed message is a failure (the caller tries its next upstream), never relayed.
enum UpstreamExchange {
    enum Failure: Error, Equatable {
        case timeout, network(Int32), malformed
        /// The upstream sent the query back to this server (see `ForwardingLoop`).
        case loop
    }

    /// Sends `query` (whose ID is replaced) and returns the upstream's parsed reply, with that
    /// ID, to `question`.
    static func exchange(_ query: Message, with server: SocketAddress, timeout limit: Duration) -> Result<Message, Failure> {
        let timeout = limit.inSeconds
        guard let question = query.questions.first else { return .failure(.malformed) }
        var query = query
        let id = UInt16.random(in: 0...UInt16.max)
        query.header.id = id
        let bytes = query.encode()
        let deadline = monotonicNow() + timeout
        let result: Result<Message, Failure>
        switch udp(bytes, id: id, question: question, server: server, deadline: deadline) {
        case .success(let reply) where reply.header.isTruncated:
            // TC: the whole answer only comes over TCP.
            result = tcp(bytes, id: id, question: question, server: server,
                         deadline: max(deadline, monotonicNow() + timeout / 2))
        case let other:
            result = other
        }
        if case .success(let reply) = result, ForwardingLoop.isLoopReply(reply) { return .failure(.loop) }
        return result
    }

    /// What one datagram or TCP message from the upstream is: the reply (parsed), a failure, or
    /// nil to ignore it (another ID or question: a spoof or a late reply).
    private static func accept(_ bytes: [UInt8], id: UInt16, question: Question) -> Result<Message, Failure>? {
        guard bytes.count >= Header.size, UInt16(bytes[0]) << 8 | UInt16(bytes[1]) == id else { return nil }
        do throws(ForwardedReply.Rejection) {
            return .success(try ForwardedReply.parse(bytes, asking: question))
        } catch .otherQuestion {
            return nil
        } catch {
            return .failure(.malformed)
        }
    }

    private static func udp(_ query: [UInt8], id: UInt16, question: Question, server: SocketAddress,
                            deadline: Double) -> Result<Message, Failure> {
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
            // Anything else arriving on this port (a spoof, a late reply) is ignored.
            if let result = accept(Array(buffer[..<count]), id: id, question: question) { return result }
        }
    }

    private static func tcp(_ query: [UInt8], id: UInt16, question: Question, server: SocketAddress,
                            deadline: Double) -> Result<Message, Failure> {
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
                if let result = accept(Array(message), id: id, question: question) { return result }
                continue
            }
            guard wait(fd, events: Int16(POLLIN), deadline: deadline) else { return .failure(.timeout) }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard count > 0 else { return .failure(.network(count == 0 ? ECONNRESET : errno)) }
            deframer.append(buffer[..<count])
        }
    }

    private static func wait(_ fd: Int32, events: Int16, deadline: Double) -> Bool {
        while true {
            let remaining = deadline - monotonicNow()
            guard remaining > 0 else { return false }
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            // -rtimeout may be any positive Go duration (up to 292 years): poll waits in slices
            // of at most Int32.max milliseconds, the loop the rest.
            let milliseconds = min((remaining * 1000).rounded(.up), Double(Int32.max))
            let result = poll(&descriptor, 1, Int32(max(1, milliseconds)))
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
