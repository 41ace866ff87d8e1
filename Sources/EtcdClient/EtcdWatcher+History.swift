import Logging

/// Choosing the keyspace, and telling whether a reconnected etcd still continues the history
/// we hold (otherwise the prefix is read again).
extension EtcdWatcher {
    /// Without `-etcd3`: records in v2 → v2, SkyDNS's default (said loudly when v3 holds records
    /// too, since those are then not served); else keys in v3 → v3; else the directory in v2 →
    /// v2; else v3, and the other keyspace is probed while the chosen one stays empty.
    func chosenAPI(_ connection: EtcdConnection) throws -> EtcdAPI {
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
    func redetectsAfterNewHistory(_ progress: WatchProgress) -> Bool {
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

    /// An etcd restored from a backup or replaced by another at the same address has a history
    /// that does not continue ours: resuming the watch would miss or misplace changes, so it
    /// takes a full re-read.
    func checkContinuity(_ position: EtcdPosition, _ progress: WatchProgress) {
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
    func verifyV3History(_ v3: EtcdV3, prefix: String, _ progress: WatchProgress) throws {
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
    func verifyV2History(_ v2: EtcdV2, _ progress: WatchProgress) throws {
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
}
