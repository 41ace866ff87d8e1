import Logging
import SkyDNSStore

/// Keeps the record store current with everything under the configured prefix: one full read
/// (`StoreChange.replaceAll`), then a watch, with failover between endpoints, reconnects that
/// resume from the last applied revision, and a full re-read whenever etcd cannot replay the gap.
public final class EtcdWatcher: @unchecked Sendable {
    // Safe to share between threads: the mutable fields below are only touched under
    // `condition`; `onChanges` calls are serialised by `deliveryLock`; everything else is
    // immutable or Sendable. Each background thread owns its own connection.
    fileprivate let config: EtcdClientConfig
    fileprivate let logger: Logger
    private let onChanges: @Sendable ([StoreChange]) -> Void
    private let onStateChange: @Sendable (EtcdConnectionState) -> Void
    private let endpoints: EndpointRing
    private let condition = ConditionLock()
    /// Recursive so that a consumer calling stop() from inside onChanges does not deadlock.
    private let deliveryLock = ConditionLock(recursive: true)

    private var started = false
    private var stopped = false
    private var api: EtcdAPI?
    private var lastState: EtcdConnectionState?
    /// Paths fetched by fetchHidden and watched since; v2 full reads re-read them because a
    /// recursive listing of the prefix leaves them out.
    private var hiddenPaths: Set<String> = []
    private var hiddenWatchLimitLogged = false

    /// How often an empty keyspace is re-checked against the other API when detecting.
    static let probeInterval = 1.0
    /// fetchHidden watches at most this many paths; each one holds a thread and a connection.
    static let maxHiddenWatches = 256

    public init(
        config: EtcdClientConfig, logger: Logger,
        onChanges: @escaping @Sendable ([StoreChange]) -> Void,
        onStateChange: @escaping @Sendable (EtcdConnectionState) -> Void = { _ in }
    ) {
        var config = config
        while config.prefix.hasSuffix("/") { config.prefix.removeLast() }
        self.config = config
        self.logger = logger
        self.onChanges = onChanges
        self.onStateChange = onStateChange
        self.endpoints = EndpointRing(config.endpoints)
        self.api = config.api
    }

    /// Spawns the background thread; returns immediately. The first full read (`.replaceAll`, or
    /// `.firstReadPage`s) arrives through onChanges as soon as it completes.
    public func start() {
        let first = locked { () -> Bool in
            defer { started = true }
            return !started && !stopped
        }
        guard first else { return }
        report(.connecting)
        do {
            try startThread { [self] in runMain() }
        } catch {
            report(.disconnected(reason: "no thread to follow etcd with (\(error))"))
        }
        let monitor = EndpointMonitor(
            config: config, endpoints: endpoints, logger: logger, isStopped: { [weak self] in self?.isStopped ?? true },
            sleep: { [weak self] in self?.pause($0) },
            onSilent: { [weak self] index, reason in self?.abandon(endpoint: index, reason) })
        locked { self.monitor = monitor }
        monitor.start()
    }

    /// Probes the endpoints beside the watch; set by start().
    private var monitor: EndpointMonitor?
    /// An endpoint the monitor found silent while the main thread used it: the main thread's
    /// request in flight is cancelled and it moves on.
    private var silentEndpoint: (index: Int, reason: String)?

    private func abandon(endpoint index: Int, _ reason: String) {
        logger.warning("etcd: \(redactingUserInfo(endpoints.url(at: index))) is silent (\(reason)); failing over")
        locked { silentEndpoint = (index, reason) }
    }

    /// How far the first read has come while it runs; nil before and after.
    public var firstReadProgress: FirstReadProgress? { locked { firstRead } }
    fileprivate var firstRead: FirstReadProgress?

    fileprivate func setFirstRead(_ progress: FirstReadProgress?) { locked { firstRead = progress } }

    /// How each endpoint answered its last health probe.
    public var endpointHealth: [EtcdEndpointHealth] { locked { monitor }?.health ?? [] }

    /// Ends all background work. No onChanges call starts after this returns.
    public func stop() {
        deliveryLock.withLock {
            locked {
                stopped = true
                condition.broadcast()
            }
        }
    }

    /// How many hidden v2 paths are watched (at most `maxHiddenWatches`).
    public var hiddenWatchCount: Int { locked { hiddenPaths.count } }

