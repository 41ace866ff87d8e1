#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EtcdClient

/// `startThread` for the services started while the server is built: a server that cannot get
/// the threads its configuration needs cannot run, so it exits 1 with the reason (a message, not
/// a trap). Threads are started only while the server starts, never on a client's action: their
/// number is fixed by the configuration.
func spawnThread(_ body: @escaping @Sendable () -> Void) {
    do {
        try startThread(body)
    } catch {
        let message = Array("skydns: cannot start: \(error)\n".utf8)
        message.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
        exit(1)
    }
}
