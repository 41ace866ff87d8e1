import DNSWire

/// Denial of existence by compact answers, "black lies" (RFC 9824): a name or type that is not
/// there gets NOERROR with one NSEC owned by the query name itself, whose type bitmap lacks the
/// asked type (and, for a name that does not exist at all, holds only RRSIG, NSEC and NXNAME).
/// One NSEC and one signature per answer, made on line, no zone walking and no SHA-1 hashing
/// (NSEC3 white lies need three NSEC3 records, each hashed and signed).
public enum CompactDenial {
    /// Types a name in the served domain may hold (every type SkyDNS answers but CNAME: a NODATA
    /// proof must not claim a CNAME, RFC 4035 §5.4). Listing a type the name lacks only costs
    /// the resolver a query; leaving one out that it has would let aggressive caching (RFC 8198)
    /// deny it.
    static let nameTypes: [RecordType] = [.a, .ptr, RecordType(13), .mx, .txt, .aaaa, .srv, .rrsig, .nsec]
    /// The apex also holds the zone's NS, SOA and DNSKEY (an NSEC with NS but no SOA would say
    /// "delegation", which validators refuse as a NODATA proof).
    static let apexTypes: [RecordType] = [.ns, .soa, .dnskey]

    /// The NSEC for `qname`: `nameExists` false for a name that does not exist (NXNAME), else
    /// every type the name may hold but `qtype` (NSEC itself stays: asked for, it is the answer).
    /// The next name is `successor(of:apex:)`.
    public static func nsec(qname: DomainName, apex: DomainName, qtype: RecordType, nameExists: Bool,
                            ttl: UInt32) -> ResourceRecord {
        let owner = qname.lowercased()
        let next = successor(of: owner, apex: apex.lowercased())
        let types: [RecordType]
        if nameExists {
            // Asked for NSEC, this record is the answer: the name holds it.
            types = (owner == apex.lowercased() ? nameTypes + apexTypes : nameTypes).filter { $0 != qtype || $0 == .nsec }
        } else {
            types = [.rrsig, .nsec, .nxname]
        }
        return ResourceRecord(name: owner, ttl: ttl, data: .unknown(.nsec, next.wire + typeBitmap(types)))
    }

    /// The name just after `owner` (lower-cased, in the domain `apex`) in canonical order (RFC
    /// 4034 §6.1; RFC 4471 §3.1.2): `\000.owner`; when that passes 255 bytes (no name lies below
    /// `owner` then), the first label with a `\000` octet appended, else with its last octet
    /// raised (0xFF octets dropped first, upper case skipped), else the same done to the parent.
    /// An NSEC must cover no name but the owner: a validator that caches it (RFC 8198) denies
    /// every name it covers, and one ending at the apex would cover the rest of the zone.
    static func successor(of owner: DomainName, apex: DomainName) -> DomainName {
        if owner.wire.count + 2 <= DomainName.maxLength, let below = try? DomainName(wire: [1, 0] + owner.wire) {
            return below
        }
        let labels = owner.labels.map { Array($0) }
        var level = 0
        while labels.count - level > apex.labelCount {
            var label = labels[level]
            let parent = labels[(level + 1)...]
            if label.count < DomainName.maxLabelLength, let longer = try? DomainName(labels: [label + [0]] + parent) {
                return longer
            }
            while label.last == 0xFF { label.removeLast() }
            if let last = label.last {
                let raised = last + 1
                label[label.count - 1] = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(raised) ? UInt8(ascii: "Z") + 1 : raised
                if let name = try? DomainName(labels: [label] + parent) { return name }
            }
            level += 1
        }
        return apex
    }

    /// The type bitmap of an NSEC (RFC 4034 §4.1.2): per 256-type window in use, its number,
    /// its length (1-32 bytes) and one bit per type, most significant first.
    public static func typeBitmap(_ types: [RecordType]) -> [UInt8] {
        var windows = [[UInt8]](repeating: [], count: 256)
        for type in Set(types.map(\.rawValue)).sorted() {
            let window = Int(type >> 8)
            let bit = Int(type & 0xFF)
            let byte = bit / 8
            if windows[window].count <= byte { windows[window] += [UInt8](repeating: 0, count: byte + 1 - windows[window].count) }
            windows[window][byte] |= 0x80 >> UInt8(bit % 8)
        }
        var bytes: [UInt8] = []
        for (window, bitmap) in windows.enumerated() where !bitmap.isEmpty {
            bytes += [UInt8(window), UInt8(bitmap.count)] + bitmap
        }
        return bytes
    }
}