    /// Whether `key` is a hidden v2 path kept current by a watch.
    public func isWatchingHidden(_ key: String) -> Bool { locked { hiddenPaths.contains(key) } }

    /// The API in use once chosen.
    public var activeAPI: EtcdAPI? { locked { api } }

    /// How many revisions (v3) or indexes (v2) the applied changes trail the newest etcd has
    /// reported: 0 when caught up.
    public var watchLag: Int64 { locked { max(0, position.latest - position.applied) } }
    private var position: (applied: Int64, latest: Int64) = (0, 0)

    /// etcd v2 hides keys whose label starts with "_" from recursive listings and recursive
    /// watches. Fetches exactly `key` (recursively), blocking at most `timeout` seconds.
    /// Returns nil on timeout/error, [] when absent. A v2 path that holds keys is then kept
    /// current by a background watch whose changes arrive through onChanges (at most
    /// `maxHiddenWatches`); an absent one is not watched, so names that exist nowhere (a flood
    /// of random `_` names) cost no watch.
    public func fetchHidden(key: String, timeout: Double) -> [KeyValue]? {
        readOnce(key, timeout: timeout) { connection, remaining in
            if activeAPI == .v3 {
                // v3 hides nothing: the prefix watch already keeps these keys current.
                return try EtcdV3(connection: connection).readTree(key, timeout: remaining).map(\.keyValue)
            }
            let tree = try EtcdV2(connection: connection).readTree(key, timeout: remaining)
            if !tree.kvs.isEmpty { watchHidden(key, after: tree.index) }
            return tree.kvs.map(\.keyValue)
        }
    }

    /// What `fetchSmallSubtree` found.
    public enum SubtreeRead: Sendable {
        case keys([KeyValue])
        /// More keys lie below than asked for.
        case tooLarge
        /// etcd did not answer in time (or v3 is not in use).
        case failed
    }

    /// `key` and at most `limit` keys below it, read with etcd v3 (v2 has no limit, so it is
    /// not asked).
    public func fetchSmallSubtree(key: String, limit: Int, timeout: Double) -> SubtreeRead {
        guard activeAPI == .v3,
              let found = readOnce(key, timeout: timeout, { connection, remaining in
                  try EtcdV3(connection: connection).readSmallTree(key, limit: limit, timeout: remaining)
              }) else { return .failed }
        return found.map { .keys($0.map(\.keyValue)) } ?? .tooLarge
    }

    /// Runs `read` on a connection of its own against each endpoint in turn until one answers
    /// within `timeout`; nil when none did.
    private func readOnce<Value>(_ key: String, timeout: Double,
                                 _ read: (EtcdConnection, Double) throws -> Value) -> Value? {
        let deadline = MonotonicClock.now + timeout
        let connection = makeConnection()
        for _ in 0..<endpoints.count {
            let remaining = deadline - MonotonicClock.now
            guard remaining > 0, !isStopped else { return nil }
            do {
                return try read(connection, remaining)
            } catch {
                logger.debug("etcd: fetching \(key) from \(connection.endpoint) failed: \(error)")
                connection.failover()
            }
        }
        return nil
    }

    // MARK: - Main watch loop

    /// State of the main watch that survives reconnects; used by the main thread only.
    private final class Progress {
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

    private func runMain() {
        let connection = EtcdConnection(config: config, endpoints: endpoints) { [weak self] in
            guard let self else { return true }
            return self.locked { self.stopped || self.silentEndpoint != nil }
        }
        let progress = Progress()
        progress.onPosition = { [weak self] applied, latest in
            guard let self else { return }
            self.locked { self.position = (applied, latest) }
        }
        while !isStopped {
            do {
                switch try chosenAPI(connection) {
                case .v3: try followV3(connection, progress)
                case .v2: try followV2(connection, progress)
                }
            } catch {
                guard !isStopped else { break }
                let silent = locked { () -> (index: Int, reason: String)? in
                    defer { silentEndpoint = nil }
                    return silentEndpoint
                }
                let failed = connection.endpoint
                if let silent {
                    // Only away from the silent one: the ring may have moved on already.
                    endpoints.advance(past: silent.index)
                    report(.disconnected(reason: "\(redactingUserInfo(endpoints.url(at: silent.index))): \(silent.reason)"))
                } else {
                    connection.failover()
                    report(.disconnected(reason: "\(failed): \(error)"))
                }
                let delay = progress.backoff.next()
                logger.debug("etcd: \(failed) failed (\(error)); trying \(connection.endpoint) in \(Int(delay * 1000)) ms")
                pause(delay)
            }
        }
    }

