#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShim
import DequeModule
import DNSWire
import HeapModule
import SkyDNSConfig
import Synchronization

/// What the engine does for one query: send `query` to `servers` in turn until one answers.
struct UpstreamRequest {
    /// The query to send; its ID is replaced by a random one for each exchange.
    var query: Message
    /// Tried in order: the next one after a timeout, a network error, a malformed reply or a loop.
    var servers: [SocketAddress]
    /// After this time (monotonic nanoseconds) no further server is asked; the first always is.
    /// Servers from outside (a stub tree may list thousands) would otherwise hold a place in
    /// exchange for a timeout each, long after the client gave up.
    var lastStart: Int64 = .max
    /// Called once, on the engine's thread, with the first reply accepted or the failure.
    var finish: (UpstreamOutcome) -> Void
}

enum UpstreamOutcome {
    /// The reply.
    case answered(Message)
    /// Every server failed (or none could be asked); `looped` when one sent the query back here.
    case failed(looped: Bool)
}

/// The upstream exchanges of the whole server, multiplexed on one event-loop thread: no thread
/// waits for an upstream. Each exchange resists spoofing as RFC 5452 asks: a fresh socket (so a
/// fresh random source port) and a random ID per exchange, the socket connected so that only
/// the upstream's address can answer, and a reply accepted only when its ID and question match
/// (anything else arriving is ignored). A truncated UDP reply is asked again over TCP. Every
/// exchange has a deadline kept in a timer heap; at it, the next server is tried.
///
/// Bounded: at most `budget.limit` queries are in exchange at once (one socket each), over every
/// engine sharing the budget, and at most `maxQueued` wait for one of those places in each
/// engine; past that `submit` refuses.
///
/// The engine runs on a thread of its own (`run`), or inside the loop of a thread that also
/// waits on descriptors of its own (a UDP worker): that thread waits on `poller`, passes the
/// engine's events to `handle` and calls `finishTurn` after each wait, so that the queries it
/// forwards cost no hand-over to another thread.
final class UpstreamEngine: @unchecked Sendable {
    // Everything but `submit` and `wake` is used only by the thread that runs the engine.
    /// Work handed over from other threads, made into a request on the engine's thread when a
    /// place is free (nil: it was answered without an upstream, or dropped).
    typealias Work = @Sendable () -> UpstreamRequest?

    static let maxQueued = 4096
    /// Datagrams read from one exchange's socket per wake-up: a flood of spoofs cannot hold the loop.
    private static let readsPerEvent = 8

    /// The places in exchange, shared with the other engines of the server.
    let budget: InFlightBudget
    /// Queries wait while other engines hold every place: the next wait is short, as no wake-up
    /// comes when they free one.
    private var starved = false
    /// Queries were left queued by a turn's limit (see `finishTurn`): the next wait is none.
    private var backlog = false
    /// Per exchange, in nanoseconds.
    private let timeout: Int64
    /// Told of every exchange's result and time (nanoseconds): metrics and upstream health.
    private let observe: (SocketAddress, Result<Message, UpstreamExchange.Failure>, Int64) -> Void
    /// What the engine's thread waits on; tokens below 2^63 are the engine's, the rest are free
    /// for an owner's own descriptors (besides `EventLoop.wakeToken`).
    let poller: EventLoop
    private let queue = Mutex(Deque<Work>())
    private var slots: [InFlight?]
    private var freeSlots: [Int]
    private var generation: UInt64 = 0
    private var timers = Heap<ExchangeDeadline>()
    private let scratch: UnsafeMutableRawBufferPointer

    /// - Parameters:
    ///   - timeout: how long one server has to answer (a UDP exchange and its TCP retry).
    ///   - budget: the most queries in exchange at once, over every engine given it; each holds
    ///     one socket.
    /// - Throws: `ServerError.socket` when epoll or eventfd is refused.
    init(timeout: Duration, budget: InFlightBudget,
         observe: @escaping (SocketAddress, Result<Message, UpstreamExchange.Failure>, Int64) -> Void) throws(ServerError) {
        self.timeout = max(0, timeout.inNanoseconds)
        self.budget = budget
        self.observe = observe
        poller = try EventLoop()
        slots = Array(repeating: nil, count: budget.limit)
        freeSlots = Array((0..<budget.limit).reversed())
        scratch = .allocate(byteCount: 65536, alignment: 8)
    }

    /// Hands `work` to the engine; false when `maxQueued` already wait (the caller answers
    /// SERVFAIL at once).
    /// - Parameter fromOwner: the caller is the thread running the engine, which starts the work
    ///   at its next `finishTurn` without being woken.
    func submit(_ work: @escaping Work, fromOwner: Bool = false) -> Bool {
        let (accepted, first) = queue.withLock { queue -> (Bool, Bool) in
            guard queue.count < Self.maxQueued else { return (false, false) }
            queue.append(work)
            return (true, queue.count == 1)
        }
        // The loop takes everything queued whenever it runs, so only the first needs a wake-up.
        if first && !fromOwner { poller.wake() }
        return accepted
    }

