import EtcdClient
import Synchronization

/// The connection to etcd as the watcher last reported it. `/readyz` reads it for its reason and
/// a scrape for `etcd_state`; it lives beside the metrics, not in them, so readiness does not
/// depend on what is counted.
struct EtcdStatus: Sendable, Equatable {
    var state: EtcdConnectionState = .connecting
    /// Wall-clock time of the last change of state, in seconds since the Unix epoch.
    var since: Double
    /// Changes of state since the start.
    var changes: UInt64 = 0

    init(state: EtcdConnectionState = .connecting, since: Double = wallClockSeconds()) {
        self.state = state
        self.since = since
    }
}

/// Where the watcher's state changes are kept (one writer: the watcher's callback).
final class EtcdStatusTracker: Sendable {
    private let status = Mutex(EtcdStatus())

    init() {}

    /// Records a change of state, stamped now.
    func changed(to state: EtcdConnectionState) {
        status.withLock { status in
            status.state = state
            status.since = wallClockSeconds()
            status.changes &+= 1
        }
    }

    var current: EtcdStatus { status.withLock { $0 } }
}
