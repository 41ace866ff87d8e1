import BoundedCollections
import DNSWire
import Synchronization

/// Forwarded answers, kept for their TTL (capped by `-rcache-ttl`) up to `-rcache` entries and
/// `bytesPerEntry` bytes of replies (in wire form) per entry on average: upstreams and the
/// clients who pick the names decide how large each reply is (a 64 KiB TXT record costs 80 KiB
/// of memory), so the count alone would let them grow the cache 100 times over. The oldest
/// entries are dropped to make room for a new one (`OldestFirstMap`: each in O(1), as the client
/// picks the names); a reply larger than the whole budget is not kept.
/// Negative answers are kept for the SOA's negative TTL (RFC 2308 §5); SERVFAIL and truncated
/// answers are not kept. Entries are upstream replies already parsed (and so checked), kept in
/// wire form (`CachedReply`): a hit the whole reply fits is written by `reply(to:…)` as a copy
/// patched for its client, without allocating; other clients get `lookup`'s reply with every
/// TTL aged, fitted to their query by the caller (see `ForwardedReply.fit`).
/// One lock guards the entries; a hit holds it only to find the entry and retain its bytes.
final class ResponseCache: Sendable {
    fileprivate struct Entry {
        var reply: CachedReply
        var dnssecOK: Bool
        var checkingDisabled: Bool
        var stored: Double
        var lifetime: Double
    }

    /// The average reply size (bytes) budgeted per entry; answers are typically 100–500 bytes.
    static let bytesPerEntry = 1024
    /// The most entries any `-rcache` value keeps (1 GiB of replies): the flag and
    /// `/skydns/config` take any Int, and a cache as large as clients fill it is no bound.
    static let maxCapacity = 1_048_576

    let capacity: Int
    let maxTTL: UInt32
    /// The most bytes (wire form) all entries together may hold.
    let maxBytes: Int
    /// Entries by `Key.digest`, each costing the memory its reply takes (wire form and TTL
    /// offsets, in bytes).
    private let entries: Mutex<OldestFirstMap<Int, Entry>>
    let hits = Atomic<Int>(0)
    let misses = Atomic<Int>(0)

    /// The question (name compared case-insensitively, type, class), the DO bit and the CD bit
    /// (a validating upstream answers a CD query with data it refuses to others, RFC 4035
    /// §3.2.2: that must not reach a client that left checking on). Entries are found by
    /// `digest`, a keyed hash of these (seeded per process, so no client can aim two names at
    /// one entry), and a hit checks the question and bits against the entry's.
    struct Key: Sendable {
        var name: DomainName
        var type: RecordType
        var recordClass: RecordClass
        var dnssecOK: Bool
        var checkingDisabled: Bool
        var digest: Int

        init(_ query: Message) {
            let question = query.questions.first ?? Question(name: .root, type: RecordType(0))
            name = question.name
            type = question.type
            recordClass = question.recordClass
            let dnssecOK = query.edns?.dnssecOK ?? false
            let checkingDisabled = query.header.checkingDisabled
            self.dnssecOK = dnssecOK
            self.checkingDisabled = checkingDisabled
            digest = question.name.wire.withUnsafeBytes {
                Self.digest(name: $0, type: question.type, recordClass: question.recordClass, dnssecOK: dnssecOK,
                            checkingDisabled: checkingDisabled)
            }
        }

        /// `name` in wire form, any case.
        static func digest(name: UnsafeRawBufferPointer, type: RecordType, recordClass: RecordClass,
                           dnssecOK: Bool, checkingDisabled: Bool) -> Int {
            var hasher = Hasher()
            for byte in name { hasher.combine(asciiLowercase(byte)) }
            hasher.combine(type.rawValue)
            hasher.combine(recordClass.rawValue)
            hasher.combine(dnssecOK)
            hasher.combine(checkingDisabled)
            return hasher.finalize()
        }
    }

    /// What a hit found for a query read from the wire (see `reply(to:…)`).
    enum WireHit: Equatable {
        /// The reply is in the writer.
        case written(ResponseCode)
        /// Nothing kept for the question (or expired).
        case miss
        /// Kept, but not servable as stored (too large for the client, an extended rcode): ask
        /// `lookup` and fit the reply.
        case needsFitting
    }

    init(capacity: Int, maxTTL: UInt32, bytesPerEntry: Int = ResponseCache.bytesPerEntry) {
        self.capacity = min(max(capacity, 1), Self.maxCapacity)
        self.maxTTL = maxTTL
        let (budget, overflow) = self.capacity.multipliedReportingOverflow(by: bytesPerEntry)
        maxBytes = overflow ? Int.max : budget
        entries = Mutex(OldestFirstMap(capacity: self.capacity, maxCost: maxBytes))
    }