    /// The engine on a thread of its own.
    func run() {
        while true {
            let count = poller.wait(timeoutMilliseconds: nextTimerWait())
            for index in 0..<max(0, count) { handle(poller.event(index)) }
            finishTurn()
        }
    }

    /// One event of the last wait on `poller`, when its token is the engine's (see `poller`).
    func handle(_ event: skydns_event) {
        if event.token == EventLoop.wakeToken {
            poller.clearWake()
        } else if let flight = lookup(event.token) {
            ready(flight, events: event.events)
        }
    }

    /// After each wait on `poller`: exchanges past their deadline move on, and queued work starts.
    /// - Parameter limit: the most queued queries taken this turn; the rest wait for the next
    ///   (which then comes at once), so that a thread with a socket of its own to read is never
    ///   away from it for a thousand exchanges' start.
    func finishTurn(takingAtMost limit: Int = .max) {
        expireTimers(now: monotonicNanoseconds())
        startQueued(limit: limit)
    }

    // MARK: starting

    /// Nothing in exchange and nothing waiting: the owner of a worker engine, the only one to
    /// submit to it, may block on its own socket alone until it next submits.
    var isIdle: Bool {
        freeSlots.count == slots.count && !backlog && !starved && !hasQueued
    }

    /// Whether work waits for a place; the owner checks this before a `finishTurn` it would
    /// otherwise skip.
    var hasQueued: Bool { queue.withLock { !$0.isEmpty } }

    private func startQueued(limit: Int) {
        starved = false
        backlog = false
        var taken = 0
        // Only this thread takes from the queue, so work seen waiting is still there to take;
        // the shared budget is touched only when there is.
        while !freeSlots.isEmpty, hasQueued {
            guard taken < limit else {
                backlog = true
                return
            }
            taken += 1
            guard budget.take() else {
                starved = true
                return
            }
            guard let work = queue.withLock({ $0.popFirst() }) else {
                budget.give()
                return
            }
            guard let request = work() else {
                budget.give()
                continue
            }
            guard let question = request.query.questions.first, let slot = freeSlots.popLast() else {
                budget.give()
                request.finish(.failed(looped: false))
                continue
            }
            // 31 bits of generation: tokens stay below the wake-up's.
            generation = (generation &+ 1) & 0x7FFF_FFFF
            let flight = InFlight(token: generation << 32 | UInt64(slot), request: request, question: question)
            slots[slot] = flight
            startNext(flight, now: monotonicNanoseconds())
        }
    }

