#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EtcdClient
import CSystemShim
import SkyDNSConfig
import Logging
import Synchronization
import SkyDNSStore

/// DNS over TCP (RFC 7766): two-byte length framing, pipelined queries. Connections are served
/// by a fixed set of event loops (`TCPEventLoop`, epoll, non-blocking sockets) started with the
/// server; answers that wait on etcd or upstreams go, with a reply writer (`TCPReplyWriter`),
/// to the same bounded slow paths as UDP's (the forwarder, the etcd readers) and are
/// sent when ready, possibly out of order (RFC 7766 §7). No client action starts a thread.
///
/// What a client can hold is bounded: `maxConnections` in all, `maxPerSource` from one address
/// (an IPv6 client's /64), idle connections closed after `idleTimeout` (sooner under pressure),
/// replies waiting to be read by `maxBufferedOutput`, and at the cap a new connection displaces
/// the idlest one, or is refused. A resource that runs
/// out (fds, the caps) refuses that one connection; the others keep being served.
final class TCPListener: Sendable {
    struct Limits: Sendable {
        var maxConnections = 512
        var maxPerSource = 64
        /// Nanoseconds without a query or send progress before a connection is closed (RFC 7766
        /// §6.2.3), and the time a message or a blocked send may take.
        var idleTimeout: Int64 = 10_000_000_000
        /// Above `pressureThreshold` open connections, idle ones are closed after this instead.
        var pressureIdleTimeout: Int64 = 2_000_000_000
        var pressureThreshold = 384
        /// At the cap, a connection idle at least this long may be closed for a new one.
        var evictableIdle: Int64 = 1_000_000_000
        /// Queries one connection may have waiting on etcd or upstreams.
        var maxOutstandingPerConnection = 8
        /// Replies held for all connections (bytes) beyond which no connection reads more queries
        /// until clients take them: each connection holds at most about 32 KiB of replies plus
        /// those of its slow queries, and this bounds the sum.
        var maxBufferedOutput = 32 << 20

        /// The connection cap lowered to `descriptors` (at least 1): connections past the file
        /// descriptors left would take those that upstream exchanges and etcd need, and every
        /// forwarded query would fail while clients held them. At the cap a new connection still
        /// takes the place of an idle one. True when the cap was lowered.
        mutating func fit(descriptors: Int) -> Bool {
            guard descriptors < maxConnections else { return false }
            maxConnections = max(1, descriptors)
            return true
        }
    }

    let fds: [Int32]
    let limits: Limits
    let context: ServerContext
    let publisher: SnapshotPublisher
    /// Whether the sockets are ours to shut down (false for sockets passed by systemd, which
    /// keeps them for the next instance).
    private let ownsSockets: Bool
    private let open = Atomic<Int>(0)
    /// Bytes of replies waiting in all connections' output buffers.
    let bufferedOutput = Atomic<Int>(0)
    let stopping = Atomic<Bool>(false)
    private let sources = Mutex<[SourceKey: Int]>([:])
    let refusals = RateLimitedLog()
    private let loops: [TCPEventLoop]
    /// Connections accepted beyond the cap, on their way to a loop with an idle connection to
    /// close for them: each holds a descriptor for a loop's turn.
    private let handedOver = Atomic<Int>(0)
    static let maxHandedOver = 16

    /// - Parameters:
    ///   - fds: bound TCP sockets; listened on here, each served by every loop.
    ///   - loops: the number of event-loop threads (at least 1).
    init(fds: [Int32], loops: Int, ownsSockets: Bool = true, limits: Limits = Limits(), context: ServerContext,
         publisher: SnapshotPublisher) throws(ServerError) {
        self.fds = fds
        self.limits = limits
        self.ownsSockets = ownsSockets
        self.context = context
        self.publisher = publisher
        for fd in fds {
            guard listen(fd, 1024) == 0, skydns_set_nonblocking(fd, 1) == 0 else { throw .socket("listen", errno) }
        }
        var made: [TCPEventLoop] = []
        for index in 0..<max(1, loops) {
            made.append(try TCPEventLoop(index: index, listenFDs: fds, maxConnections: limits.maxConnections))
        }
        self.loops = made
    }

    /// Starts the loops' threads.
    func start() throws(ServerError) {
        for loop in loops {
            do { try startThread { [self] in loop.run(self) } } catch { throw .thread(error) }
        }
    }

