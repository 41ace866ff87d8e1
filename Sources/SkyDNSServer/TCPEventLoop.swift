#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShim
import DNSWire
import Synchronization
import SkyDNSStore

/// One TCP connection, owned by the loop that accepted it.
final class TCPConnection {
    let fd: Int32
    let token: UInt64
    let source: SourceKey
    /// Bytes read but not answered: the start of a message, or whole messages left while the
    /// connection waits for its output to drain.
    var input: [UInt8] = []
    /// Framed replies not yet sent, from `outputSent` on.
    var output: [UInt8] = []
    var outputSent = 0
    /// The last complete query or send progress (monotonic nanoseconds).
    var lastActivity: Int64
    /// When the first byte of an incomplete message arrived.
    var messageStarted: Int64?
    /// Queries on the slow path.
    var outstanding = 0
    /// The client sent end-of-file, or the server is stopping: read nothing more.
    var readClosed = false
    /// The epoll events registered.
    var interest: UInt32 = 0

    init(fd: Int32, token: UInt64, source: SourceKey, now: Int64) {
        self.fd = fd
        self.token = token
        self.source = source
        lastActivity = now
    }

    var pendingOutput: Int { output.count - outputSent }
}

/// One event-loop thread: accepts from the shared listening sockets (EPOLLEXCLUSIVE, so one loop
/// wakes per connection), reads every ready connection without blocking, answers whole messages
/// from the snapshot, and sends the replies to one read with one send. Level-triggered: a
/// connection is watched for input only while it may take more, and for output only while
/// replies wait.
final class TCPEventLoop: @unchecked Sendable {
    // Everything but `completions` and `wakeFD` is used only by the loop's own thread.
    private static let wakeToken = UInt64.max
    /// Listening socket `index` has token `listenerTokens - index`; connections' tokens are far below.
    private static let listenerTokens = UInt64.max - 1
    /// Replies pending beyond this stop the connection's reading until they drain.
    private static let outputHighWater = 32768
    /// Reads per ready connection per wake-up, so one busy client cannot starve the rest.
    private static let readsPerEvent = 4
    private static let scratchSize = 65536
    private static let acceptsPerEvent = 64

    private let listenFDs: [Int32]
    private let epoll: Int32
    private let wakeFD: Int32
    private var connections: [TCPConnection?]
    private var freeSlots: [Int]
    private var generation: UInt64 = 0
    private let completions = Mutex<[Completion]>([])
    /// Reply writers made for this loop's queries (loop thread only): tells `answer` that a
    /// query went to a slow path.
    private var handedOff = 0
    private let scratch: UnsafeMutableRawBufferPointer
    private let events: UnsafeMutablePointer<skydns_event>
    /// Closed to accept and refuse one connection when the fd table is full.
    private var reserveFD: Int32
    private var listening = false
    private var acceptPausedUntil: Int64?
    private var draining = false
    private var nextSweep: Int64 = 0

    init(listenFDs: [Int32], maxConnections: Int) throws(ServerError) {
        self.listenFDs = listenFDs
        epoll = skydns_epoll_create()
        guard epoll >= 0 else { throw .socket("epoll_create1", errno) }
        wakeFD = skydns_eventfd()
        guard wakeFD >= 0 else { throw .socket("eventfd", errno) }
        guard skydns_epoll_add(epoll, wakeFD, SKYDNS_EPOLLIN, Self.wakeToken) == 0 else { throw .socket("epoll_ctl", errno) }
        connections = Array(repeating: nil, count: maxConnections)
        freeSlots = Array((0..<maxConnections).reversed())
        scratch = .allocate(byteCount: Self.scratchSize, alignment: 8)
        events = .allocate(capacity: Int(SKYDNS_MAX_EVENTS))
        reserveFD = skydns_open_reserve_fd()
    }

    /// Wakes the loop from another thread (a completion, or stop).
    func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// A slow path's reply to one of this loop's queries (see `TCPReplyWriter`).
    struct Completion: Sendable {
        let token: UInt64
        /// The question's type and the query's size, for the metrics.
        let type: RecordType
        let querySize: Int
        /// The reply to frame and send (nil: the query gets none).
        let reply: [UInt8]?
        /// When the loop read the query (monotonic nanoseconds).
        let received: Int64
    }

    /// Notes that a reply writer was made for a query of this loop (called on the loop thread,
    /// from within `answer`): the connection waits for one more completion.
    func noteHandedOff() { handedOff += 1 }

