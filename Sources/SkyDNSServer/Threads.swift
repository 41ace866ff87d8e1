#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts a detached OS thread. The socket loops block in system calls, so they get threads of
/// their own rather than tasks on Swift's cooperative pool.
func spawnThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: @unchecked Sendable {
        // Handed to exactly one thread, which takes ownership.
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { context in
        let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
        box.body()
        return nil
    }, context)
    precondition(result == 0, "pthread_create failed: \(result)")
    pthread_detach(thread)
}