    /// Stops accepting connections and lets each open one finish: queries already received are
    /// answered, then the connection closes.
    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        // New connections are refused from now on; a socket passed by systemd stays usable for
        // the next instance (its backlog waits for it).
        if ownsSockets { for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) } }
        for loop in loops { loop.wake() }
    }

    /// Waits until every connection has closed, or `limit` has passed; true if all closed.
    func drain(within limit: Duration) -> Bool {
        let deadline = monotonicNanoseconds() &+ limit.inNanoseconds
        while open.load(ordering: .relaxed) > 0 {
            if monotonicNanoseconds() >= deadline { return false }
            usleep(10_000)
        }
        return true
    }

    /// Passes a connection to the loop after the `visited` ones from its origin, going round the
    /// loops twice (first for an idle connection, then for one of an address holding more);
    /// false after that, or when `maxHandedOver` are on their way already.
    func handOver(_ arrival: TCPEventLoop.Arrival) -> Bool {
        guard arrival.visited < 2 * loops.count else { return false }
        if arrival.visited == 1 {
            guard handedOver.add(1, ordering: .relaxed).newValue <= Self.maxHandedOver else {
                handedOver.subtract(1, ordering: .relaxed)
                return false
            }
        }
        var next = arrival
        next.visited += 1
        loops[(arrival.origin + arrival.visited) % loops.count].receive(next)
        return true
    }

    /// A connection loop `origin` accepted with its reserve fd (the fd table full) has taken an
    /// idle connection's descriptor, or been refused: the descriptor freed is opened at once as
    /// that loop's reserve, before an accept elsewhere takes it. Otherwise each such connection
    /// turned a reserve into a connection, and with every loop's reserve gone, new connections
    /// waited unanswered in the backlog instead of being refused.
    func returnReserve(to origin: Int) {
        let fd = skydns_open_reserve_fd()
        if fd >= 0 { loops[origin].receiveReserve(fd) }
    }

    /// Loop `index` cannot accept a pending connection (no reserve fd, no idle connection):
    /// the next loop tries. A loop not listening (paused, draining) passes nothing on.
    func nudge(after index: Int) {
        guard loops.count > 1 else { return }
        loops[(index + 1) % loops.count].nudgeAccept()
    }

    /// A handed-over connection has been placed or refused.
    func landed(_ arrival: TCPEventLoop.Arrival) {
        if arrival.visited > 1 { handedOver.subtract(1, ordering: .relaxed) }
    }

    var loopCount: Int { loops.count }

    var openConnections: Int { open.load(ordering: .relaxed) }

    var underPressure: Bool { open.load(ordering: .relaxed) > limits.pressureThreshold }

    /// Takes one of the `maxConnections` places; false at the cap.
    func reservePlace() -> Bool {
        guard open.add(1, ordering: .relaxed).newValue <= limits.maxConnections else {
            open.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    /// Counts a connection from `source`; false when that address already holds `maxPerSource`.
    func admit(_ source: SourceKey) -> Bool {
        sources.withLock { counts in
            let held = counts[source, default: 0]
            guard held < limits.maxPerSource else { return false }
            counts[source] = held + 1
            return true
        }
    }

    /// `body` over the number of connections each address holds, under the lock `admit` takes
    /// (keep it short).
    func withSourceCounts<Result: Sendable>(_ body: ([SourceKey: Int]) -> Result) -> Result {
        sources.withLock { body($0) }
    }

    /// Gives back what `admit` took.
    func forget(_ source: SourceKey) {
        sources.withLock { counts in
            let held = counts[source, default: 0]
            counts[source] = held > 1 ? held - 1 : nil
        }
    }

    /// Releases what `admit` and `reservePlace` took, when the connection closes.
    func release(_ source: SourceKey) {
        forget(source)
        open.subtract(1, ordering: .relaxed)
    }
}

/// The address a connection's limits are counted by: an IPv4 address, or an IPv6 client's /64
/// (one host usually owns a whole /64).
struct SourceKey: Hashable, Sendable {
    let high: UInt64
    let low: UInt64

    init(_ peer: sockaddr_storage) {
        var peer = peer
        let key = withUnsafeBytes(of: &peer) { raw -> (UInt64, UInt64) in
            let family = raw.load(as: sa_family_t.self)
            var high: UInt64 = 0
            var low: UInt64 = 0
            if Int32(family) == AF_INET6 {
                // sockaddr_in6: the address is bytes 8..<24; keep its first 8 (the /64).
                for index in 8..<16 { high = high << 8 | UInt64(raw[index]) }
                // An IPv4-mapped address (::ffff:a.b.c.d) is that IPv4 client: all 128 bits.
                if high == 0 {
                    for index in 16..<24 { low = low << 8 | UInt64(raw[index]) }
                }
            } else {
                // sockaddr_in: the address is bytes 4..<8.
                for index in 4..<8 { low = low << 8 | UInt64(raw[index]) }
                low |= 0xFFFF_0000_0000
            }
            return (high, low)
        }
        high = key.0
        low = key.1
    }
}

/// A warning that a flood would repeat: logged at most once per `interval`, with how many were
/// left out since.
final class RateLimitedLog: Sendable {
    private struct State {
        var last: Int64 = .min
        var suppressed = 0
    }
    private let state = Mutex(State())
    private let interval: Int64

    init(intervalSeconds: Int64 = 10) { interval = intervalSeconds * 1_000_000_000 }

    func warning(_ logger: Logger, _ message: @autoclosure () -> String) {
        let now = monotonicNanoseconds()
        let suppressed: Int? = state.withLock { state in
            guard state.last == .min || now - state.last >= interval else {
                state.suppressed += 1
                return nil
            }
            defer { state.suppressed = 0 }
            state.last = now
            return state.suppressed
        }
        guard let suppressed else { return }
        let more = suppressed > 0 ? " (\(suppressed) more like it since the last report)" : ""
        logger.warning("\(message())\(more)")
    }
}
