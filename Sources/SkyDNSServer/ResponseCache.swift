import DequeModule
import DNSWire
import Synchronization

/// Forwarded answers, kept for their TTL (capped by `-rcache-ttl`) up to `-rcache` entries and
/// `bytesPerEntry` bytes of replies (in wire form) per entry on average: upstreams and the
/// clients who pick the names decide how large each reply is (a 64 KiB TXT record costs 80 KiB
/// of memory), so the count alone would let them grow the cache 100 times over. The oldest
/// entries are dropped to make room for a new one (each in O(1): the client picks the names, so
/// a full cache must not cost a walk per insert); a reply larger than the whole budget is not kept.
/// Negative answers are kept for the SOA's negative TTL (RFC 2308 §5); SERVFAIL and truncated
/// answers are not kept. Entries are upstream replies already parsed (and so checked); a hit
/// is that reply with every TTL aged, which the caller fits to its own client's query (see
/// `ForwardedReply.fit`): one stored reply serves clients of every size limit.
final class ResponseCache: Sendable {
    fileprivate struct Entry {
        var reply: Message
        var stored: Double
        var lifetime: Double
        /// The reply's size in wire form.
        var bytes: Int
        /// Its place in the insertion order.
        var serial: UInt64
    }

    /// The average reply size (bytes) budgeted per entry; answers are typically 100–500 bytes.
    static let bytesPerEntry = 1024

    let capacity: Int
    let maxTTL: UInt32
    /// The most bytes (wire form) all entries together may hold.
    let maxBytes: Int
    fileprivate struct Entries {
        var byKey: [Key: Entry] = [:]
        var bytes = 0
        /// Keys in insertion order, the oldest first; a key whose entry was replaced or removed
        /// since stays until it comes up (its serial tells), at most `2 * capacity` of them.
        var order = Deque<(key: Key, serial: UInt64)>()
        var nextSerial: UInt64 = 0
    }
    private let entries = Mutex(Entries())
    let hits = Atomic<Int>(0)
    let misses = Atomic<Int>(0)

    /// The question (name compared case-insensitively, type, class) and the DO bit.
    struct Key: Hashable, Sendable {
        var name: DomainName
        var type: RecordType
        var recordClass: RecordClass
        var dnssecOK: Bool

        init(_ query: Message) {
            let question = query.questions.first ?? Question(name: .root, type: RecordType(0))
            name = question.name
            type = question.type
            recordClass = question.recordClass
            dnssecOK = query.edns?.dnssecOK ?? false
        }
    }

    init(capacity: Int, maxTTL: UInt32, bytesPerEntry: Int = ResponseCache.bytesPerEntry) {
        self.capacity = max(capacity, 1)
        self.maxTTL = maxTTL
        let (budget, overflow) = self.capacity.multipliedReportingOverflow(by: bytesPerEntry)
        maxBytes = overflow ? Int.max : budget
    }

    /// The stored reply for `key` with its TTLs aged by the time it has been kept; nil when
    /// absent or expired.
    func lookup(_ key: Key, now: Double = monotonicNow()) -> Message? {
        let found = entries.withLock { entries -> Entry? in
            guard let entry = entries.byKey[key] else { return nil }
            if now - entry.stored >= entry.lifetime {
                entries.remove(key)
                return nil
            }
            return entry
        }
        guard let entry = found else {
            misses.add(1, ordering: .relaxed)
            return nil
        }
        hits.add(1, ordering: .relaxed)
        let age = UInt32(clamping: Int64((now - entry.stored).rounded(.down)))
        var reply = entry.reply
        func aged(_ records: [ResourceRecord]) -> [ResourceRecord] {
            records.map { record in
                var record = record
                record.ttl = record.ttl > age ? record.ttl - age : 0
                return record
            }
        }
        reply.answers = aged(reply.answers)
        reply.authorities = aged(reply.authorities)
        reply.additionals = aged(reply.additionals)
        return reply
    }

    /// Keeps `reply` to `key` for its lifetime (see `lifetime(of:)`), unless it must not be kept.
    /// `wireSize` is its size in bytes as it came from the upstream (encoded here when nil).
    func insert(_ key: Key, reply: Message, wireSize: Int? = nil, now: Double = monotonicNow()) {
        guard let lifetime = Self.lifetime(of: reply), lifetime > 0 else { return }
        let bytes = wireSize ?? reply.encode().count
        guard bytes <= maxBytes else { return }
        entries.withLock { entries in
            entries.remove(key)
            // Each pass takes one key off the order, so this ends within its length.
            while entries.byKey.count >= capacity || entries.bytes + bytes > maxBytes,
                  let oldest = entries.order.popFirst() {
                if entries.byKey[oldest.key]?.serial == oldest.serial { entries.remove(oldest.key) }
            }
            let serial = entries.nextSerial
            entries.nextSerial &+= 1
            entries.byKey[key] = Entry(reply: reply, stored: now, lifetime: Double(min(lifetime, maxTTL)), bytes: bytes,
                                       serial: serial)
            entries.bytes += bytes
            entries.order.append((key, serial))
            if entries.order.count > 2 * capacity { entries.compactOrder() }
        }
    }

    var count: Int { entries.withLock { $0.byKey.count } }

    /// The wire size of every reply held, in bytes.
    var byteCount: Int { entries.withLock { $0.bytes } }

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

private extension ResponseCache.Entries {
    mutating func remove(_ key: ResponseCache.Key) {
        if let entry = byKey.removeValue(forKey: key) { bytes -= entry.bytes }
    }

    /// Drops the order's stale keys (entries expired or replaced since).
    mutating func compactOrder() {
        order = Deque(order.filter { byKey[$0.key]?.serial == $0.serial })
    }
}
