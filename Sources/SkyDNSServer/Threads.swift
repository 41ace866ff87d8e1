#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts a detached OS thread. The socket loops block in system calls, so they get threads of
/// their own rather than tasks on Swift's cooperative pool. Threads are started only while the
/// server starts, never on a client's action: their number is fixed by the configuration.
///
/// - Throws: `ServerError.thread` with pthread_create's error (EAGAIN under `ulimit -u`, a pids
///   cgroup or systemd's TasksMax; ENOMEM) when the system refuses.
public func startThread(_ body: @escaping @Sendable () -> Void) throws(ServerError) {
    final class Box: @unchecked Sendable {
        // Handed to exactly one thread, which takes ownership.
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { context in
        guard let context else { return nil }
        let box = Unmanaged<Box>.fromOpaque(context).takeRetainedValue()
        box.body()
        return nil
    }, context)
    guard result == 0 else {
        Unmanaged<Box>.fromOpaque(context).release()
        throw .thread(result)
    }
    pthread_detach(thread)
}

/// `startThread` for the services started while the server is built: a server that cannot get
/// the threads its configuration needs cannot run, so it exits 1 with the reason (a message, not
/// a trap).
func spawnThread(_ body: @escaping @Sendable () -> Void) {
    do {
        try startThread(body)
    } catch {
        let message = Array("skydns: cannot start: \(error)\n".utf8)
        message.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
        exit(1)
    }
}
