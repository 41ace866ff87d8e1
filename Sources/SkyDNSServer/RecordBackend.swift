import EtcdClient
import SkyDNSStore

/// Where the slow paths read records the store cannot answer for yet: etcd, outside the watch.
/// The hidden-key path (etcd v2 leaves `_` labels out of the watch) and the first-read path (a
/// name the first read has not reached) read through this alone, as CoreDNS's plugins read
/// through `plugin/backend.go`'s small interface.
protocol RecordBackend: Sendable {
    /// The keyspace in use once chosen (nil while detecting): v2 hides `_` keys from the
    /// watch; only v3 reads take a limit.
    var keyspace: EtcdAPI? { get }

    /// The keys at `key` and below it (`key + "/"`), read now, one endpoint after another within
    /// `timeout` in all.
    ///
    /// - Parameter limit: at most this many keys below `key`, else `.tooLarge`; nil reads them
    ///   all (v2, whose reads take no limit).
    func records(under key: String, limit: Int?, timeout: Duration) -> BackendRead

    /// Whether the records under `key` are kept current by a watch of their own (so they need
    /// not be read again).
    func isKeptCurrent(_ key: String) -> Bool

    /// How many paths are kept current by watches of their own.
    var pathsKeptCurrent: Int { get }
}

/// What one `RecordBackend.records(under:limit:timeout:)` read found.
enum BackendRead: Sendable, Equatable {
    /// Every key at and below the path; empty when there are none.
    case records([KeyValue])
    /// More keys lie below the path than the limit.
    case tooLarge
    /// No endpoint answered within the time allowed (or this read needs the other keyspace).
    case unavailable
}

extension EtcdWatcher: RecordBackend {
    var keyspace: EtcdAPI? { activeAPI }

    func records(under key: String, limit: Int?, timeout: Duration) -> BackendRead {
        guard let limit else {
            return fetchHidden(key: key, timeout: timeout).map { .records($0) } ?? .unavailable
        }
        switch fetchSmallSubtree(key: key, limit: limit, timeout: timeout) {
        case .keys(let found): return .records(found)
        case .tooLarge: return .tooLarge
        case .failed: return .unavailable
        }
    }

    func isKeptCurrent(_ key: String) -> Bool { isWatchingHidden(key) }

    var pathsKeptCurrent: Int { hiddenWatchCount }
}
