import DNSWire

/// The sections of an answer before they are written.
public struct Answer: Sendable, Equatable {
    public var rcode: ResponseCode = .noError
    public var answers: [ResourceRecord] = []
    public var authorities: [ResourceRecord] = []
    public var additionals: [ResourceRecord] = []
    /// A target outside the domain needed resolving and no resolver was given: the answer is
    /// incomplete, and the caller should build it again where forwarding may block.
    public var needsOutOfZoneData = false
}

/// Notes that an outside name had to be resolved without a resolver at hand.
final class ExternalDemand {
    var wanted = false
    /// No upstream answered for a record the answer cannot go without (the end of a CNAME chain).
    var failed = false
    /// Lookups sent upstream for this answer so far (at most `AnswerBuilder.maxOutsideLookups`).
    var lookups = 0
}

/// The trie visits (nodes and records) one query may still make, shared by every lookup the
/// answer needs (CNAME chains, SRV targets, wildcards), so its work has a bound no store size or
/// data shape can move.
final class WorkBudget {
    var visits: Int
    init(visits: Int) { self.visits = visits }
}

/// Looks up names outside the served domain (CNAME and SRV/MX targets elsewhere); the server
/// provides it when it forwards. Returns the name's records of the type, empty when it has none
/// (NXDOMAIN or NODATA upstream, or nothing is forwarded: `-no-rec`); nil when no upstream
/// answered (a timeout, SERVFAIL), which makes an answer that needs the records SERVFAIL, never
/// a denial caches would keep.
public typealias ExternalResolver = @Sendable (DomainName, RecordType) -> [ResourceRecord]?

/// Every answer SkyDNS gives, off the allocation-free A/AAAA path: CNAME chains, SRV, MX, TXT,
/// NS, SOA, PTR, wildcard labels and groups, following SkyDNS's `server.go` semantics.
struct AnswerBuilder {
    let snapshot: Snapshot
    let external: ExternalResolver?
    /// Advances once per query; picks the round-robin rotation.
    let rotation: Int
    let demand = ExternalDemand()
    let budget = WorkBudget(visits: Self.maxVisits)
    /// The most records one lookup collects: more than a message of the query's size can hold.
    let maxRecords: Int
    /// The size, in bytes, the answer's message may take.
    let messageLimit: Int

    /// - Parameter limit: the size, in bytes, the answer's message may take (512...65535).
    init(snapshot: Snapshot, external: ExternalResolver?, rotation: Int, limit: Int = 65535) {
        self.snapshot = snapshot
        self.external = external
        self.rotation = rotation
        maxRecords = min(Self.maxRecordsPerAnswer, max(limit, 0) / Self.minRecordSize + 1)
        messageLimit = limit
    }

    /// - Parameter required: the answer cannot go without the records (the end of a CNAME chain,
    ///   unlike SRV and MX glue): when no upstream answers, the answer is SERVFAIL.
    func resolveOutside(_ name: DomainName, _ type: RecordType, required: Bool = false) -> [ResourceRecord]? {
        guard let external else {
            demand.wanted = true
            return nil
        }
        // etcd's data, not the client, decides how many targets lie outside: past the budget
        // the answer goes without their addresses (glue is optional; clients look targets up).
        guard demand.lookups < Self.maxOutsideLookups else { return nil }
        demand.lookups += 1
        let records = external(name, type)
        if records == nil && required { demand.failed = true }
        return records
    }

    /// Upstream lookups one answer may make (a CNAME chain's end needs one; each SRV or MX
    /// target outside the domain two, A and AAAA): one query must not cost the upstreams, and a
    /// forwarder thread, a lookup per record of a large directory.
    static let maxOutsideLookups = 8
    var zone: Zone { snapshot.zone }

    /// SkyDNS follows at most eight CNAMEs.
    static let maxChain = 8

