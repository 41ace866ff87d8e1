#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSWire

/// `-dnssec`: signs the served domain's answers on line (RFC 4035 §3.1). A response made for a
/// query with DO set gets an RRSIG after each RRset it carries whose owner is in the domain (in
/// answer, authority and additional), `<domain> DNSKEY` answers the key, and NXDOMAIN and NODATA
/// are proven by compact denial (`CompactDenial`). Signatures are valid from 3 hours back to 7
/// days ahead (SkyDNS's window) and reused from `cache` until 3 days before they expire.
public final class ZoneSigner: Sendable {
    public let key: SigningKey
    public let cache: SignatureCache
    /// The TTL of the DNSKEY RRset (`-ttl`).
    public let dnskeyTTL: UInt32
    /// Seconds since 1970 (injected by tests).
    private let clock: @Sendable () -> UInt32

    static let inceptionSkew: UInt32 = 3 * 3600
    static let validity: UInt32 = 7 * 86400
    /// A cached signature is made again once this little of its validity is left.
    static let refreshMargin: UInt32 = 3 * 86400

    public init(key: SigningKey, cacheCapacity: Int, dnskeyTTL: UInt32,
                clock: @escaping @Sendable () -> UInt32 = { UInt32(truncatingIfNeeded: time(nil)) }) {
        self.key = key
        cache = SignatureCache(capacity: cacheCapacity)
        self.dnskeyTTL = dnskeyTTL
        self.clock = clock
    }

    /// Seconds since 1970, from the signer's clock.
    public var now: UInt32 { clock() }

    /// The zone apex the key signs (lower-cased).
    public var apex: DomainName { key.dnskey.owner }

    /// The DNSKEY record, owned by `owner` (the question's casing).
    public func dnskeyRecord(owner: DomainName) -> ResourceRecord {
        ResourceRecord(name: owner, ttl: dnskeyTTL, data: .unknown(.dnskey, key.dnskey.rdata))
    }

    /// The RRSIG RDATA over `records` (one RRset), from the cache or newly made.
    /// nil when the crypto library fails to sign (the RRset then goes unsigned).
    public func rrsig(over records: ArraySlice<ResourceRecord>) -> [UInt8]? {
        guard let rrset = CanonicalRRset(records) else { return nil }
        let now = clock()
        let cacheKey = SignatureCache.Key(rrset)
        if let cached = cache.lookup(cacheKey, now: now) { return cached }
        let expiration = now &+ Self.validity
        guard let rrsig = try? key.rrsig(over: rrset, inception: now &- Self.inceptionSkew, expiration: expiration) else {
            return nil
        }
        cache.insert(cacheKey, rrsig: rrsig, refreshAt: expiration &- Self.refreshMargin)
        return rrsig
    }

