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
/// provides it when it forwards. Returns nil when the name cannot be resolved.
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

    private func resolveOutside(_ name: DomainName, _ type: RecordType) -> [ResourceRecord]? {
        guard let external else {
            demand.wanted = true
            return nil
        }
        // etcd's data, not the client, decides how many targets lie outside: past the budget
        // the answer goes without their addresses (glue is optional; clients look targets up).
        guard demand.lookups < Self.maxOutsideLookups else { return nil }
        demand.lookups += 1
        return external(name, type)
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
        answer.answers = deduplicated(answer.answers)
        answer.additionals = deduplicated(answer.additionals)
        unifyTTL(&answer.answers)
        if answer.answers.isEmpty {
            answer.rcode = exists(lookupName) ? .noError : .nxDomain
            answer.authorities = [ResourceRecord(name: zone.domain, ttl: zone.negativeAnswerTTL,
                                                 data: .soa(zone.soa(serial: snapshot.serial)))]
            answer.additionals = []
        }
        return answer
    }

    // MARK: Lookup

    /// The nodes a name matches, with their names: each label `*` or `any` matches any one label
    /// (with etcd v2, not one starting with `_`: a wildcard does not list hidden keys). At most
    /// `maxRecordsPerAnswer` nodes (each holds a record or more, so that is more than an answer
    /// can carry), found within the query's budget.
    func matchingNodes(_ name: DomainName) -> [(node: TrieNode, name: DomainName)] {
        var nodes = [(node: snapshot.root, name: DomainName.root)]
        for label in name.lowercased().labels.reversed() {
            let text = String(decoding: label, as: UTF8.self)
            var next: [(node: TrieNode, name: DomainName)] = []
            for (node, nodeName) in nodes {
                guard budget.visits > 0, next.count < Self.maxRecordsPerAnswer else { break }
                budget.visits -= 1
                if text == "*" || text == "any" {
                    node.forEachChild { childLabel, child in
                        budget.visits -= 1
                        if !(snapshot.hidesUnderscoreLabels && childLabel.hasPrefix("_")),
                           let childName = try? nodeName.prepending(childLabel) {
                            next.append((child, childName))
                        }
                        return budget.visits > 0 && next.count < Self.maxRecordsPerAnswer
                    }
                } else if let child = node.child(text), let childName = try? nodeName.prepending(text) {
                    next.append((child, childName))
                }
            }
            nodes = next
            if nodes.isEmpty { break }
        }
        return nodes
    }

    /// More records than a 64 KiB answer can hold; a directory larger than this (say 100,000
    /// keys under one name) is answered from its first records instead of all of them.
    static let maxRecordsPerAnswer = 8192
    /// The fewest bytes a record takes in an answer (a compressed owner, the fixed fields and one
    /// byte of RDATA): a message of `limit` bytes holds fewer than `limit / minRecordSize + 1`.
    static let minRecordSize = 13
    /// Trie visits per query: enough to fill a 64 KiB answer from a sparse directory, far
    /// below a cluster's store.
    static let maxVisits = 32_768

    /// Every record at or below the nodes `name` matches, in the subtrees holding a `wanted`
    /// kind (at most `limit`, `maxRecords` unless given, within the query's budget); nil when it
    /// matches none.
    func records(below name: DomainName, wanted: RecordKinds.Wanted, limit: Int? = nil) -> [NamedRecord]? {
        let nodes = matchingNodes(name)
        guard !nodes.isEmpty else { return nil }
        var records: [NamedRecord] = []
        let limit = limit ?? maxRecords
        let hiding = snapshot.hidesUnderscoreLabels
        for (node, nodeName) in nodes where node.kinds(hidingUnderscoreLabels: hiding).contains(any: wanted) {
            var visits = budget.visits
            defer { budget.visits = visits }
            let complete = node.forEachNamedRecord(name: nodeName, hidingUnderscoreLabels: hiding,
                                                   where: { $0.contains(any: wanted) }, budget: &visits) { record, recordName in
                records.append(NamedRecord(record: record, name: recordName))
                return records.count < limit
            }
            if !complete { break }
        }
        return records
    }

    /// Records stored at exactly `name` (CNAME and PTR queries).
    func records(at name: DomainName) -> [NamedRecord]? {
        let nodes = matchingNodes(name)
        guard !nodes.isEmpty else { return nil }
        return nodes.compactMap { node, nodeName in node.record.map { NamedRecord(record: $0, name: nodeName) } }
    }

    /// The apex, and names with a record at or below them (hidden ones aside).
    /// With the query's budget spent the lookup may have stopped short, so the name counts as
    /// existing: a NODATA is safer than an NXDOMAIN resolvers would cache for the whole subtree.
    func exists(_ name: DomainName) -> Bool {
        name == zone.domain
            || matchingNodes(name).contains { $0.node.hasRecord(hidingUnderscoreLabels: snapshot.hidesUnderscoreLabels) }
            || budget.visits <= 0
    }

    /// SkyDNS's groups: the group of the shallowest record that has one wins, and the answer
    /// keeps that group's records and those without a group; if records at that depth disagree,
    /// all are kept.
    func groupFiltered(_ records: [NamedRecord]) -> [NamedRecord] {
        let grouped = records.filter { $0.hasGroup }
        guard let shallowest = grouped.map({ $0.depth }).min() else { return records }
        let groups = Set(grouped.filter { $0.depth == shallowest }.map { $0.group })
        guard groups.count == 1, let group = groups.first else { return records }
        return records.filter { !$0.hasGroup || $0.group == group }
    }

    // MARK: Record types

    /// A/AAAA (both with `both`, for glue) for `lookupName`, owned by `owner`. The records below
    /// the name decide what it is: if any of them holds an address (of either family), the
    /// name's answer is its addresses, and records below it that hold names are not aliases of
    /// it (kube2sky's named-port SRV records under a headless service); otherwise the name is an
    /// alias: one CNAME (`canonicalName`) and the addresses of its target, followed at most
    /// eight deep. A CNAME whose target has no address is left out, as SkyDNS does.
    /// nil when the name does not exist.
    func addressRecords(owner: DomainName, lookupName: DomainName, type: RecordType, chain: [DomainName],
                        both: Bool = false) -> [ResourceRecord]? {
        guard let records = records(below: lookupName, wanted: Self.addressOrAlias) else { return nil }
        let filtered = groupFiltered(records)
        var result: [ResourceRecord] = []
        var hasAddress = false
        for record in filtered {
            switch record.target {
            case .ipv4(let address):
                hasAddress = true
                if type == .a || both {
                    result.append(ResourceRecord(name: owner, ttl: record.ttl, data: .a(ARecord(bytes: address.bytes))))
                }
            case .ipv6(let address):
                hasAddress = true
                if type == .aaaa || both {
                    result.append(ResourceRecord(name: owner, ttl: record.ttl, data: .aaaa(AAAARecord(bytes: address.bytes))))
                }
            case .name, .none:
                continue
            }
        }
        guard !hasAddress, let alias = canonicalName(of: filtered, owner: owner) else { return result }
        let target = alias.target
        // Loops and chains longer than SkyDNS's eight end without the CNAME.
        guard chain.count < Self.maxChain, !chain.contains(target) else { return result }
        let next: [ResourceRecord]?
        if target.isSubdomain(of: zone.domain), let inStore = addressRecords(owner: target, lookupName: target, type: type,
                                                                           chain: chain + [target], both: both) {
            next = inStore
        } else {
            next = isResolvedUpstream(target) ? resolveOutside(target, type) : nil
        }
        guard let next, !next.isEmpty else { return result }
        return [ResourceRecord(name: owner, ttl: alias.ttl, data: .cname(CNAMERecord(target: target)))] + next
    }

    /// The one CNAME a name without addresses has (RFC 1034 §3.6.2, RFC 2181 §10.1: never two
    /// at one owner): the hosts that are names, in key order, each once, except `owner` itself
    /// (kube2sky's named-port records point at their own service); with round robin one is
    /// picked per query in turn, else the first. nil when there is none.
    func canonicalName(of records: [NamedRecord], owner: DomainName) -> (target: DomainName, ttl: UInt32)? {
        var candidates: [(target: DomainName, ttl: UInt32)] = []
        var seen: Set<DomainName> = []
        for record in records {
            guard case .name(let target) = record.target, target != owner, seen.insert(target).inserted else { continue }
            candidates.append((target, record.ttl))
        }
        guard !candidates.isEmpty else { return nil }
        guard zone.roundRobin else { return candidates[0] }
        return candidates[Int(UInt(bitPattern: rotation) % UInt(candidates.count))]
    }

    /// SRV: one per record; weights split within each priority as SkyDNS does
    /// (floor(100 × w / Σw), weight 0 counting as 100), except that a share never rounds down to
    /// 0: SRV clients read weight 0 as "only when nothing else is left" (RFC 2782), so a service
    /// past 100 endpoints would otherwise lose its traffic. IP hosts get a target named after
    /// the key.
    func serviceRecords(owner: DomainName, lookupName: DomainName) -> ([ResourceRecord], [ResourceRecord]) {
        // Weights are shares of every record of a priority, so all are read (up to the directory
        // cap); only as many as the message can hold are answered, targets looked up.
        guard let records = records(below: lookupName, wanted: Self.addressOrAlias, limit: Self.maxRecordsPerAnswer) else {
            return ([], [])
        }
        let services = groupFiltered(records).filter { $0.target != .none }
        // In floating point, so that no count of records or weights can overflow the sum.
        var totals: [Int: Double] = [:]
        for record in services {
            totals[priority(of: record), default: 0] += Self.splitWeight(record)
        }
        var answers: [ResourceRecord] = []
        var additionals: [ResourceRecord] = []
        var resolvedTargets: Set<DomainName> = []
        for record in services where answers.count < maxRecords {
            let priority = priority(of: record)
            let total = totals[priority] ?? 0
            let share = total > 0 ? (100 * Self.splitWeight(record) / total).rounded(.down) : 0
            let weight = UInt16(clamping: max(1, Int(exactly: share) ?? 100))
            guard let (target, glue) = target(of: record, resolved: &resolvedTargets) else { continue }
            answers.append(ResourceRecord(name: owner, ttl: record.ttl, data: .srv(SRVRecord(
                priority: UInt16(clamping: priority), weight: weight, port: UInt16(clamping: record.port), target: target))))
            additionals.append(contentsOf: glue)
        }
        return (answers, additionals)
    }

    /// A record's part in the weight split: its weight, 0 (unset) counting as 100 as in SkyDNS.
    private static func splitWeight(_ record: NamedRecord) -> Double {
        record.weight > 0 ? Double(record.weight) : 100
    }

    /// MX: records with `mail: true`, preference from the priority. SkyDNS applies no groups here.
    func mailRecords(owner: DomainName, lookupName: DomainName) -> ([ResourceRecord], [ResourceRecord]) {
        guard let records = records(below: lookupName, wanted: .mail) else { return ([], []) }
        var answers: [ResourceRecord] = []
        var additionals: [ResourceRecord] = []
        var resolvedTargets: Set<DomainName> = []
        for record in records where record.mail {
            guard let (target, glue) = target(of: record, resolved: &resolvedTargets) else { continue }
            answers.append(ResourceRecord(name: owner, ttl: record.ttl, data: .mx(MXRecord(
                preference: UInt16(clamping: priority(of: record)), exchange: target))))
            additionals.append(contentsOf: glue)
        }
        return (answers, additionals)
    }

    func textRecords(owner: DomainName, lookupName: DomainName) -> [ResourceRecord] {
        guard let records = records(below: lookupName, wanted: [.text, .grouped]) else { return [] }
        // Texts run to 64,000 bytes each: once more text is collected than the message can hold,
        // the rest would only be hashed (duplicates) and cut, so it is not collected.
        var answers: [ResourceRecord] = []
        var textBytes = 0
        for record in groupFiltered(records) where textBytes <= messageLimit {
            guard let txt = record.txt else { continue }
            answers.append(ResourceRecord(name: owner, ttl: record.ttl, data: .txt(txt)))
            textBytes += txt.strings.reduce(txt.strings.count) { $0 + $1.count }
        }
        return answers
    }

    /// The CNAME an A or AAAA query for the name shows (see `addressRecords`), without
    /// following it: none when a record below holds an address.
    func canonicalNameRecords(owner: DomainName, lookupName: DomainName) -> [ResourceRecord] {
        let records = groupFiltered(records(below: lookupName, wanted: Self.addressOrAlias) ?? [])
        guard !records.contains(where: { $0.target.isAddress }),
              let alias = canonicalName(of: records, owner: owner) else { return [] }
        return [ResourceRecord(name: owner, ttl: alias.ttl, data: .cname(CNAMERecord(target: alias.target)))]
    }

    func pointerRecords(owner: DomainName, lookupName: DomainName) -> [ResourceRecord] {
        (records(at: lookupName) ?? []).compactMap { record in
            guard case .name(let target) = record.target else { return nil }
            return ResourceRecord(name: owner, ttl: record.ttl, data: .ptr(PTRRecord(target: target)))
        }
    }

    /// NS at the apex, from the records below `ns.dns.<domain>`; only IP hosts count. The target is
    /// the record's own name, with its address in additional.
    func nameServerRecords(owner: DomainName) -> ([ResourceRecord], [ResourceRecord]) {
        guard let records = records(below: zone.nameServer, wanted: [.ipv4, .ipv6, .grouped]) else { return ([], []) }
        var answers: [ResourceRecord] = []
        var additionals: [ResourceRecord] = []
        for record in groupFiltered(records) {
            let target = record.name
            switch record.target {
            case .ipv4(let address):
                additionals.append(ResourceRecord(name: target, ttl: record.ttl, data: .a(ARecord(bytes: address.bytes))))
            case .ipv6(let address):
                additionals.append(ResourceRecord(name: target, ttl: record.ttl, data: .aaaa(AAAARecord(bytes: address.bytes))))
            default:
                continue
            }
            answers.append(ResourceRecord(name: owner, ttl: record.ttl, data: .ns(NSRecord(target: target))))
        }
        return (answers, additionals)
    }

    // MARK: Helpers

    /// What decides an A/AAAA, CNAME or SRV answer: addresses of either family, names, and groups.
    private static let addressOrAlias: RecordKinds.Wanted = [.ipv4, .ipv6, .names, .grouped]

    private func priority(of record: NamedRecord) -> Int {
        record.priority == 0 ? Int(zone.defaultPriority) : record.priority
    }

    /// The SRV/MX target of `record` (after `targetstrip`) and the addresses that go with it in
    /// additional: the record's own address when its host is an IP, else the host's addresses,
    /// looked up once per answer.
    private func target(of record: NamedRecord, resolved: inout Set<DomainName>) -> (DomainName, [ResourceRecord])? {
        switch record.target {
        case .ipv4(let address):
            let target = record.name.droppingFirstLabels(record.targetStrip)
            return (target, [ResourceRecord(name: target, ttl: record.ttl, data: .a(ARecord(bytes: address.bytes)))])
        case .ipv6(let address):
            let target = record.name.droppingFirstLabels(record.targetStrip)
            return (target, [ResourceRecord(name: target, ttl: record.ttl, data: .aaaa(AAAARecord(bytes: address.bytes)))])
        case .name(let host):
            let target = host.droppingFirstLabels(record.targetStrip)
            guard resolved.insert(target).inserted else { return (target, []) }
            if target.isSubdomain(of: zone.domain),
               let glue = addressRecords(owner: target, lookupName: target, type: .a, chain: [target], both: true) {
                return (target, glue)
            }
            guard isResolvedUpstream(target) else { return (target, []) }
            let glue = (resolveOutside(target, .a) ?? []) + (resolveOutside(target, .aaaa) ?? []).filter { $0.type != .cname }
            return (target, glue)
        case .none:
            return nil
        }
    }

    /// Whether a target the store does not hold is looked up upstream: a name outside the
    /// domain, or with `-domain=.` (where every name is inside) any name etcd does not hold.
    private func isResolvedUpstream(_ name: DomainName) -> Bool {
        zone.domain.isRoot || !name.isSubdomain(of: zone.domain)
    }

    /// Identical records (the same value under two keys) are answered once, first one kept.
    private func deduplicated(_ records: [ResourceRecord]) -> [ResourceRecord] {
        var seen = Set<ResourceRecord>(minimumCapacity: records.count)
        return records.filter { seen.insert($0).inserted }
    }

    /// Several records share the smallest TTL among them, capped by `-ttl` (SkyDNS does this for
    /// answers of more than one record).
    private func unifyTTL(_ records: inout [ResourceRecord]) {
        guard records.count > 1 else { return }
        let ttl = records.reduce(zone.defaultTTL) { min($0, $1.ttl) }
        for index in records.indices { records[index].ttl = ttl }
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

extension StoredRecord.Target {
    var isAddress: Bool {
        switch self {
        case .ipv4, .ipv6: true
        case .name, .none: false
        }
    }
}