    /// Hands a slow-path reply back to the loop that owns its connection.
    func post(_ completion: Completion) {
        completions.withLock { $0.append(completion) }
        wake()
    }

    func run(_ listener: TCPListener) {
        var state = LoopState(listener: listener)
        setListening(true)
        while true {
            let count = skydns_epoll_wait(epoll, events, SKYDNS_MAX_EVENTS, 500)
            if count < 0 && errno != EINTR {
                listener.refusals.warning(listener.context.logger, "TCP event loop: epoll_wait failed: \(String(cString: strerror(errno)))")
                usleep(10_000)
            }
            let now = monotonicNanoseconds()
            state.snapshot = state.reader.refresh()
            for index in 0..<max(0, Int(count)) {
                let event = events[index]
                switch event.token {
                case Self.wakeToken:
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                    if listener.stopping.load(ordering: .acquiring) && !draining { beginDrain(&state, now: now) }
                    deliverCompletions(&state, now: now)
                case let token where Self.listenerTokens - token < UInt64(listenFDs.count):
                    acceptReady(on: listenFDs[Int(Self.listenerTokens - token)], &state, now: now)
                default:
                    guard let connection = lookup(event.token) else { continue }
                    if event.events & (SKYDNS_EPOLLERR | SKYDNS_EPOLLHUP) != 0 {
                        close(connection, &state)
                        continue
                    }
                    if event.events & SKYDNS_EPOLLOUT != 0 { writable(connection, &state, now: now) }
                    if event.events & SKYDNS_EPOLLIN != 0, connections[slot(of: connection.token)] === connection {
                        readable(connection, &state, now: now)
                    }
                }
            }
            if now >= nextSweep {
                nextSweep = now + 250_000_000
                sweep(&state, now: now)
            }
        }
    }

    /// What the loop's thread keeps between events.
    struct LoopState {
        let listener: TCPListener
        let handler: QueryHandler
        var reader: SnapshotReader
        var snapshot: Snapshot
        var writer = WireWriter(capacity: 65535)
        let metrics: MetricsBlock

        init(listener: TCPListener) {
            self.listener = listener
            metrics = listener.context.metrics.makeWorkerBlock(transport: .tcp)
            handler = QueryHandler(context: listener.context, metrics: metrics)
            reader = listener.publisher.makeReader()
            snapshot = reader.snapshot
        }
    }

    // MARK: accepting

    private func setListening(_ on: Bool) {
        guard on != listening else { return }
        for (index, fd) in listenFDs.enumerated() {
            if on {
                _ = skydns_epoll_add(epoll, fd, SKYDNS_EPOLLIN | SKYDNS_EPOLLEXCLUSIVE, Self.listenerTokens - UInt64(index))
            } else {
                _ = skydns_epoll_remove(epoll, fd)
            }
        }
        listening = on
    }

    private func acceptReady(on listenFD: Int32, _ state: inout LoopState, now: Int64) {
        let listener = state.listener
        for _ in 0..<Self.acceptsPerEvent {
            if listener.stopping.load(ordering: .acquiring) {
                setListening(false)
                return
            }
            var peer = sockaddr_storage()
            var peerLength = socklen_t(0)
            let fd = skydns_accept(listenFD, &peer, &peerLength)
            guard fd >= 0 else {
                let error = errno
                switch error {
                case EAGAIN, EWOULDBLOCK:
                    return
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                case EMFILE, ENFILE:
                    refuseWithReserve(on: listenFD, listener)
                    return
                default:
                    // ENOBUFS, ENOMEM, ...: stop accepting for a moment rather than spin.
                    listener.refusals.warning(listener.context.logger,
                                              "TCP accept failed: \(String(cString: strerror(error))); pausing accepts for 100 ms")
                    pauseAccepting(now: now)
                    return
                }
            }
            admit(fd, peer: peer, &state, now: now)
        }
    }

