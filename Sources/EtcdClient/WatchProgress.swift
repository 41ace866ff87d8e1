import Logging

/// State of the main watch that survives reconnects; used by the main thread only.
final class WatchProgress {
    var needsFullRead = true
    /// v3 revision or v2 index up to which every change has been delivered.
    var applied: Int64 = 0 {
        didSet { onPosition?(applied, latest) }
    }
    /// The cluster `applied` belongs to.
    var clusterID: String?
    /// Whether a full read has been delivered (later re-reads are delivered whole).
    var deliveredFullRead = false
    /// The newest revision or index etcd has reported; minus `applied`, the watch's lag.
    var latest: Int64 = 0 {
        didSet { onPosition?(applied, latest) }
    }
    var onPosition: ((Int64, Int64) -> Void)?
    /// The highest raft term seen from `clusterID`: a lower one is another history.
    var raftTerm: Int64 = 0
    /// The key with the newest change among those held, as etcd reported it: after a
    /// reconnect etcd must still show it so at `applied`, or its history is not ours.
    var anchor: (key: String, history: KeyHistory)?
    /// v3: how many keys under the prefix we hold (etcd must count as many at `applied`).
    var heldKeys: Int64 = 0
    /// Full v2 re-reads in a row that failed on a hidden path; at `maxHiddenRetries` the next
    /// one leaves such a path out, so a path etcd never serves cannot hold back every update.
    var hiddenRetries = 0
    static let maxHiddenRetries = 3

    func noteHeld(_ key: String, _ history: KeyHistory) {
        if history.modified > (anchor?.history.modified ?? 0) { anchor = (key, history) }
    }

    /// Keeps `heldKeys` and `anchor` following one watched event.
    func follow(_ watched: WatchedChange) {
        switch watched.change {
        case .put(let kv):
            if watched.history.version == 1 { heldKeys += 1 }
            noteHeld(kv.key, watched.history)
        case .delete(let key):
            heldKeys -= 1
            if anchor?.key == key { anchor = nil }
        case .deleteTree(let key):
            if let held = anchor?.key, held == key || held.hasPrefix(key + "/") { anchor = nil }
        case .replaceAll, .firstReadPage:
            break
        }
    }

    /// Starts the history checks over from a complete read.
    func reset(_ kvs: [EtcdKey], position: EtcdPosition) {
        anchor = nil
        heldKeys = 0
        add(kvs)
        raftTerm = position.raftTerm ?? 0
    }

    func add(_ kvs: [EtcdKey]) {
        heldKeys += Int64(kvs.count)
        for kv in kvs { noteHeld(kv.key, kv.history) }
    }

    /// Granted TTLs of the v3 leases seen so far (a lease's granted TTL never changes).
    var leaseTTLs: [Int64: UInt32] = [:]
    /// Whether the watched keyspace has held a record; until then detection keeps
    /// checking the other API.
    var hasRecords = false
    /// Detection ran again for the re-read under way (see `redetectsAfterNewHistory`).
    var redetected = false
    var backoff = Backoff()
}

/// Capped exponential backoff with jitter, so members coming back are not hit in lockstep.
struct Backoff {
    static let initial = 0.1
    static let maximum = 5.0
    private var ceiling = Backoff.initial

    /// A delay between half and all of the current ceiling, which then doubles up to the cap.
    mutating func next() -> Double {
        let delay = ceiling / 2 + Double.random(in: 0...(ceiling / 2))
        ceiling = min(ceiling * 2, Backoff.maximum)
        return delay
    }

    mutating func reset() {
        ceiling = Backoff.initial
    }
}

extension EtcdV2 {
    /// Like readTree, but nil when the member does not serve the v2 API (etcd 3.4 without
    /// --enable-v2 answers 404 with a plain-text body).
    func readTreeIfServed(_ key: String) throws -> V2Tree? {
        do {
            return try readTree(key)
        } catch EtcdError.server(let status, _) where status < 500 {
            return nil
        }
    }
}

/// Follows one first read for `/readyz` and logs its progress at a bounded rate.
struct FirstReadTracker {
    let api: EtcdAPI
    let watcher: EtcdWatcher
    let start = MonotonicClock.now
    var total: Int?
    private var progress: FirstReadProgress
    private var log: RateLimitedLog

    init(api: EtcdAPI, watcher: EtcdWatcher) {
        self.api = api
        self.watcher = watcher
        progress = FirstReadProgress(api: api, keys: 0, total: nil, bytes: 0, elapsed: 0)
        log = RateLimitedLog(start: start)
        watcher.setFirstRead(progress)
    }

    mutating func read(keys: Int, bytes: Int) {
        set(keys: progress.keys &+ keys, bytes: progress.bytes &+ bytes)
    }

    mutating func set(keys: Int, bytes: Int) {
        let now = MonotonicClock.now
        progress.keys = keys
        progress.bytes = bytes
        progress.total = total
        progress.elapsed = now - start
        watcher.setFirstRead(progress)
        if log.due(at: now) {
            watcher.logger.info("etcd: first read of \(watcher.config.prefix) (\(api.rawValue)): \(progress.summary)")
        }
    }

    /// The read is complete (with `keys` records, when known better than the running count).
    func finish(keys: Int? = nil) {
        var done = progress
        done.keys = keys ?? done.keys
        done.elapsed = MonotonicClock.now - start
        watcher.setFirstRead(nil)
        let seconds = (done.elapsed * 10).rounded() / 10
        watcher.logger.info("etcd: first read of \(watcher.config.prefix) (\(api.rawValue)) complete: \(done.keys) keys in \(seconds) s (\(done.rate) keys/s)")
    }
}
