#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShim
import DNSWire
import Synchronization
import SkyDNSStore

/// One event-loop thread: accepts from the shared listening sockets (EPOLLEXCLUSIVE, so one loop
/// wakes per connection), reads every ready connection without blocking, answers whole messages
/// from the snapshot, and sends the replies to one read with one send. Level-triggered: a
/// connection is watched for input only while it may take more, and for output only while
/// replies wait.
final class TCPEventLoop: @unchecked Sendable {
    // Everything but `completions`, `arrivals`, `returnedReserve`, `acceptNudged` and `poller.wake()`
    // is used only by the loop's own thread.
    /// Listening socket `index` has token `listenerTokens - index`; connections' tokens are far below.
    static let listenerTokens = UInt64.max - 1
    /// Replies pending beyond this stop the connection's reading until they drain.
    private static let outputHighWater = 32768
    /// Reads per ready connection per wake-up, so one busy client cannot starve the rest.
    private static let readsPerEvent = 4
    private static let scratchSize = 65536
    static let acceptsPerEvent = 64

    let listenFDs: [Int32]
    let poller: EventLoop
    var connections: [TCPConnection?]
    var freeSlots: [Int]
    var generation: UInt64 = 0
    private let completions = Mutex<[Completion]>([])
    /// Connections other loops accepted and had no room for (at most the listener's
    /// `maxHandedOver` in all).
    let arrivals = Mutex<[Arrival]>([])
    /// This loop's place among the listener's loops.
    let index: Int
    /// Reply writers made for this loop's queries (loop thread only): tells `answer` that a
    /// query went to a slow path.
    private var handedOff = 0
    private let scratch: UnsafeMutableRawBufferPointer
    /// Closed to accept and refuse one connection when the fd table is full.
    var reserveFD: Int32
    /// Whether the reserve could be opened at start: under a limit too small for it, a loop
    /// leaves the descriptors that free up to etcd and the upstream exchanges, and tries again
    /// only when a pause for the want of one ends.
    let hasReserve: Bool
    /// A reserve fd another loop opened for this one, in place of the descriptor a connection
    /// this loop accepted with its reserve took there (-1: none; see `TCPListener.returnReserve`).
    let returnedReserve = Atomic<Int32>(-1)
    /// Another loop could not accept a pending connection: try the listening sockets.
    let acceptNudged = Atomic<Bool>(false)
    var listening = false
    var acceptPausedUntil: Int64?
    var draining = false
    private var nextSweep: Int64 = 0

    init(index: Int, listenFDs: [Int32], maxConnections: Int) throws(ServerError) {
        self.index = index
        self.listenFDs = listenFDs
        poller = try EventLoop()
        connections = Array(repeating: nil, count: maxConnections)
        freeSlots = Array((0..<maxConnections).reversed())
        scratch = .allocate(byteCount: Self.scratchSize, alignment: 8)
        reserveFD = skydns_open_reserve_fd()
        hasReserve = reserveFD >= 0
    }

    /// Wakes the loop from another thread (a completion, or stop).
    func wake() { poller.wake() }

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
    func noteHandedOff() { handedOff &+= 1 }

    /// A connection accepted by loop `origin`, which had no room for it, on its way along the
    /// loops (`visited` of them so far) to one with an idle connection to close for it.
    struct Arrival: Sendable {
        let fd: Int32
        let source: SourceKey
        let origin: Int
        var visited: Int
        /// Accepted with the reserve fd: a place needs an idle connection closed even below the cap.
        let outOfDescriptors: Bool
    }

    /// Takes a connection from another loop.
    func receive(_ arrival: Arrival) {
        arrivals.withLock { $0.append(arrival) }
        wake()
    }

    /// Asks the loop to accept what is pending (see `acceptNudged`).
    func nudgeAccept() {
        acceptNudged.store(true, ordering: .releasing)
        wake()
    }

    /// Takes a reserve fd from another loop (see `returnedReserve`).
    func receiveReserve(_ fd: Int32) {
        let unused = returnedReserve.exchange(fd, ordering: .acquiringAndReleasing)
        if unused >= 0 { Glibc.close(unused) }
        wake()
    }

    /// Hands a slow-path reply back to the loop that owns its connection.
    func post(_ completion: Completion) {
        completions.withLock { $0.append(completion) }
        wake()
    }

    func run(_ listener: TCPListener) {
        var state = LoopState(listener: listener)
        setListening(true)
        while true {
            let count = poller.wait(timeoutMilliseconds: 500)
            if count < 0 && errno != EINTR {
                listener.refusals.warning(listener.context.logger, "TCP event loop: epoll_wait failed: \(String(cString: strerror(errno)))")
                usleep(10_000)
            }
            let now = monotonicNanoseconds()
            state.snapshot = state.reader.refresh()
            for index in 0..<max(0, count) {
                let event = poller.event(index)
                switch event.token {
                case EventLoop.wakeToken:
                    poller.clearWake()
                    if listener.stopping.load(ordering: .acquiring) && !draining { beginDrain(&state, now: now) }
                    deliverCompletions(&state, now: now)
                    placeArrivals(&state, now: now)
                    restoreReserve()
                    if acceptNudged.exchange(false, ordering: .acquiring) && listening {
                        for fd in listenFDs { acceptReady(on: fd, &state, now: now) }
                    }
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

    // MARK: reading and answering

    func readable(_ connection: TCPConnection, _ state: inout LoopState, now: Int64) {
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

    func answerBuffered(_ connection: TCPConnection, _ state: inout LoopState, now: Int64) {
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
    func noteIncomplete(_ connection: TCPConnection, now: Int64) {
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

    func isPaused(_ connection: TCPConnection, _ state: LoopState) -> Bool {
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
    func settle(_ connection: TCPConnection, _ state: inout LoopState) {
        guard flush(connection, &state, now: monotonicNanoseconds()) else { return }
        if connection.readClosed && connection.outstanding == 0 && connection.pendingOutput == 0 {
            close(connection, &state)
            return
        }
        var wanted: UInt32 = 0
        if !connection.readClosed && !isPaused(connection, state) { wanted |= SKYDNS_EPOLLIN }
        if connection.pendingOutput > 0 { wanted |= SKYDNS_EPOLLOUT }
        if wanted != connection.interest {
            guard poller.modify(connection.fd, interest: wanted, token: connection.token) else {
                close(connection, &state)
                return
            }
            connection.interest = wanted
        }
    }

    func slot(of token: UInt64) -> Int { Int(truncatingIfNeeded: token & 0xFFFF_FFFF) }

    func lookup(_ token: UInt64) -> TCPConnection? {
        let index = slot(of: token)
        guard index < connections.count, let connection = connections[index], connection.token == token else { return nil }
        return connection
    }

    /// - Parameters:
    ///   - abandoned: the peer has taken nothing for the idle timeout: replies still in the
    ///     kernel's send queue are dropped with a reset rather than held (see
    ///     `skydns_close_abandoned`).
    ///   - keepingPlace: the connection's place among `maxConnections` passes to a new one.
    func close(_ connection: TCPConnection, _ state: inout LoopState, abandoned: Bool = false, keepingPlace: Bool = false) {
        let index = slot(of: connection.token)
        guard connections[index] === connection else { return }
        connections[index] = nil
        freeSlots.append(index)
        poller.remove(connection.fd)
        if abandoned { skydns_close_abandoned(connection.fd) } else { Glibc.close(connection.fd) }
        state.listener.bufferedOutput.subtract(connection.pendingOutput, ordering: .relaxed)
        if keepingPlace { state.listener.forget(connection.source) } else { state.listener.release(connection.source) }
    }
}