    /// The fd table is full: the pending connection is accepted with the reserved fd and closed at
    /// once, so that it is refused instead of spinning the loop; without a reserve, accepting
    /// pauses.
    private func refuseWithReserve(on listenFD: Int32, _ listener: TCPListener) {
        listener.refusals.warning(listener.context.logger,
                                  "TCP connection refused: no file descriptors left (\(listener.openConnections) connections open)")
        guard reserveFD >= 0 else {
            pauseAccepting(now: monotonicNanoseconds())
            return
        }
        Glibc.close(reserveFD)
        var peer = sockaddr_storage()
        var peerLength = socklen_t(0)
        let fd = skydns_accept(listenFD, &peer, &peerLength)
        if fd >= 0 { Glibc.close(fd) }
        reserveFD = skydns_open_reserve_fd()
        if fd < 0 || reserveFD < 0 { pauseAccepting(now: monotonicNanoseconds()) }
    }

    private func pauseAccepting(now: Int64) {
        setListening(false)
        acceptPausedUntil = now + 100_000_000
    }

    private func admit(_ fd: Int32, peer: sockaddr_storage, _ state: inout LoopState, now: Int64) {
        let listener = state.listener
        let source = SourceKey(peer)
        guard listener.admit(source) else {
            Glibc.close(fd)
            listener.refusals.warning(listener.context.logger,
                                      "TCP connection from \(peerText(peer)) refused: \(listener.limits.maxPerSource) connections from that address already")
            return
        }
        if listener.atCapacity { evictIdlest(&state, now: now) }
        guard listener.reservePlace() else {
            listener.forget(source)
            Glibc.close(fd)
            listener.refusals.warning(listener.context.logger,
                                      "TCP connection refused: \(listener.limits.maxConnections) connections open, none idle")
            return
        }
        guard let slot = freeSlots.popLast() else {
            listener.release(source)
            Glibc.close(fd)
            return
        }
        // 31 bits of generation: connection tokens stay below the loop's own (near UInt64.max).
        generation = (generation &+ 1) & 0x7FFF_FFFF
        let token = generation << 32 | UInt64(slot)
        let connection = TCPConnection(fd: fd, token: token, source: source, now: now)
        connections[slot] = connection
        connection.interest = SKYDNS_EPOLLIN
        guard skydns_epoll_add(epoll, fd, SKYDNS_EPOLLIN, token) == 0 else {
            close(connection, &state)
            return
        }
    }

    /// At the cap: closes this loop's idlest connection, if one has been idle long enough and
    /// has nothing in flight.
    private func evictIdlest(_ state: inout LoopState, now: Int64) {
        var idlest: TCPConnection?
        for case let connection? in connections
        where connection.outstanding == 0 && connection.pendingOutput == 0
            && now - connection.lastActivity >= state.listener.limits.evictableIdle {
            if let current = idlest, current.lastActivity <= connection.lastActivity { continue }
            idlest = connection
        }
        if let idlest { close(idlest, &state) }
    }

    // MARK: reading and answering

