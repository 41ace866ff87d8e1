#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Seconds on the monotonic clock (never jumps with the wall clock), for deadlines.
enum MonotonicClock {
    static var now: Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}

/// Wall-clock Unix time in seconds, for "since" in reports.
func wallClockNow() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// pthread_create's refusal: EAGAIN under `ulimit -u`, a pids cgroup or systemd's TasksMax;
/// ENOMEM.
public struct ThreadRefused: Error, CustomStringConvertible {
    /// The errno pthread_create returned.
    public let code: Int32

    public var description: String { "cannot create a thread: \(String(cString: strerror(code)))" }
}

/// Starts a detached OS thread running `body`. The etcd client's loops block in libcurl and the
/// server's socket loops in system calls, so each gets a thread of its own rather than a task
/// on Swift's cooperative pool; the caller decides what a refusal costs.
///
/// - Throws: `ThreadRefused` when the system refuses a thread.
public func startThread(_ body: @escaping @Sendable () -> Void) throws(ThreadRefused) {
    final class Box: @unchecked Sendable {
        // Handed to exactly one thread, which takes ownership.
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { context in
        guard let context else { return nil }
        Unmanaged<Box>.fromOpaque(context).takeRetainedValue().body()
        return nil
    }, context)
    guard result == 0 else {
        Unmanaged<Box>.fromOpaque(context).release()
        throw ThreadRefused(code: result)
    }
    pthread_detach(thread)
}

/// A mutex and condition variable (pthread), for sleeping until a deadline or a signal.
final class ConditionLock: @unchecked Sendable {
    // @unchecked: the pthread objects are only used through the functions below, which are
    // thread-safe by pthread's contract; they are allocated once and never moved.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init(recursive: Bool = false) {
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        if recursive { pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE)) }
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
        var conditionAttributes = pthread_condattr_t()
        pthread_condattr_init(&conditionAttributes)
        pthread_condattr_setclock(&conditionAttributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &conditionAttributes)
        pthread_condattr_destroy(&conditionAttributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Waits (the lock held) until signalled or until `deadline` on the monotonic clock; returns
    /// false once the deadline has passed.
    func wait(until deadline: Double) -> Bool {
        guard deadline > MonotonicClock.now else { return false }
        let seconds = deadline.rounded(.down)
        var time = timespec(tv_sec: Int(seconds), tv_nsec: Int((deadline - seconds) * 1e9))
        return pthread_cond_timedwait(condition, mutex, &time) != ETIMEDOUT
    }

    func broadcast() { pthread_cond_broadcast(condition) }
}
