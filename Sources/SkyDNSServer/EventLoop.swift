#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShim

/// The epoll machinery one event-loop thread owns: the epoll descriptor, an eventfd other threads
/// write to wake it, and the buffer `epoll_wait` fills. Level-triggered; each watched descriptor
/// carries a 64-bit token that the owner picks (`wakeToken` is taken). Used by the TCP loops and
/// the upstream exchanges.
final class EventLoop: @unchecked Sendable {
    // Everything but `wake()` is used only by the owning thread.
    /// The token of the wake-up eventfd.
    static let wakeToken = UInt64.max

    private let epoll: Int32
    private let wakeFD: Int32
    private let events: UnsafeMutablePointer<skydns_event>

    /// - Throws: `ServerError.socket` when the kernel refuses an epoll or eventfd descriptor.
    init() throws(ServerError) {
        epoll = skydns_epoll_create()
        guard epoll >= 0 else { throw .socket("epoll_create1", errno) }
        wakeFD = skydns_eventfd()
        guard wakeFD >= 0 else {
            Glibc.close(epoll)
            throw .socket("eventfd", errno)
        }
        guard skydns_epoll_add(epoll, wakeFD, SKYDNS_EPOLLIN, Self.wakeToken) == 0 else {
            Glibc.close(wakeFD)
            Glibc.close(epoll)
            throw .socket("epoll_ctl", errno)
        }
        events = .allocate(capacity: Int(SKYDNS_MAX_EVENTS))
    }

    /// Wakes the loop's thread from any thread: its next `wait` returns `wakeToken`.
    func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Reads the wake-ups so far, for the owner when `wakeToken` comes up.
    func clearWake() {
        var value: UInt64 = 0
        _ = read(wakeFD, &value, 8)
    }

    /// Watches `fd` for `interest` (SKYDNS_EPOLLIN/OUT/...); false with errno set when refused.
    func add(_ fd: Int32, interest: UInt32, token: UInt64) -> Bool {
        skydns_epoll_add(epoll, fd, interest, token) == 0
    }

    func modify(_ fd: Int32, interest: UInt32, token: UInt64) -> Bool {
        skydns_epoll_modify(epoll, fd, interest, token) == 0
    }

    /// Stops watching `fd` (closing it does the same when no copy of it is open).
    func remove(_ fd: Int32) {
        _ = skydns_epoll_remove(epoll, fd)
    }

    /// Waits up to `timeoutMilliseconds` for events; the number ready (0 on timeout, -1 with errno
    /// on failure), read with `event(_:)`.
    func wait(timeoutMilliseconds: Int32) -> Int {
        Int(skydns_epoll_wait(epoll, events, SKYDNS_MAX_EVENTS, timeoutMilliseconds))
    }

    /// The `index`th event of the last `wait`.
    func event(_ index: Int) -> skydns_event { events[index] }
}
