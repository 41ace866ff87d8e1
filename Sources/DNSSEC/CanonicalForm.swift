import DNSWire

/// An RRset in the canonical form signatures cover (RFC 4034 §6): owner lower-cased, names in
/// RDATA lower-cased and uncompressed (§6.2), records in canonical order by RDATA, duplicates
/// once (§6.3).
public struct CanonicalRRset: Sendable, Equatable {
    /// Lower-cased owner name.
    public let owner: DomainName
    public let type: RecordType
    public let recordClass: RecordClass
    /// The TTL every record is signed with (RRSIG's original TTL).
    public let ttl: UInt32
    /// Canonical RDATA of each record, sorted as unsigned byte strings, duplicates removed.
    public let rdatas: [[UInt8]]

    public init(owner: DomainName, type: RecordType, recordClass: RecordClass = .in, ttl: UInt32, rdatas: [[UInt8]]) {
        self.owner = owner.lowercased()
        self.type = type
        self.recordClass = recordClass
        self.ttl = ttl
        var sorted = rdatas.sorted { $0.lexicographicallyPrecedes($1) }
        var index = sorted.count - 1
        while index > 0 {
            if sorted[index] == sorted[index - 1] { sorted.remove(at: index) }
            index -= 1
        }
        self.rdatas = sorted
    }

    /// The records of one RRset (same owner, type, class); TTL the smallest among them.
    public init?(_ records: ArraySlice<ResourceRecord>) {
        guard let first = records.first else { return nil }
        self.init(owner: first.name, type: first.type, recordClass: first.recordClass,
                  ttl: records.reduce(first.ttl) { min($0, $1.ttl) },
                  rdatas: records.map { CanonicalForm.rdata($0.data) })
    }

    /// The labels an RRSIG over this set states (RFC 4034 §3.1.3): the owner's, not counting a
    /// leading `*` label. Validators count it so too (Unbound refuses a larger count as out of
    /// range), and one that is there literally (a SkyDNS `*` query) then reads as itself.
    public var labels: UInt8 {
        let wildcard = owner.wire.count > 2 && owner.wire[0] == 1 && owner.wire[1] == UInt8(ascii: "*")
        return UInt8(clamping: owner.labelCount - (wildcard ? 1 : 0))
    }

    /// Every record as signed: owner, type, class, original TTL, RDLENGTH, RDATA (RFC 4034 §3.1.8.1).
    public var signedRecords: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(rdatas.reduce(0) { $0 + owner.wire.count + 10 + $1.count })
        for rdata in rdatas {
            bytes += owner.wire
            bytes.appendBigEndian(type.rawValue)
            bytes.appendBigEndian(recordClass.rawValue)
            bytes.appendBigEndian(ttl)
            bytes.appendBigEndian(UInt16(clamping: rdata.count))
            bytes += rdata
        }
        return bytes
    }
}

/// Canonical RDATA (RFC 4034 §6.2; RFC 6840 §5.1 leaves the types here as listed).
public enum CanonicalForm {
    public static func rdata(_ data: RData) -> [UInt8] {
        var bytes: [UInt8] = []
        switch data {
        case .a(let record): bytes = record.bytes
        case .aaaa(let record): bytes = record.bytes
        case .cname(let record): bytes = record.target.lowercased().wire
        case .ns(let record): bytes = record.target.lowercased().wire
        case .ptr(let record): bytes = record.target.lowercased().wire
        case .mx(let record):
            bytes.appendBigEndian(record.preference)
            bytes += record.exchange.lowercased().wire
        case .srv(let record):
            bytes.appendBigEndian(record.priority)
            bytes.appendBigEndian(record.weight)
            bytes.appendBigEndian(record.port)
            bytes += record.target.lowercased().wire
        case .soa(let record):
            bytes = record.mname.lowercased().wire + record.rname.lowercased().wire
            for value in [record.serial, record.refresh, record.retry, record.expire, record.minimum] {
                bytes.appendBigEndian(value)
            }
        case .txt, .unknown:
            // No names inside: the wire form is the canonical form.
            var writer = WireWriter(capacity: 64)
            _ = ResourceRecord(name: .root, ttl: 0, data: data).write(to: &writer)
            bytes = Array(writer.bytes.dropFirst(11))
        }
        return bytes
    }
}