    /// Writes the reply kept for the query `view` (read from `packet`) into `writer`, patched for
    /// its client (see `CachedReply.write`), when it fits in `maxSize` bytes. Allocates nothing.
    /// A miss is not counted here: the query goes on to the forwarder, whose `lookup` counts it,
    /// so that each forwarded query counts once.
    func reply(to view: QueryView, packet: UnsafeRawBufferPointer, maxSize: Int, now: Double = monotonicNow(),
               into writer: inout WireWriter) -> WireHit {
        let nameEnd = Header.size + view.nameLength
        guard nameEnd <= packet.count else { return .miss }
        let name = UnsafeRawBufferPointer(rebasing: packet[Header.size..<nameEnd])
        let dnssecOK = view.edns?.dnssecOK ?? false
        let checkingDisabled = view.checkingDisabled
        let digest = Key.digest(name: name, type: view.type, recordClass: view.recordClass, dnssecOK: dnssecOK,
                                checkingDisabled: checkingDisabled)
        let found = find(digest, now: now) { entry in
            entry.dnssecOK == dnssecOK && entry.checkingDisabled == checkingDisabled && entry.reply.answers(name: name, type: view.type, recordClass: view.recordClass)
        }
        guard let entry = found?.entry, let age = found?.age else { return .miss }
        guard entry.reply.extendedRCode == 0, entry.reply.size(withOPT: view.edns != nil) <= maxSize else {
            return .needsFitting
        }
        hits.add(1, ordering: .relaxed)
        entry.reply.write(to: view, packet: packet, age: age, into: &writer)
        return .written(ResponseCode(rawValue: entry.reply.wire[3] & 0x0F))
    }

    /// The stored reply for `key` with its TTLs aged by the time it has been kept; nil when
    /// absent or expired.
    /// - Parameter countingMiss: false where a miss still goes on to the forwarder's own
    ///   `lookup`, which counts it.
    func lookup(_ key: Key, now: Double = monotonicNow(), countingMiss: Bool = true) -> Message? {
        let found = key.name.wire.withUnsafeBytes { name in
            find(key.digest, now: now) { entry in
                entry.dnssecOK == key.dnssecOK && entry.checkingDisabled == key.checkingDisabled
                    && entry.reply.answers(name: name, type: key.type, recordClass: key.recordClass)
            }
        }
        guard let entry = found?.entry, let age = found?.age, var reply = try? Message(parsing: entry.reply.wire) else {
            if countingMiss { misses.add(1, ordering: .relaxed) }
            return nil
        }
        hits.add(1, ordering: .relaxed)
        func aged(_ records: inout [ResourceRecord]) {
            for index in records.indices { records[index].ttl = records[index].ttl > age ? records[index].ttl - age : 0 }
        }
        aged(&reply.answers)
        aged(&reply.authorities)
        aged(&reply.additionals)
        if entry.reply.extendedRCode != 0 { reply.edns = EDNS(extendedRCode: entry.reply.extendedRCode) }
        return reply
    }

    /// The live entry under `digest` that `matches`, and its age in whole seconds; an expired
    /// one is removed.
    private func find(_ digest: Int, now: Double, where matches: (Entry) -> Bool) -> (entry: Entry, age: UInt32)? {
        let found = entries.withLock { entries -> Entry? in
            guard let entry = entries[digest] else { return nil }
            if now - entry.stored >= entry.lifetime {
                entries.removeValue(forKey: digest)
                return nil
            }
            return entry
        }
        guard let entry = found, matches(entry) else { return nil }
        return (entry, UInt32(clamping: Int64((now - entry.stored).rounded(.down))))
    }

    /// Keeps `reply` to `key` for its lifetime (see `lifetime(of:)`), unless it must not be kept.
    /// Returns the form kept; nil when nothing was.
    @discardableResult
    func insert(_ key: Key, reply: Message, now: Double = monotonicNow()) -> CachedReply? {
        guard let lifetime = Self.lifetime(of: reply), lifetime > 0, let stored = CachedReply(Self.negativeTTLCapped(reply))
        else { return nil }
        let bytes = stored.wire.count + 2 * stored.ttlOffsets.count
        let entry = Entry(reply: stored, dnssecOK: key.dnssecOK, checkingDisabled: key.checkingDisabled, stored: now,
                          lifetime: Double(min(lifetime, maxTTL)))
        guard entries.withLock({ $0.insert(entry, forKey: key.digest, cost: bytes) }) else { return nil }
        return stored
    }

    var count: Int { entries.withLock { $0.count } }

    /// The wire size of every reply held, in bytes.
    var byteCount: Int { entries.withLock { $0.totalCost } }

    /// `reply` with, when it is negative (NXDOMAIN, or no answer), its SOA's TTL cut to the
    /// negative TTL, min(TTL, MINIMUM): the SOA then ages to 0 as the entry expires, so a cache
    /// below this one keeps the denial no longer than the upstream allowed (RFC 2308 §5).
    private static func negativeTTLCapped(_ reply: Message) -> Message {
        guard reply.header.responseCode == .nxDomain || reply.answers.isEmpty else { return reply }
        var reply = reply
        for index in reply.authorities.indices {
            if case .soa(let soa) = reply.authorities[index].data {
                reply.authorities[index].ttl = min(reply.authorities[index].ttl, soa.minimum)
            }
        }
        return reply
    }

    /// How long (seconds) `reply` may be kept: the lowest answer TTL of a positive answer, the
    /// negative TTL (min of the SOA's TTL and MINIMUM) of a negative one; nil when it must not
    /// be kept (an error, a truncated reply, a negative answer without SOA).
    static func lifetime(of reply: Message) -> UInt32? {
        let rcode = reply.header.responseCode
        guard !reply.header.isTruncated, rcode == .noError || rcode == .nxDomain else { return nil }
        if rcode == .noError, let lowest = reply.answers.map(\.ttl).min() { return lowest }
        for record in reply.authorities {
            if case .soa(let soa) = record.data { return min(record.ttl, soa.minimum) }
        }
        return nil
    }
}