    /// Starts an exchange with the flight's next server, or finishes it when none is left.
    private func startNext(_ flight: InFlight, now: Int64) {
        while flight.next < flight.request.servers.count, flight.next == 0 || now <= flight.request.lastStart {
            let server = flight.request.servers[flight.next]
            flight.next += 1
            flight.server = server
            flight.started = now
            flight.deadline = now > Int64.max - timeout ? Int64.max : now + timeout
            flight.tcp = nil
            flight.id = UInt16.random(in: 0...UInt16.max)
            flight.bytes[0] = UInt8(flight.id >> 8)
            flight.bytes[1] = UInt8(flight.id & 0xFF)
            let fd = socket(server.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else {
                // Out of descriptors here is no fault of the upstream: this query fails alone.
                finish(flight, .failed(looped: flight.looped))
                return
            }
            flight.fd = fd
            let sent = server.connect(fd)
                && flight.bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == flight.bytes.count
            guard sent, poller.add(fd, interest: SKYDNS_EPOLLIN, token: flight.token) else {
                let error = errno
                closeExchange(flight)
                observe(server, .failure(.network(error)), 0)
                continue
            }
            arm(flight)
            return
        }
        finish(flight, .failed(looped: flight.looped))
    }

    /// The same server over TCP, after a truncated UDP reply: the whole answer only comes so.
    private func retryOverTCP(_ flight: InFlight, server: SocketAddress, now: Int64) {
        closeExchange(flight)
        flight.deadline = max(flight.deadline, now > Int64.max - timeout / 2 ? Int64.max : now + timeout / 2)
        let fd = socket(server.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            finish(flight, .failed(looped: flight.looped))
            return
        }
        flight.fd = fd
        flight.tcp = TCPExchange(output: TCPFraming.frame(flight.bytes))
        guard server.connect(fd) || errno == EINPROGRESS,
              poller.add(fd, interest: SKYDNS_EPOLLOUT, token: flight.token) else {
            conclude(flight, .failure(.network(errno)), now: now)
            return
        }
        arm(flight)
    }

    private func arm(_ flight: InFlight) {
        timers.insert(ExchangeDeadline(deadline: flight.deadline, token: flight.token, serial: flight.serial))
        // Timers of finished exchanges stay until their deadline: rebuilt from the live ones
        // when they outnumber them, so that the heap stays bounded at any query rate.
        if timers.count > 4 * slots.count {
            timers = Heap(slots.compactMap { $0.flatMap { $0.fd >= 0 ? ExchangeDeadline(deadline: $0.deadline, token: $0.token, serial: $0.serial) : nil } })
        }
    }

    // MARK: events

    private func ready(_ flight: InFlight, events: UInt32) {
        let now = monotonicNanoseconds()
        if flight.tcp == nil {
            readDatagrams(flight, now: now)
        } else if flight.tcp?.output.isEmpty == false {
            writeTCP(flight, now: now)
        } else {
            readTCP(flight, now: now)
        }
    }

    private func readDatagrams(_ flight: InFlight, now: Int64) {
        for _ in 0..<Self.readsPerEvent {
            let count = recv(flight.fd, scratch.baseAddress, scratch.count, 0)
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return }
                // ECONNREFUSED: the ICMP port unreachable of a server that is not there.
                conclude(flight, .failure(.network(errno)), now: now)
                return
            }
            // Another ID or question (a spoof, a late reply) is ignored.
            guard let result = UpstreamExchange.accept(Array(UnsafeRawBufferPointer(rebasing: scratch[..<count])),
                                                       id: flight.id, question: flight.question) else { continue }
            if case .success(let reply) = result, reply.header.isTruncated, let server = flight.server {
                retryOverTCP(flight, server: server, now: now)
            } else {
                conclude(flight, result, now: now)
            }
            return
        }
    }

    private func writeTCP(_ flight: InFlight, now: Int64) {
        guard var tcp = flight.tcp else { return }
        let sent = tcp.output.withUnsafeBytes { bytes in
            send(flight.fd, bytes.baseAddress.map { $0 + tcp.sent }, bytes.count - tcp.sent, Int32(MSG_NOSIGNAL))
        }
        if sent < 0 {
            if errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK { return }
            conclude(flight, .failure(.network(errno)), now: now)
            return
        }
        tcp.sent += sent
        if tcp.sent >= tcp.output.count {
            tcp.output = []
            guard poller.modify(flight.fd, interest: SKYDNS_EPOLLIN, token: flight.token) else {
                conclude(flight, .failure(.network(errno)), now: now)
                return
            }
        }
        flight.tcp = tcp
    }

    private func readTCP(_ flight: InFlight, now: Int64) {
        let count = recv(flight.fd, scratch.baseAddress, scratch.count, 0)
        if count < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) { return }
        guard count > 0 else {
            conclude(flight, .failure(.network(count == 0 ? ECONNRESET : errno)), now: now)
            return
        }
        flight.tcp?.deframer.append(UnsafeRawBufferPointer(rebasing: scratch[..<count]))
        // Each message is consumed as it is taken, so this ends with what was read.
        while let message = flight.tcp?.deframer.nextMessage() {
            if let result = UpstreamExchange.accept(Array(message), id: flight.id, question: flight.question) {
                conclude(flight, result, now: now)
                return
            }
        }
    }

    // MARK: ending

    private func expireTimers(now: Int64) {
        while let first = timers.min, first.deadline <= now {
            _ = timers.popMin()
            guard let flight = lookup(first.token), flight.serial == first.serial, flight.fd >= 0 else { continue }
            conclude(flight, .failure(.timeout), now: now)
        }
    }

    /// Milliseconds until the next deadline (at most a second): the longest the engine's thread
    /// may wait on `poller`.
    func nextTimerWait() -> Int32 {
        if backlog && !starved { return 0 }
        let longest: Int32 = starved ? 10 : 1000
        guard let first = timers.min else { return longest }
        let remaining = first.deadline &- monotonicNanoseconds()
        guard remaining > 0 else { return 0 }
        return Int32(min(Int64(longest), remaining / 1_000_000 + 1))
    }

    /// The end of the current exchange: the reply finishes the flight, a failure moves on.
    private func conclude(_ flight: InFlight, _ result: Result<Message, UpstreamExchange.Failure>, now: Int64) {
        closeExchange(flight)
        var result = result
        if case .success(let reply) = result, ForwardingLoop.isLoopReply(reply) { result = .failure(.loop) }
        if let server = flight.server { observe(server, result, now &- flight.started) }
        switch result {
        case .success(let reply):
            finish(flight, .answered(reply))
        case .failure(let failure):
            if failure == .loop { flight.looped = true }
            startNext(flight, now: now)
        }
    }

    private func closeExchange(_ flight: InFlight) {
        if flight.fd >= 0 { close(flight.fd) }  // which also takes it out of the epoll set
        flight.fd = -1
        flight.serial &+= 1
    }

    private func finish(_ flight: InFlight, _ outcome: UpstreamOutcome) {
        closeExchange(flight)
        let index = Int(truncatingIfNeeded: flight.token & 0xFFFF_FFFF)
        flight.request.finish(outcome)
        if slots[index] === flight {
            slots[index] = nil
            freeSlots.append(index)
            budget.give()
        }
    }

    private func lookup(_ token: UInt64) -> InFlight? {
        let index = Int(truncatingIfNeeded: token & 0xFFFF_FFFF)
        guard index < slots.count, let flight = slots[index], flight.token == token else { return nil }
        return flight
    }
}