    private func readable(_ connection: TCPConnection, _ state: inout LoopState, now: Int64) {
        var reads = 0
        while !connection.readClosed && !isPaused(connection, state) && reads < Self.readsPerEvent {
            reads += 1
            let count = recv(connection.fd, scratch.baseAddress, scratch.count, 0)
            if count == 0 {
                connection.readClosed = true
                break
            }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                close(connection, &state)
                return
            }
            ingest(connection, count: count, &state, now: now)
        }
        settle(connection, &state)
    }

    /// Answers the whole messages among what was read into `scratch`, keeping the rest.
    private func ingest(_ connection: TCPConnection, count: Int, _ state: inout LoopState, now: Int64) {
        let fresh = UnsafeRawBufferPointer(rebasing: scratch[..<count])
        if connection.input.isEmpty {
            let used = answerMessages(in: fresh, connection, &state, now: now)
            if used < count { connection.input.append(contentsOf: fresh[used...]) }
        } else {
            connection.input.append(contentsOf: fresh)
            answerBuffered(connection, &state, now: now)
        }
        noteIncomplete(connection, now: now)
    }

    private func answerBuffered(_ connection: TCPConnection, _ state: inout LoopState, now: Int64) {
        guard !connection.input.isEmpty else { return }
        // answerMessages changes only output and counters, never input.
        let used = connection.input.withUnsafeBytes { answerMessages(in: $0, connection, &state, now: now) }
        if used == connection.input.count {
            if connection.input.capacity > 4096 { connection.input = [] } else { connection.input.removeAll(keepingCapacity: true) }
        } else if used > 0 {
            connection.input.removeSubrange(..<used)
        }
    }

    /// Times an incomplete message from its first byte: a client that trickles it cannot hold
    /// the connection forever.
    private func noteIncomplete(_ connection: TCPConnection, now: Int64) {
        if connection.input.isEmpty {
            connection.messageStarted = nil
        } else if connection.messageStarted == nil {
            connection.messageStarted = now
        }
    }

    /// Answers the whole messages at the start of `bytes` while the connection may take more;
    /// returns the bytes used.
    private func answerMessages(in bytes: UnsafeRawBufferPointer, _ connection: TCPConnection,
                                _ state: inout LoopState, now: Int64) -> Int {
        var offset = 0
        while !isPaused(connection, state), bytes.count - offset >= 2 {
            let length = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
            guard bytes.count - offset - 2 >= length else { break }
            let packet = UnsafeRawBufferPointer(rebasing: bytes[(offset + 2)..<(offset + 2 + length)])
            offset += 2 + length
            connection.lastActivity = now
            connection.messageStarted = nil
            answer(packet, connection, &state, now: now)
        }
        return offset
    }

    private func answer(_ packet: UnsafeRawBufferPointer, _ connection: TCPConnection, _ state: inout LoopState,
                        now: Int64) {
        let started = monotonicNanoseconds()
        let before = handedOff
        let origin = ReplyOrigin.tcp(loop: self, token: connection.token)
        if state.handler.answer(packet, snapshot: state.snapshot, origin: origin, received: started, into: &state.writer) {
            state.writer.bytes.withUnsafeBytes { reply in
                append(reply, to: connection, listener: state.listener, metrics: state.metrics, started: started)
            }
        } else if handedOff != before {
            // Its reply comes back as a completion, even when the slow path refused it at once.
            connection.outstanding += 1
        }
    }

    /// Frames `reply` onto the connection's output; the handler (or the completion) has counted it.
    private func append(_ reply: UnsafeRawBufferPointer, to connection: TCPConnection, listener: TCPListener,
                        metrics: MetricsBlock, started: Int64) {
        guard reply.count <= 65535 else {
            metrics.add(MetricsBlock.Slot.dropped)
            return
        }
        TCPFraming.append(reply, to: &connection.output)
        listener.bufferedOutput.add(reply.count + 2, ordering: .relaxed)
        metrics.answerDuration(nanoseconds: monotonicNanoseconds() - started, count: 1)
    }

    private func isPaused(_ connection: TCPConnection, _ state: LoopState) -> Bool {
        let limits = state.listener.limits
        return connection.pendingOutput >= Self.outputHighWater
            || connection.outstanding >= limits.maxOutstandingPerConnection
            || state.listener.bufferedOutput.load(ordering: .relaxed) >= limits.maxBufferedOutput
    }

    private func deliverCompletions(_ state: inout LoopState, now: Int64) {
        let finished = completions.withLock { list in
            defer { list.removeAll(keepingCapacity: true) }
            return list
        }
        for completion in finished {
            guard let connection = lookup(completion.token) else { continue }
            connection.outstanding -= 1
            connection.lastActivity = now
            if let reply = completion.reply {
                reply.withUnsafeBytes { reply in
                    state.metrics.answered(type: completion.type, querySize: completion.querySize, typeFrom: nil,
                                           reply: reply)
                    append(reply, to: connection, listener: state.listener, metrics: state.metrics,
                           started: completion.received)
                }
            } else {
                state.metrics.add(MetricsBlock.Slot.dropped)
            }
            answerBuffered(connection, &state, now: now)
            noteIncomplete(connection, now: now)
            settle(connection, &state)
        }
    }

    // MARK: writing

    private func writable(_ connection: TCPConnection, _ state: inout LoopState, now: Int64) {
        let wasPaused = isPaused(connection, state)
        guard flush(connection, &state, now: now) else { return }
        if wasPaused && !isPaused(connection, state) {
            answerBuffered(connection, &state, now: now)
            noteIncomplete(connection, now: now)
        }
        settle(connection, &state)
    }

    /// Sends what it can of the pending replies; false when the connection failed (and is closed).
    private func flush(_ connection: TCPConnection, _ state: inout LoopState, now: Int64) -> Bool {
        while connection.pendingOutput > 0 {
            let sent = connection.output.withUnsafeBytes { bytes in
                send(connection.fd, bytes.baseAddress.map { $0 + connection.outputSent }, bytes.count - connection.outputSent,
                     Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            }
            if sent > 0 {
                connection.outputSent += sent
                state.listener.bufferedOutput.subtract(sent, ordering: .relaxed)
                connection.lastActivity = now
                continue
            }
            if sent < 0 && errno == EINTR { continue }
            if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            close(connection, &state)
            return false
        }
        if connection.pendingOutput == 0 {
            // Hand back a large buffer once it is empty, so that idle connections stay small.
            if connection.output.capacity > 16384 { connection.output = [] } else { connection.output.removeAll(keepingCapacity: true) }
            connection.outputSent = 0
        } else if connection.outputSent >= Self.outputHighWater {
            connection.output.removeSubrange(..<connection.outputSent)
            connection.outputSent = 0
        }
        return true
    }

    /// After any change: sends what waits, closes a connection that is finished, and registers
    /// the events it now waits for.
    private func settle(_ connection: TCPConnection, _ state: inout LoopState) {
        guard flush(connection, &state, now: monotonicNanoseconds()) else { return }
        if connection.readClosed && connection.outstanding == 0 && connection.pendingOutput == 0 {
            close(connection, &state)
            return
        }
        var wanted: UInt32 = 0
        if !connection.readClosed && !isPaused(connection, state) { wanted |= SKYDNS_EPOLLIN }
        if connection.pendingOutput > 0 { wanted |= SKYDNS_EPOLLOUT }
        if wanted != connection.interest {
            guard skydns_epoll_modify(epoll, connection.fd, wanted, connection.token) == 0 else {
                close(connection, &state)
                return
            }
            connection.interest = wanted
        }
    }

    // MARK: timeouts and shutdown

    /// Closes connections that are idle, trickle a message, or cannot be written to; resumes
    /// reading on connections paused by others' buffered replies, and accepting after a pause.
    private func sweep(_ state: inout LoopState, now: Int64) {
        let limits = state.listener.limits
        let idle = state.listener.underPressure ? limits.pressureIdleTimeout : limits.idleTimeout
        for case let connection? in connections where connection.outstanding == 0 {
            let expired: Bool
            if let started = connection.messageStarted, now - started > limits.idleTimeout {
                expired = true
            } else if connection.pendingOutput > 0 {
                expired = now - connection.lastActivity > limits.idleTimeout
            } else {
                expired = now - connection.lastActivity > idle
            }
            if expired {
                close(connection, &state)
            } else if connection.interest & SKYDNS_EPOLLIN == 0 && !connection.readClosed && !isPaused(connection, state) {
                answerBuffered(connection, &state, now: now)
                noteIncomplete(connection, now: now)
                settle(connection, &state)
            }
        }
        if let until = acceptPausedUntil, now >= until, !draining {
            acceptPausedUntil = nil
            setListening(true)
        }
    }

    /// Stop: no more accepting; each connection answers what it has already received, then
    /// closes once its replies are out.
    private func beginDrain(_ state: inout LoopState, now: Int64) {
        draining = true
        setListening(false)
        for case let connection? in connections {
            readable(connection, &state, now: now)
            guard connections[slot(of: connection.token)] === connection else { continue }
            connection.readClosed = true
            settle(connection, &state)
        }
    }

    private func slot(of token: UInt64) -> Int { Int(truncatingIfNeeded: token & 0xFFFF_FFFF) }

    private func lookup(_ token: UInt64) -> TCPConnection? {
        let index = slot(of: token)
        guard index < connections.count, let connection = connections[index], connection.token == token else { return nil }
        return connection
    }

    private func close(_ connection: TCPConnection, _ state: inout LoopState) {
        let index = slot(of: connection.token)
        guard connections[index] === connection else { return }
        connections[index] = nil
        freeSlots.append(index)
        _ = skydns_epoll_remove(epoll, connection.fd)
        Glibc.close(connection.fd)
        state.listener.bufferedOutput.subtract(connection.pendingOutput, ordering: .relaxed)
        state.listener.release(connection.source)
    }
}

/// "a.b.c.d" or an IPv6 address, for log lines.
func peerText(_ peer: sockaddr_storage) -> String {
    var peer = peer
    var buffer = [CChar](repeating: 0, count: 64)
    withUnsafeBytes(of: &peer) { raw in
        let family = Int32(raw.load(as: sa_family_t.self))
        _ = inet_ntop(family, raw.baseAddress.map { $0 + (family == AF_INET6 ? 8 : 4) }, &buffer, socklen_t(buffer.count))
    }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
