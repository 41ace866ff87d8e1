import BoundedCollections
import Crypto
import DNSWire
import Synchronization

/// `-scache`: RRSIGs already made, keyed by the SHA-256 of the RRset's canonical content
/// (owner, type, class, TTL, every RDATA), so a repeated answer costs no signing. Bounded by
/// entry count (a full shard drops its oldest entry to make room, in O(1): `OldestFirstMap`,
/// as the response cache does; the names signed are the clients' choice), and each entry is a fixed
/// 32-byte key plus one RRSIG of at most about 600 bytes (4096-bit RSA), so the operator's
/// number bounds its memory whatever the answers hold. The number comes from a flag or from
/// `/skydns/config` in etcd, so it is clamped to `maxCapacity` (about 160 MiB of RRSIGs).
/// Split into shards, each behind its own `Mutex`, so workers rarely meet on one lock.
public final class SignatureCache: Sendable {
    /// SHA-256 of the RRset's type and signed records.
    public struct Key: Hashable, Sendable {
        let words: (UInt64, UInt64, UInt64, UInt64)

        public init(_ rrset: CanonicalRRset) {
            var hasher = SHA256()
            var type: [UInt8] = []
            type.appendBigEndian(rrset.type.rawValue)
            hasher.update(data: type)
            hasher.update(data: rrset.signedRecords)
            var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            hasher.finalize().withUnsafeBytes { digest in
                func word(_ index: Int) -> UInt64 {
                    (0..<8).reduce(0) { $0 << 8 | UInt64(digest[index * 8 + $1]) }
                }
                words = (word(0), word(1), word(2), word(3))
            }
            self.words = words
        }

        public static func == (lhs: Key, rhs: Key) -> Bool {
            lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2
                && lhs.words.3 == rhs.words.3
        }

        public func hash(into hasher: inout Hasher) { hasher.combine(words.0) }
    }

    struct Entry: Sendable {
        var rrsig: [UInt8]
        /// Past this time (seconds since 1970) the signature is made again.
        var refreshAt: UInt32
    }

    private final class Shard: Sendable {
        let entries: Mutex<OldestFirstMap<Key, Entry>>
        init(capacity: Int) { entries = Mutex(OldestFirstMap(capacity: capacity)) }
    }

    private let shards: [Shard]
    /// The most entries held.
    public let capacity: Int
    private let hitCount = Atomic<Int>(0)
    private let missCount = Atomic<Int>(0)

    static let shardCount = 16
    /// The most entries any `-scache` value keeps.
    public static let maxCapacity = 262_144

    /// - Parameter capacity: entries, 0 to keep none; clamped to 0...`maxCapacity`.
    public init(capacity: Int) {
        let capacity = min(max(0, capacity), Self.maxCapacity)
        self.capacity = capacity
        // Every shard holds at least one entry, and their sizes add up to `capacity` exactly.
        let count = min(Self.shardCount, capacity)
        shards = (0..<count).map { index in
            Shard(capacity: capacity / count + (index < capacity % count ? 1 : 0))
        }
    }

    private func shard(_ key: Key) -> Shard? {
        shards.isEmpty ? nil : shards[Int(key.words.1 % UInt64(shards.count))]
    }

    /// The cached RRSIG for `key`, unless it is due for refreshing at `now`.
    public func lookup(_ key: Key, now: UInt32) -> [UInt8]? {
        let found = shard(key)?.entries.withLock { entries -> [UInt8]? in
            guard let entry = entries[key] else { return nil }
            // Serial arithmetic (RFC 1982): the refresh time is within days of now.
            guard Int32(bitPattern: entry.refreshAt &- now) > 0 else {
                entries.removeValue(forKey: key)
                return nil
            }
            return entry.rrsig
        }
        if found == nil {
            missCount.add(1, ordering: .relaxed)
        } else {
            hitCount.add(1, ordering: .relaxed)
        }
        return found
    }

    /// Keeps `rrsig` for `key` until `refreshAt` (seconds since 1970); a full shard drops its
    /// oldest entry first. Keeps nothing with capacity 0.
    public func insert(_ key: Key, rrsig: [UInt8], refreshAt: UInt32) {
        _ = shard(key)?.entries.withLock { $0.insert(Entry(rrsig: rrsig, refreshAt: refreshAt), forKey: key) }
    }

    /// Entries held now.
    public var count: Int { shards.reduce(0) { total, shard in total + shard.entries.withLock { $0.count } } }
    /// Lookups answered from the cache, and those that had to sign, since start.
    public var hits: Int { hitCount.load(ordering: .relaxed) }
    public var misses: Int { missCount.load(ordering: .relaxed) }
}