    /// Without `-etcd3`: records in v2 → v2, SkyDNS's default (said loudly when v3 holds records
    /// too, since those are then not served); else keys in v3 → v3; else the directory in v2 →
    /// v2; else v3, and the other keyspace is probed while the chosen one stays empty.
    private func chosenAPI(_ connection: EtcdConnection) throws -> EtcdAPI {
        if let api = activeAPI { return api }
        let chosen: EtcdAPI
        var notice: String?
        if try v3HasRecords(connection) {
            // Reading v2 in full only here: most v3 deployments have no v2 directory (a cheap 404).
            let v2Records = try EtcdV2(connection: connection).readTreeIfServed(config.prefix)?.kvs.count ?? 0
            if v2Records > 0 {
                chosen = .v2
                notice = "both etcd keyspaces hold records under \(config.prefix): serving the v2 keyspace "
                    + "(\(v2Records) keys, SkyDNS's default without -etcd3); the v3 keyspace's records are NOT served. "
                    + "-etcd3 serves v3 instead; -etcd3=false keeps v2 and silences this"
            } else {
                chosen = .v3
            }
        } else if try EtcdV2(connection: connection).readTreeIfServed(config.prefix)?.exists ?? false {
            chosen = .v2
        } else {
            chosen = .v3
        }
        if let notice {
            logger.warning("etcd: \(notice)")
        } else {
            logger.info("etcd: using the \(chosen.rawValue) API for \(config.prefix)")
        }
        locked {
            api = chosen
            keyspaceWarning = notice
        }
        return chosen
    }

    /// Without `-etcd3`, an etcd whose history is not ours (replaced, restored, wiped) is
    /// detected again before it is re-read: its records may now be in the other keyspace (a v2
    /// cluster moved to an etcd that serves only v3), and the keyspace chosen for the old etcd
    /// would otherwise be read and failed on forever while stale data is served. True when the
    /// caller should return so that `chosenAPI` runs again; once per re-read.
    private func redetectsAfterNewHistory(_ progress: Progress) -> Bool {
        guard config.api == nil, progress.needsFullRead, progress.deliveredFullRead, !progress.redetected else { return false }
        progress.redetected = true
        // The new etcd may be filled after we reconnect: keep probing the other keyspace while
        // the chosen one is empty, as at start.
        progress.hasRecords = false
        locked {
            api = nil
            keyspaceWarning = nil
        }
        return true
    }

    /// Set when detection found records in both keyspaces: which one is served, and the flag that
    /// picks the other. For `/readyz`.
    public var keyspaceNotice: String? { locked { keyspaceWarning } }

    /// What `/readyz` should say besides the connection state, one short sentence each.
    public var healthNotes: [String] {
        var notes: [String] = []
        if let notice = keyspaceNotice { notes.append("warning: " + notice) }
        if let read = firstReadProgress { notes.append("first read of \(config.prefix) (\(read.api.rawValue)): \(read.summary)") }
        for endpoint in endpointHealth where !endpoint.responsive {
            notes.append("etcd endpoint \(endpoint.endpoint) unresponsive since \(Int64(endpoint.since)) (Unix time): \(endpoint.reason)")
        }
        return notes
    }
    private var keyspaceWarning: String?

    /// An etcd restored from a backup or replaced by another at the same address has a history
    /// that does not continue ours: resuming the watch would miss or misplace changes, so it
    /// takes a full re-read.
    private func checkContinuity(_ position: EtcdPosition, _ progress: Progress) {
        guard !progress.needsFullRead else { return }
        let otherCluster = progress.clusterID != nil && position.clusterID != nil && position.clusterID != progress.clusterID
        let termWentBack = (position.raftTerm ?? Int64.max) < progress.raftTerm
        if otherCluster || position.index < progress.applied || termWentBack {
            logger.warning("etcd: history does not continue ours (cluster \(position.clusterID ?? "?"), at \(position.index), raft term \(position.raftTerm.map(String.init) ?? "?"); we applied \(progress.applied) in term \(progress.raftTerm)); re-reading \(config.prefix)")
            progress.needsFullRead = true
        } else if let term = position.raftTerm {
            progress.raftTerm = max(progress.raftTerm, term)
        }
    }