    /// - Parameters:
    ///   - qname: the name as the client wrote it; owner of the answers.
    ///   - lookupName: the name whose records answer (differs for `local.dns.<domain>`).
    func answer(qname: DomainName, lookupName: DomainName, type: RecordType) -> Answer {
        let isApex = lookupName == zone.domain
        var answer = Answer()
        switch type {
        case .a, .aaaa:
            answer.answers = addressRecords(owner: qname, lookupName: lookupName, type: type, chain: [qname]) ?? []
            rotateAddresses(&answer.answers)
        case .srv:
            (answer.answers, answer.additionals) = serviceRecords(owner: qname, lookupName: lookupName)
        case .mx:
            (answer.answers, answer.additionals) = mailRecords(owner: qname, lookupName: lookupName)
        case .txt:
            answer.answers = textRecords(owner: qname, lookupName: lookupName)
        case .cname:
            answer.answers = canonicalNameRecords(owner: qname, lookupName: lookupName)
        case .ns where isApex:
            (answer.answers, answer.additionals) = nameServerRecords(owner: qname)
        case .soa where isApex:
            answer.answers = [ResourceRecord(name: qname, ttl: zone.soaTTL, data: .soa(zone.soa(serial: snapshot.serial)))]
        case .ptr:
            answer.answers = pointerRecords(owner: qname, lookupName: lookupName)
        case .any where exists(lookupName):
            // RFC 8482: one small synthesized record instead of everything, so ANY cannot amplify.
            answer.answers = [ResourceRecord(name: qname, ttl: zone.defaultTTL, data: .unknown(RecordType(13), [7] + Array("RFC8482".utf8) + [0]))]
        default:
            break
        }
        answer.needsOutOfZoneData = demand.wanted
        if demand.failed && answer.answers.isEmpty {
            // The chain ends at a name no upstream answered for: unknown, not absent.
            answer.rcode = .servFail
            return answer
        }
        answer.answers = deduplicated(answer.answers)
        answer.additionals = deduplicated(answer.additionals)
        unifyTTL(&answer.answers)
        unifyRRsetTTLs(&answer.additionals)
        if answer.answers.isEmpty {
            answer.rcode = exists(lookupName) ? .noError : .nxDomain
            answer.authorities = [ResourceRecord(name: zone.domain, ttl: zone.negativeAnswerTTL,
                                                 data: .soa(zone.soa(serial: snapshot.serial)))]
            answer.additionals = []
        }
        return answer
    }


    // MARK: Shaping the answer

    /// Identical records (the same value under two keys, whatever their TTLs) are answered
    /// once, where the first stood, with the smallest of their TTLs (whatever order the walk met
    /// them in), as the A/AAAA fast path answers them: two copies would be one record twice in
    /// its RRset (RFC 2181 §5).
    private func deduplicated(_ records: [ResourceRecord]) -> [ResourceRecord] {
        var kept: [ResourceRecord] = []
        var positions: [ResourceRecord: Int] = [:]
        for record in records {
            var value = record
            value.ttl = 0
            if let position = positions[value] {
                kept[position].ttl = min(kept[position].ttl, record.ttl)
            } else {
                positions[value] = kept.count
                kept.append(record)
            }
        }
        return kept
    }

    /// Several records share the smallest TTL among them, capped by `-ttl` (SkyDNS does this for
    /// answers of more than one record).
    private func unifyTTL(_ records: inout [ResourceRecord]) {
        guard records.count > 1 else { return }
        let ttl = records.reduce(zone.defaultTTL) { min($0, $1.ttl) }
        for index in records.indices { records[index].ttl = ttl }
    }

    /// The records of one RRset in the additional section (a target's addresses) share one TTL
    /// (RFC 2181 §5.2), the one the A/AAAA answer for that name gives them: with several, the
    /// smallest among them, capped by `-ttl`.
    private func unifyRRsetTTLs(_ records: inout [ResourceRecord]) {
        var rrsets: [RRsetKey: (count: Int, ttl: UInt32)] = [:]
        for record in records {
            let key = RRsetKey(record)
            let seen = rrsets[key] ?? (0, zone.defaultTTL)
            rrsets[key] = (seen.count + 1, min(seen.ttl, record.ttl))
        }
        for index in records.indices {
            if let rrset = rrsets[RRsetKey(records[index])], rrset.count > 1 {
                records[index].ttl = rrset.ttl
            }
        }
    }

    /// Round robin without breaking CNAME chains: addresses rotate among themselves, only when
    /// there is at most one CNAME (glibc cannot follow several in another order).
    private func rotateAddresses(_ records: inout [ResourceRecord]) {
        guard zone.roundRobin, records.filter({ $0.type == .cname }).count <= 1 else { return }
        let positions = records.indices.filter { records[$0].type == .a || records[$0].type == .aaaa }
        guard positions.count > 1 else { return }
        let shift = rotation % positions.count
        let rotated = positions.map { records[$0] }
        for (index, position) in positions.enumerated() {
            records[position] = rotated[(index + shift) % rotated.count]
        }
    }
}
