import DNSWire
import Synchronization

/// Forwarded answers, kept for their TTL (capped by `-rcache-ttl`) up to `-rcache` entries.
/// Negative answers are kept for the SOA's negative TTL (RFC 2308); SERVFAIL and truncated
/// answers are not kept. A hit is the stored reply with the client's ID and question casing and
/// every TTL aged.
final class ResponseCache: Sendable {
    private struct Entry {
        var reply: [UInt8]
        var ttlOffsets: [Int]
        var ttls: [UInt32]
        var stored: Double
        var lifetime: Double
    }

    let capacity: Int
    let maxTTL: UInt32
    private let entries = Mutex<[[UInt8]: Entry]>([:])
    let hits = Atomic<Int>(0)
    let misses = Atomic<Int>(0)

    init(capacity: Int, maxTTL: UInt32) {
        self.capacity = capacity
        self.maxTTL = maxTTL
    }

    /// The key: the lower-cased question (name, type, class) and the DO bit.
    static func key(lowercasedQuestion: some Collection<UInt8>, dnssecOK: Bool) -> [UInt8] {
        Array(lowercasedQuestion) + [dnssecOK ? 1 : 0]
    }

    func lookup(key: [UInt8], query: UnsafeRawBufferPointer, now: Double = monotonicNow()) -> [UInt8]? {
        let found = entries.withLock { entries -> Entry? in
            guard let entry = entries[key] else { return nil }
            if now - entry.stored >= entry.lifetime {
                entries[key] = nil
                return nil
            }
            return entry
        }
        guard let entry = found, let question = UpstreamExchange.questionRange(Array(query)),
              question.upperBound <= entry.reply.count else {
            misses.add(1, ordering: .relaxed)
            return nil
        }
        hits.add(1, ordering: .relaxed)
        var reply = entry.reply
        reply[0] = query[0]
        reply[1] = query[1]
        for index in question { reply[index] = query[index] }
        let age = UInt32(now - entry.stored)
        for (offset, ttl) in zip(entry.ttlOffsets, entry.ttls) {
            let aged = ttl > age ? ttl - age : 0
            reply[offset] = UInt8(aged >> 24)
            reply[offset + 1] = UInt8((aged >> 16) & 0xFF)
            reply[offset + 2] = UInt8((aged >> 8) & 0xFF)
            reply[offset + 3] = UInt8(aged & 0xFF)
        }
        return reply
    }

    func insert(key: [UInt8], reply: [UInt8], now: Double = monotonicNow()) {
        guard let (offsets, ttls, lifetime) = Self.cacheability(reply), lifetime > 0 else { return }
        let entry = Entry(reply: reply, ttlOffsets: offsets, ttls: ttls, stored: now, lifetime: Double(min(lifetime, maxTTL)))
        entries.withLock { entries in
            if entries.count >= capacity, entries[key] == nil, let victim = entries.keys.first {
                entries[victim] = nil
            }
            entries[key] = entry
        }
    }

    var count: Int { entries.withLock { $0.count } }

    /// Where each record's TTL sits, the TTLs, and how long the reply may be kept; nil when it
    /// must not be kept.
    static func cacheability(_ reply: [UInt8]) -> ([Int], [UInt32], UInt32)? {
        var reader = WireReader(reply)
        guard let header = try? Header.read(from: &reader), !header.isTruncated else { return nil }
        let rcode = header.responseCode
        guard rcode == .noError || rcode == .nxDomain else { return nil }
        var offsets: [Int] = []
        var ttls: [UInt32] = []
        var answerTTL: UInt32?
        var negativeTTL: UInt32?
        do {
            for _ in 0..<header.questionCount { _ = try Question.read(from: &reader) }
            let sections = [Int(header.answerCount), Int(header.authorityCount), Int(header.additionalCount)]
            for (section, count) in sections.enumerated() {
                for _ in 0..<count {
                    _ = try reader.readName()
                    let type = RecordType(try reader.readUInt16())
                    _ = try reader.readUInt16()
                    let ttlOffset = reader.offset
                    let ttl = try reader.readUInt32()
                    let length = Int(try reader.readUInt16())
                    let data = try reader.readBytes(length)
                    guard type != .opt else { continue }
                    offsets.append(ttlOffset)
                    ttls.append(ttl)
                    if section == 0 { answerTTL = min(answerTTL ?? ttl, ttl) }
                    if section == 1 && type == .soa && data.count >= 4 {
                        let minimum = data.suffix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                        negativeTTL = min(ttl, minimum)
                    }
                }
            }
        } catch {
            return nil
        }
        if header.answerCount > 0, rcode == .noError, let answerTTL { return (offsets, ttls, answerTTL) }
        if let negativeTTL { return (offsets, ttls, negativeTTL) }
        return nil
    }
}