    /// An etcd wiped and restarted with the same flags has the same cluster ID, and may be past
    /// our revision by the time we reconnect: after every reconnect, etcd must hold at `applied`
    /// as many keys under the prefix as we do, and our newest key with the same history;
    /// otherwise (or when it cannot tell) the prefix is read again.
    private func verifyV3History(_ v3: EtcdV3, prefix: String, _ progress: Progress) throws {
        guard !progress.needsFullRead else { return }
        var mismatch: String?
        if let count = try v3.count(prefix: prefix, at: progress.applied) {
            if count != progress.heldKeys {
                mismatch = "etcd holds \(count) keys at revision \(progress.applied), we hold \(progress.heldKeys)"
            } else if let anchor = progress.anchor, try v3.history(of: anchor.key, at: progress.applied) != anchor.history {
                mismatch = "\(anchor.key) at revision \(progress.applied) is not the one we hold"
            }
        } else {
            mismatch = "revision \(progress.applied) can no longer be read"
        }
        if let mismatch {
            logger.warning("etcd: history does not continue ours (\(mismatch)); re-reading \(config.prefix)")
            progress.needsFullRead = true
        }
    }

    /// v2 keeps no old versions: our newest key must still stand as we hold it, or (with no such
    /// key, as for an empty prefix, where a re-read costs little) the prefix is read again.
    private func verifyV2History(_ v2: EtcdV2, _ progress: Progress) throws {
        guard !progress.needsFullRead else { return }
        var mismatch: String?
        if let anchor = progress.anchor {
            if try v2.history(of: anchor.key) != anchor.history { mismatch = "\(anchor.key) changed while we were away" }
        } else {
            mismatch = "no key to check it by"
        }
        if let mismatch {
            logger.info("etcd: after reconnecting, re-reading \(config.prefix) (\(mismatch))")
            progress.needsFullRead = true
        }
    }

    /// The keys, those attached to a v3 lease with the lease's TTL.
    private func withLeaseTTLs(_ kvs: [EtcdKey], _ v3: EtcdV3, _ progress: Progress) -> [KeyValue] {
        kvs.map { kv in
            var keyValue = kv.keyValue
            keyValue.ttl = leaseTTL(kv.lease, v3, progress) ?? keyValue.ttl
            return keyValue
        }
    }

    /// The TTL `lease` was granted with (nil: no lease, or gone); asked once per lease.
    private func leaseTTL(_ lease: Int64, _ v3: EtcdV3, _ progress: Progress) -> UInt32? {
        guard lease != 0 else { return nil }
        if let known = progress.leaseTTLs[lease] { return known }
        guard let granted = try? v3.grantedTTL(lease: lease) else { return nil }
        progress.leaseTTLs[lease] = granted
        return granted
    }

