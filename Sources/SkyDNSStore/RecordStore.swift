/// A change to the records, as the etcd watcher reports it.
public enum StoreChange: Sendable, Equatable {
    /// A full read: the complete contents of the prefix, replacing everything known before
    /// (the first read, and a re-read after a compaction, a reconnect gap or a new history).
    case replaceAll([KeyValue])
    case put(KeyValue)
    /// Removes the record at exactly this key.
    case delete(key: String)
    /// Removes this key and everything below it.
    case deleteTree(key: String)
    /// A page of the first read, in key order: `first` starts from nothing, `complete` ends the
    /// read (the store is then synced). Until then only names whose keys all lie before the
    /// page's last key are answered.
    case firstReadPage([KeyValue], first: Bool, complete: Bool)
}

public struct KeyValue: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]
    /// The key's own TTL in etcd (v2 node TTL, v3 lease), if it has one.
    public var ttl: UInt32?

    public init(key: String, value: [UInt8], ttl: UInt32? = nil) {
        self.key = key
        self.value = value
        self.ttl = ttl
    }
}

/// A key left out of the answers (or, with `kept`, served with a field clamped into range), and
/// why; the caller logs it.
public struct RejectedRecord: Sendable, Equatable {
    public var key: String
    public var error: RecordError
    /// True when the record is served, with the fields `error` names clamped.
    public var kept: Bool

    public init(key: String, error: RecordError, kept: Bool = false) {
        self.key = key
        self.error = error
        self.kept = kept
    }
}

/// The writer side of the store. One thread (the etcd watcher's) applies changes; every call to
/// `apply` publishes one new snapshot, so a batch of events costs one publication.
public final class RecordStore: @unchecked Sendable {
    // Only the watcher thread calls `apply` and `markSynced`; readers see published snapshots only.
    public let publisher: SnapshotPublisher
    public let keys: RecordKeyMapper
    private var zone: Zone
    private var root = TrieNode()
    /// Keys that differ from others only in case or a trailing slash, each kept apart (see
    /// `CaseVariants`).
    private var caseVariants = CaseVariants()
    private var isSynced = false
    /// During a first read delivered page by page: the last key read, below the prefix.
    private var loadedThrough: String?
    private var serial: UInt32
    /// Whether the data comes from etcd v2, which hides `_` keys (see
    /// `Snapshot.hidesUnderscoreLabels`); takes effect at the next publication.
    public var hidesUnderscoreLabels = false

    public init(zone: Zone, pathPrefix: String, clock: @escaping @Sendable () -> UInt32 = { currentUnixTime() }) {
        self.zone = zone
        keys = RecordKeyMapper(pathPrefix: pathPrefix)
        self.clock = clock
        serial = clock()
        publisher = SnapshotPublisher(Snapshot(zone: zone, root: root, isSynced: false, serial: serial))
    }

    private let clock: @Sendable () -> UInt32

    /// Applies `changes` in order and, unless told not to, publishes the result. A `replaceAll`
    /// marks the store synced.
    @discardableResult
    public func apply(_ changes: [StoreChange], publish: Bool = true) -> [RejectedRecord] {
        var rejected: [RejectedRecord] = []
        func put(_ keyValue: KeyValue) {
            var clamped: [String] = []
            if let error = self.put(keyValue, clamped: &clamped) {
                rejected.append(RejectedRecord(key: keyValue.key, error: error))
            } else if !clamped.isEmpty {
                rejected.append(RejectedRecord(key: keyValue.key, error: .outOfRange(clamped.joined(separator: "; ")), kept: true))
            }
        }
        for change in changes {
            switch change {
            case .replaceAll(let all):
                root = TrieNode()
                caseVariants.removeAll()
                for keyValue in all { put(keyValue) }
                isSynced = true
                loadedThrough = nil
            case .put(let keyValue):
                // A bad new value leaves the key's last good record in place: serving slightly old
                // data beats losing the name.
                put(keyValue)
            case .delete(let key):
                guard let path = try? keys.path(forKey: key) else { break }
                switch caseVariants.tracks(key) ? caseVariants.delete(key: key) : .untracked {
                case .untracked, .clear: root.remove(at: path[...])
                case .set(let record): root.insert(record, at: path[...])
                case .keep: break
                }
            case .firstReadPage(let page, let first, let complete):
                if first {
                    root = TrieNode()
                    caseVariants.removeAll()
                }
                for keyValue in page {
                    put(keyValue)
                }
                if complete {
                    isSynced = true
                    loadedThrough = nil
                } else if let last = page.last, last.key.hasPrefix(keys.prefix) {
                    loadedThrough = String(last.key.dropFirst(keys.prefix.count))
                }
            case .deleteTree(let key):
                if keys.isPrefix(key) {
                    root = TrieNode()
                    caseVariants.removeAll()
                } else if let path = try? keys.path(forKey: key) {
                    // Below a key with upper case lie only keys with upper case, all tracked: the
                    // subtree also holds other keys' records.
                    if !CaseVariants.hasUpperCase(key) { root.removeSubtree(at: path[...]) }
                    guard !caseVariants.isEmpty else { break }
                    for (folded, record) in caseVariants.deleteTree(key: key) {
                        guard let slot = try? keys.path(forKey: folded) else { continue }
                        if let record { root.insert(record, at: slot[...]) } else { root.remove(at: slot[...]) }
                    }
                }
            }
        }
        if publish { self.publish() }
        return rejected
    }

    /// The number of records being served.
    public var recordCount: Int { root.recordCount }

    private func put(_ keyValue: KeyValue, clamped: inout [String]) -> RecordError? {
        if keyValue.key == keys.configKey { return nil }
        do {
            let path = try keys.path(forKey: keyValue.key)
            let service = try ServiceRecord.decode(keyValue.value)
            let record = try StoredRecord(path: path, service: service, keyTTL: keyValue.ttl,
                                          defaultTTL: zone.defaultTTL, clamped: &clamped)
            if caseVariants.tracks(keyValue.key) {
                let current = root.node(at: path)?.record
                root.insert(caseVariants.put(record, key: keyValue.key, current: current), at: path[...])
            } else {
                root.insert(record, at: path[...])
            }
            return nil
        } catch {
            return error
        }
    }

    /// Publishes what has been applied since the last publication. Changes applied between two
    /// publications are made in place, so batching them spares copying the trie's shared paths.
    public func publish() {
        // The serial follows the clock but never repeats or goes back, so secondaries and caches
        // always see a change.
        serial = max(serial &+ 1, clock())
        publisher.publish(Snapshot(zone: zone, root: root, isSynced: isSynced, serial: serial,
                                   loadedThrough: isSynced ? nil : loadedThrough,
                                   hidesUnderscoreLabels: hidesUnderscoreLabels))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public func currentUnixTime() -> UInt32 {
    UInt32(truncatingIfNeeded: time(nil))
}
