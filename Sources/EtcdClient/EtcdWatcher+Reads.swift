import Logging
import SkyDNSStore

/// Reads outside the watch, for names the store cannot answer yet: hidden v2 paths (then kept
/// current by a watch of their own) and small subtrees during the first read.
extension EtcdWatcher {
    /// etcd v2 hides keys whose label starts with "_" from recursive listings and recursive
    /// watches. Fetches exactly `key` (recursively), blocking at most `timeout`.
    /// Returns nil on timeout/error, [] when absent. A v2 path that holds keys is then kept
    /// current by a background watch whose changes arrive through onChanges (at most
    /// `maxHiddenWatches`); an absent one is not watched, so names that exist nowhere (a flood
    /// of random `_` names) cost no watch.
    public func fetchHidden(key: String, timeout: Duration) -> [KeyValue]? {
        readOnce(key, timeout: timeout.asSeconds) { connection, remaining in
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
    public func fetchSmallSubtree(key: String, limit: Int, timeout: Duration) -> SubtreeRead {
        guard activeAPI == .v3,
              let found = readOnce(key, timeout: timeout.asSeconds, { connection, remaining in
                  try EtcdV3(connection: connection).readSmallTree(key, limit: limit, timeout: remaining)
              }) else { return .failed }
        return found.map { .keys($0.map(\.keyValue)) } ?? .tooLarge
    }

    /// Runs `read` on a connection of its own against each endpoint in turn until one answers,
    /// within `timeout` in all; nil when none did. Each endpoint gets an equal share of what is
    /// left (`read` is told its share): a hung endpoint (one that accepts connections and never
    /// answers) must not spend the whole time, leaving the healthy ones after it unasked.
    fileprivate func readOnce<Value>(_ key: String, timeout: Double, _ read: (EtcdConnection, Double) throws -> Value) -> Value? {
        let deadline = MonotonicClock.now + timeout
        let connection = makeConnection()
        let count = endpoints.count
        for index in 0..<count {
            let remaining = deadline - MonotonicClock.now
            guard remaining > 0, !isStopped else { return nil }
            do {
                return try read(connection, remaining / Double(count - index))
            } catch {
                logger.debug("etcd: fetching \(key) from \(connection.endpoint) failed: \(error)")
                connection.failover()
            }
        }
        return nil
    }

    // MARK: - Hidden paths (v2)

    fileprivate func watchHidden(_ key: String, after index: Int64) {
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

    fileprivate func followHidden(_ key: String, from firstIndex: Int64) {
        let connection = makeConnection()
        let v2 = EtcdV2(connection: connection)
        var waitIndex = firstIndex
        var backoff = Backoff()
        while !isStopped {
            do {
                switch try v2.wait(key, waitIndex: waitIndex, timeout: config.watchIdleSeconds) {
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
}