    private func followV3(_ connection: EtcdConnection, _ progress: Progress) throws {
        let v3 = EtcdV3(connection: connection, pageSize: config.pageSize)
        // Lease look-ups happen inside the watch's data callback, while `connection` is busy.
        let leases = EtcdV3(connection: makeConnection())
        let keyPrefix = config.prefix + "/"
        let position = try v3.position(prefix: keyPrefix)
        checkContinuity(position, progress)
        try verifyV3History(v3, prefix: keyPrefix, progress)
        if redetectsAfterNewHistory(progress) { return }
        progress.latest = max(progress.latest, position.index)
        if progress.needsFullRead {
            let revision: Int64
            progress.reset([], position: position)
            if config.progressiveFirstRead && !progress.deliveredFullRead {
                var first = true
                var tracker = FirstReadTracker(api: .v3, watcher: self)
                revision = try v3.readPrefix(keyPrefix) { page, last, remaining in
                    if first { tracker.total = Int(clamping: remaining) }
                    progress.hasRecords = progress.hasRecords || !page.isEmpty
                    progress.add(page)
                    tracker.read(keys: page.count, bytes: 0)
                    deliver([.firstReadPage(withLeaseTTLs(page, leases, progress), first: first, complete: last)])
                    first = false
                }
                tracker.finish()
            } else {
                let (kvs, read) = try v3.readPrefix(keyPrefix)
                revision = read
                progress.hasRecords = progress.hasRecords || !kvs.isEmpty
                progress.add(kvs)
                deliver([.replaceAll(withLeaseTTLs(kvs, leases, progress))])
            }
            progress.applied = revision
            progress.clusterID = position.clusterID
            progress.needsFullRead = false
            progress.redetected = false
            progress.deliveredFullRead = true
            connected(.v3, progress)
        }
        while !isStopped {
            let probing = config.api == nil && !progress.hasRecords
            let end = try v3.watch(
                prefix: keyPrefix, from: progress.applied + 1,
                maxDuration: probing ? Self.probeInterval : nil, idleTimeout: config.watchIdleTimeout
            ) { message in
                switch message {
                case .created:
                    self.connected(.v3, progress)
                case .events(let events, let revision, let current):
                    progress.latest = max(progress.latest, current)
                    events.forEach(progress.follow)
                    self.deliver(events.map { event in
                        guard case .put(var kv) = event.change, event.lease != 0 else { return event.change }
                        kv.ttl = self.leaseTTL(event.lease, leases, progress) ?? kv.ttl
                        return .put(kv)
                    })
                    progress.applied = max(progress.applied, revision)
                    if events.contains(where: { if case .put = $0.change { true } else { false } }) {
                        progress.hasRecords = true
                    }
                case .progress(let revision):
                    progress.applied = max(progress.applied, revision)
                    progress.latest = max(progress.latest, revision)
                case .compacted, .canceled:
                    break  // handled by watch()
                }
            }
            switch end {
            case .compacted:
                logger.info("etcd: revision \(progress.applied + 1) was compacted; re-reading \(config.prefix)")
                progress.needsFullRead = true
                return
            case .idle:
                if probing, try EtcdV2(connection: connection).readTreeIfServed(config.prefix)?.kvs.isEmpty == false {
                    switchAPI(to: .v2, progress)
                    return
                }
            }
        }
    }

    private func followV2(_ connection: EtcdConnection, _ progress: Progress) throws {
        let v2 = EtcdV2(connection: connection)
        let position = try v2.position(config.prefix)
        checkContinuity(position, progress)
        try verifyV2History(v2, progress)
        if redetectsAfterNewHistory(progress) { return }
        progress.latest = max(progress.latest, position.index)
        progress.clusterID = position.clusterID ?? progress.clusterID
        if progress.needsFullRead {
            let tree: V2Tree
            if progress.deliveredFullRead {
                tree = try v2.readTree(config.prefix)
            } else {
                var tracker = FirstReadTracker(api: .v2, watcher: self)
                tree = try v2.readTree(config.prefix) { nodes, bytes in tracker.set(keys: nodes, bytes: bytes) }
                tracker.finish(keys: tree.kvs.count)
            }
            progress.reset(tree.kvs, position: position)
            var kvs = tree.kvs
            for path in locked({ hiddenPaths }).sorted() {
                do {
                    kvs += try v2.readTree(path).kvs
                } catch {
                    logger.debug("etcd: re-reading hidden \(path) failed: \(error)")
                }
            }
            progress.applied = tree.index
            progress.deliveredFullRead = true
            progress.needsFullRead = false
            progress.redetected = false
            progress.hasRecords = progress.hasRecords || !tree.kvs.isEmpty
            deliver([.replaceAll(kvs.map(\.keyValue))])
            connected(.v2, progress)
        }
        while !isStopped {
            let probing = config.api == nil && !progress.hasRecords
            let result = try v2.wait(
                config.prefix, waitIndex: progress.applied + 1,
                timeout: probing ? Self.probeInterval : config.watchIdleTimeout)
            connected(.v2, progress)
            switch result {
            case .change(let event, let index):
                if let event {
                    progress.follow(event)
                    deliver([event.change])
                    if case .put = event.change { progress.hasRecords = true }
                }
                progress.applied = max(progress.applied, index)
            case .outdated:
                logger.info("etcd: index \(progress.applied + 1) is no longer in etcd's v2 history; re-reading \(config.prefix)")
                progress.needsFullRead = true
                return
            case .idle(let etcdIndex):
                // Skipping ahead keeps a quiet prefix from falling out of the 1000-event history.
                if let etcdIndex {
                    progress.applied = max(progress.applied, etcdIndex)
                    progress.latest = max(progress.latest, etcdIndex)
                }
                if probing, try v3HasRecords(connection) {
                    switchAPI(to: .v3, progress)
                    return
                }
            }
        }
    }