    /// Rewrites `response` (an authoritative response from the store, made without a size
    /// limit) signed, into `writer`, within `maxSize` bytes: whole RRsets with their RRSIG are
    /// cut when they do not fit, TC set if that cuts the answer or authority section (RFC 4035
    /// §3.1.1), additional data dropped silently. Returns false, leaving `writer` untouched,
    /// when the response is not one to sign (not authoritative, not NOERROR/NXDOMAIN, its
    /// question not of class IN or outside the domain, or unreadable).
    public func sign(response: [UInt8], maxSize: Int, into writer: inout WireWriter) -> Bool {
        guard var message = try? Message(parsing: response), message.questions.count == 1,
              message.header.isAuthoritative else { return false }
        let question = message.questions[0]
        let rcode = message.header.responseCode
        guard rcode == .noError || rcode == .nxDomain, question.recordClass == .in, question.name.isSubdomain(of: apex) else {
            return false
        }
        if question.type == .dnskey && question.name.lowercased() == apex {
            message.answers = [dnskeyRecord(owner: question.name)]
            message.authorities = []
            message.additionals = []
        } else if message.answers.isEmpty {
            // RFC 9824: NOERROR, the SOA and one NSEC owned by the query name.
            let soaTTL = message.authorities.first { $0.type == .soa }?.ttl ?? dnskeyTTL
            let nsec = CompactDenial.nsec(qname: question.name, apex: apex, qtype: question.type,
                                          nameExists: rcode == .noError, ttl: soaTTL)
            if question.type == .nsec {
                // That NSEC is the name's NSEC RRset: the answer, not a denial of itself.
                message.answers = [nsec]
                message.authorities = []
            } else {
                message.authorities.append(nsec)
            }
            message.header.flags &= ~0x000F
        }
        let sections = [message.answers, message.authorities, message.additionals].map(rrsets)
        writer.reset()
        message.header.write(to: &writer)
        question.write(to: &writer)
        let limit = maxSize - (message.edns?.encodedLength ?? 0)
        var counts = [0, 0, 0]
        var truncated = false
        sections: for (index, rrsets) in sections.enumerated() {
            for rrset in rrsets {
                let mark = writer.mark
                // Signed only once its records fit: an answer cut to a small UDP size costs the
                // signatures it carries, not one for every RRset of a large directory.
                var fits = Self.write(rrset, to: &writer, limit: limit)
                let rrsig = fits ? rrsigRecord(over: rrset) : nil
                if let rrsig { fits = Self.write([rrsig], to: &writer, limit: limit) }
                guard fits else {
                    writer.rollBack(to: mark)
                    truncated = index < 2
                    break sections
                }
                counts[index] += rrset.count + (rrsig == nil ? 0 : 1)
            }
        }
        message.edns?.write(to: &writer)
        var flags = message.header.flags
        if truncated { flags |= Header.tcBit }
        writer.setUInt16(flags, at: 2)
        writer.setUInt16(1, at: 4)
        writer.setUInt16(UInt16(counts[0]), at: 6)
        writer.setUInt16(UInt16(counts[1]), at: 8)
        writer.setUInt16(UInt16(counts[2] + (message.edns == nil ? 0 : 1)), at: 10)
        return true
    }

    /// The section's records grouped into RRsets (by owner, regardless of case, and type, in
    /// order of first appearance), TTLs made equal within each (RFC 2181 §5.2).
    func rrsets(_ records: [ResourceRecord]) -> [[ResourceRecord]] {
        var order: [RRsetName] = []
        var groups: [RRsetName: [ResourceRecord]] = [:]
        for record in records {
            let name = RRsetName(owner: record.name.lowercased(), type: record.type, recordClass: record.recordClass)
            if groups[name] == nil { order.append(name) }
            groups[name, default: []].append(record)
        }
        return order.compactMap { name in
            guard var rrset = groups[name] else { return nil }
            let ttl = rrset.reduce(UInt32.max) { min($0, $1.ttl) }
            for index in rrset.indices { rrset[index].ttl = ttl }
            return rrset
        }
    }

    /// The RRSIG record over `rrset` (one RRset, TTLs equal), nil when its owner is outside the
    /// domain, it is itself RRSIGs, or signing fails.
    func rrsigRecord(over rrset: [ResourceRecord]) -> ResourceRecord? {
        guard let first = rrset.first, first.name.isSubdomain(of: apex), first.type != .rrsig,
              let rrsig = rrsig(over: rrset[...]) else { return nil }
        return ResourceRecord(name: first.name, recordClass: first.recordClass, ttl: first.ttl, data: .unknown(.rrsig, rrsig))
    }

    /// Writes `records`; false once one does not fit within `limit` bytes.
    private static func write(_ records: [ResourceRecord], to writer: inout WireWriter, limit: Int) -> Bool {
        for record in records {
            guard record.write(to: &writer), writer.count <= limit else { return false }
        }
        return true
    }

    private struct RRsetName: Hashable {
        var owner: DomainName
        var type: RecordType
        var recordClass: RecordClass
    }
}
