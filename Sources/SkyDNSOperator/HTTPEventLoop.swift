#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShim

/// The operator endpoint's one thread: `poll(2)` over a wake eventfd, the listener and at most
/// `OperatorHTTPServer.maxConnections` non-blocking connections. Every pass does bounded work:
/// at most 16 accepts, one read of at most the head's remaining room or one send per connection,
/// and closing what is past its deadline.
final class EventLoop: @unchecked Sendable {  // owned by its thread once started
    private enum Phase { case reading, writing, draining }

    private struct Connection {
        let fd: Int32
        let accepted: Int64
        var deadline: Int64
        var phase = Phase.reading
        var head = HTTPRequestHead()
        var output: [UInt8] = []
        var written = 0
        var drained = 0
    }

    private let listener: Int32
    private let wake: Int32
    private let routes: Routes
    private var connections: [Connection] = []
    /// While accept fails for lack of descriptors, the listener is left alone until then
    /// (it would stay readable and spin the loop).
    private var acceptPausedUntil: Int64 = 0

    init(listener: Int32, wake: Int32, routes: Routes) {
        self.listener = listener
        self.wake = wake
        self.routes = routes
        connections.reserveCapacity(OperatorHTTPServer.maxConnections)
    }

    func run() {
        var fds: [pollfd] = []
        fds.reserveCapacity(OperatorHTTPServer.maxConnections + 2)
        var scratch = [UInt8](repeating: 0, count: 16_384)
        while true {
            let now = Self.now()
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: wake, events: Int16(POLLIN), revents: 0))
            fds.append(pollfd(fd: now >= acceptPausedUntil ? listener : -1, events: Int16(POLLIN), revents: 0))
            var nextDeadline = now + 1_000_000_000
            for connection in connections {
                let events = connection.phase == .writing ? POLLOUT : POLLIN
                fds.append(pollfd(fd: connection.fd, events: Int16(events), revents: 0))
                nextDeadline = min(nextDeadline, connection.deadline)
            }
            if now < acceptPausedUntil { nextDeadline = min(nextDeadline, acceptPausedUntil) }
            let timeout = Int32(clamping: max((nextDeadline - now) / 1_000_000 + 1, 0))
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0 && errno != EINTR { break }
            if fds[0].revents != 0 { break }  // stop() signalled the eventfd

            // Connections first (their indexes match fds[2...] until one is removed), then accepts.
            var closing: [Int] = []
            for index in connections.indices where fds[index + 2].revents != 0 {
                if !service(&connections[index], scratch: &scratch) { closing.append(index) }
            }
            let after = Self.now()
            for index in connections.indices where connections[index].deadline <= after && !closing.contains(index) {
                closing.append(index)
            }
            for index in closing.sorted(by: >) { close(connections.remove(at: index).fd) }
            if fds[1].revents != 0 { acceptSome(now: after) }
        }
        for connection in connections { close(connection.fd) }
        connections.removeAll()
        close(listener)
        close(wake)
    }

    private func acceptSome(now: Int64) {
        for _ in 0..<16 {
            var peer = sockaddr_storage()
            var peerLength = socklen_t(0)
            let fd = skydns_accept(listener, &peer, &peerLength)
            if fd < 0 {
                switch errno {
                case EMFILE, ENFILE, ENOBUFS, ENOMEM: acceptPausedUntil = now + 100_000_000
                default: break  // EAGAIN, or a connection reset while queued
                }
                return
            }
            if connections.count >= OperatorHTTPServer.maxConnections, let oldest = connections.indices.min(by: {
                connections[$0].accepted < connections[$1].accepted
            }) {
                close(connections.remove(at: oldest).fd)
            }
            connections.append(Connection(fd: fd, accepted: now, deadline: now + OperatorHTTPServer.requestTimeout * 1_000_000_000))
        }
    }

    /// Moves one connection along; false when it is done or failed and is to be closed.
    private func service(_ connection: inout Connection, scratch: inout [UInt8]) -> Bool {
        switch connection.phase {
        case .reading:
            let room = min(connection.head.room, scratch.count)
            let got = scratch.withUnsafeMutableBytes { buffer in recv(connection.fd, buffer.baseAddress, room, 0) }
            if got < 0 { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR }
            guard got > 0 else { return false }  // closed before a whole head
            let state = scratch.withUnsafeBytes { connection.head.append(UnsafeRawBufferPointer(rebasing: $0.prefix(got))) }
            switch state {
            case .incomplete:
                return true
            case .tooLarge:
                respond(&connection, HTTPResponse(.requestHeaderFieldsTooLarge, text: "request head over \(HTTPRequestHead.limit) bytes"),
                        includeBody: true)
            case .complete:
                switch connection.head.requestLine() {
                case .success(let request):
                    respond(&connection, routes.respond(method: request.method, path: request.path),
                            includeBody: request.method != HTTPRequestHead.Method.head)
                case .failure(let status):
                    respond(&connection, HTTPResponse(status, text: "malformed request line"), includeBody: true)
                }
            }
            return send(&connection)
        case .writing:
            return send(&connection)
        case .draining:
            let got = scratch.withUnsafeMutableBytes { buffer in recv(connection.fd, buffer.baseAddress, buffer.count, 0) }
            if got < 0 { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR }
            connection.drained += got
            return got > 0 && connection.drained < OperatorHTTPServer.drainLimit
        }
    }

    private func respond(_ connection: inout Connection, _ response: HTTPResponse, includeBody: Bool) {
        connection.output = response.serialized(includeBody: includeBody)
        connection.head = HTTPRequestHead()
        connection.phase = .writing
    }

    private func send(_ connection: inout Connection) -> Bool {
        while connection.written < connection.output.count {
            let sent = connection.output.withUnsafeBytes { bytes in
                guard let base = bytes.baseAddress else { return 0 }
                return Glibc.send(connection.fd, base + connection.written, bytes.count - connection.written,
                                  Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            }
            if sent < 0 { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR }
            connection.written += sent
        }
        // All sent: no more to say; read what the client still sends until it closes.
        shutdown(connection.fd, Int32(SHUT_WR))
        connection.output = []
        connection.phase = .draining
        connection.deadline = Self.now() + 1_000_000_000
        return true
    }

    private static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) &* 1_000_000_000 &+ Int64(time.tv_nsec)
    }
}