    private func v3HasRecords(_ connection: EtcdConnection) throws -> Bool {
        do {
            return try EtcdV3(connection: connection).hasKeys(prefix: config.prefix + "/")
        } catch EtcdError.server(let status, _) where status < 500 {
            return false  // a member without the v3 gateway
        }
    }

    private func switchAPI(to newAPI: EtcdAPI, _ progress: Progress) {
        logger.info("etcd: records appeared under \(config.prefix) in the \(newAPI.rawValue) API; switching to it")
        locked { api = newAPI }
        progress.needsFullRead = true
        progress.applied = 0
        progress.latest = 0
    }

    private func connected(_ api: EtcdAPI, _ progress: Progress) {
        progress.backoff.reset()
        report(.connected(api))
    }

    // MARK: - Hidden paths (v2)

    private func watchHidden(_ key: String, after index: Int64) {
        let isNew = locked { () -> Bool in
            guard !stopped, !hiddenPaths.contains(key) else { return false }
            guard hiddenPaths.count < Self.maxHiddenWatches else {
                if !hiddenWatchLimitLogged {
                    hiddenWatchLimitLogged = true
                    logger.warning("""
                        etcd: watching \(Self.maxHiddenWatches) hidden paths, the most there are watches for; \
                        \(key) and further ones are re-read periodically instead (logged once)
                        """)
                }
                return false
            }
            hiddenPaths.insert(key)
            return true
        }
        guard isNew else { return }
        do {
            try startThread { [self] in followHidden(key, from: index + 1) }
        } catch {
            logger.warning("etcd: no thread to watch hidden \(key) with (\(error)); it is re-read when asked again")
            locked { _ = hiddenPaths.remove(key) }
        }
    }

    private func followHidden(_ key: String, from firstIndex: Int64) {
        let connection = makeConnection()
        let v2 = EtcdV2(connection: connection)
        var waitIndex = firstIndex
        var backoff = Backoff()
        while !isStopped {
            do {
                switch try v2.wait(key, waitIndex: waitIndex, timeout: config.watchIdleTimeout) {
                case .change(let event, let index):
                    if let event { deliver([event.change]) }
                    waitIndex = max(waitIndex, index + 1)
                case .idle(let etcdIndex):
                    if let etcdIndex { waitIndex = max(waitIndex, etcdIndex + 1) }
                case .outdated:
                    let tree = try v2.readTree(key)
                    deliver([.deleteTree(key: key)] + tree.kvs.map { .put($0.keyValue) })
                    waitIndex = tree.index + 1
                }
                backoff.reset()
            } catch EtcdError.cancelled {
                break
            } catch {
                guard !isStopped else { break }
                logger.debug("etcd: watch of hidden \(key) on \(connection.endpoint) failed: \(error)")
                connection.failover()
                pause(backoff.next())
            }
        }
    }

    // MARK: - Plumbing

    private var isStopped: Bool { locked { stopped } }

    private func makeConnection() -> EtcdConnection {
        EtcdConnection(config: config, endpoints: endpoints) { [weak self] in self?.isStopped ?? true }
    }

    private func deliver(_ changes: [StoreChange]) {
        deliveryLock.withLock {
            guard !changes.isEmpty, !isStopped else { return }
            onChanges(changes)
        }
    }

    /// Reports a change of connection state once, not on every retry.
    private func report(_ state: EtcdConnectionState) {
        let changed = locked { () -> Bool in
            let same: Bool
            switch (lastState, state) {
            case (.disconnected?, .disconnected): same = true
            default: same = lastState == state
            }
            lastState = state
            return !same
        }
        guard changed else { return }
        switch state {
        case .connecting: logger.info("etcd: connecting to \(config.endpoints.joined(separator: ","))")
        case .connected(let api): logger.info("etcd: connected to \(endpoints.current().url) (\(api.rawValue))")
        case .disconnected(let reason): logger.warning("etcd: disconnected: \(reason); retrying")
        }
        onStateChange(state)
    }

    /// Sleeps up to `seconds`, waking early on stop().
    private func pause(_ seconds: Double) {
        let deadline = MonotonicClock.now + seconds
        condition.lock()
        while !stopped && condition.wait(until: deadline) {}
        condition.unlock()
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }
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
private struct FirstReadTracker {
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
