import Logging
import SkyDNSStore

/// Following the prefix: a full read when needed, then the watch (v3 stream or v2 long-polls).
extension EtcdWatcher {
    /// The keys, those attached to a v3 lease with the lease's TTL.
    fileprivate func withLeaseTTLs(_ kvs: [EtcdKey], _ v3: EtcdV3, _ progress: WatchProgress) -> [KeyValue] {
        kvs.map { kv in
            var keyValue = kv.keyValue
            keyValue.ttl = leaseTTL(kv.lease, v3, progress) ?? keyValue.ttl
            return keyValue
        }
    }

    /// The TTL `lease` was granted with (nil: no lease, or gone); asked once per lease.
    fileprivate func leaseTTL(_ lease: Int64, _ v3: EtcdV3, _ progress: WatchProgress) -> UInt32? {
        guard lease != 0 else { return nil }
        if let known = progress.leaseTTLs[lease] { return known }
        guard let granted = try? v3.grantedTTL(lease: lease) else { return nil }
        progress.leaseTTLs[lease] = granted
        return granted
    }

    func followV3(_ connection: EtcdConnection, _ progress: WatchProgress) throws {
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
                maxDuration: probing ? Self.probeInterval : nil, idleTimeout: config.watchIdleSeconds
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

    func followV2(_ connection: EtcdConnection, _ progress: WatchProgress) throws {
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
                // A path that failed to re-read would lose its records until it changed (it is
                // watched, so no query fetches it again): a failed exchange (no answer, a 5xx)
                // fails the whole read, which is retried a few times; etcd's own refusal, an
                // answer that can never be used, or a path still failing after those retries is
                // left out, since until the re-read is delivered no update is applied.
                do {
                    kvs += try v2.readTree(path).kvs
                } catch let error as EtcdError {
                    switch error {
                    case .tooLarge, .malformed: break
                    case .server(let status, _) where status < 500: break
                    case .cancelled: throw error
                    case .transport, .server:
                        guard progress.hiddenRetries >= WatchProgress.maxHiddenRetries else {
                            progress.hiddenRetries += 1
                            throw error
                        }
                    }
                    logger.warning("etcd: hidden \(path) left out of the re-read: \(error)")
                }
            }
            progress.applied = tree.index
            progress.deliveredFullRead = true
            progress.needsFullRead = false
            progress.hiddenRetries = 0
            progress.redetected = false
            progress.hasRecords = progress.hasRecords || !tree.kvs.isEmpty
            deliver([.replaceAll(kvs.map(\.keyValue))])
            connected(.v2, progress)
        }
        while !isStopped {
            let probing = config.api == nil && !progress.hasRecords
            let result = try v2.wait(
                config.prefix, waitIndex: progress.applied + 1,
                timeout: probing ? Self.probeInterval : config.watchIdleSeconds)
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

    func v3HasRecords(_ connection: EtcdConnection) throws -> Bool {
        do {
            return try EtcdV3(connection: connection).hasKeys(prefix: config.prefix + "/")
        } catch EtcdError.server(let status, _) where status < 500 {
            return false  // a member without the v3 gateway
        }
    }

    fileprivate func switchAPI(to newAPI: EtcdAPI, _ progress: WatchProgress) {
        logger.info("etcd: records appeared under \(config.prefix) in the \(newAPI.rawValue) API; switching to it")
        locked { api = newAPI }
        progress.needsFullRead = true
        progress.applied = 0
        progress.latest = 0
    }

    fileprivate func connected(_ api: EtcdAPI, _ progress: WatchProgress) {
        progress.backoff.reset()
        report(.connected(api))
    }
}
