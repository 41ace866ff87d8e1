import DNSWire

/// The sections of an answer before they are written.
public struct Answer: Sendable, Equatable {
    public var rcode: ResponseCode = .noError
    public var answers: [ResourceRecord] = []
    public var authorities: [ResourceRecord] = []
    public var additionals: [ResourceRecord] = []
    /// A target outside the domain needed resolving and no resolver was given: the answer is
    /// incomplete, and the caller should build it again where forwarding may block.
    public var needsExternal = false
}

/// Notes that an outside name had to be resolved without a resolver at hand.
final class ExternalDemand {
    var wanted = false
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

    init(snapshot: Snapshot, external: ExternalResolver?, rotation: Int) {
        self.snapshot = snapshot
        self.external = external
        self.rotation = rotation
    }

    private func resolveOutside(_ name: DomainName, _ type: RecordType) -> [ResourceRecord]? {
        guard let external else {
            demand.wanted = true
            return nil
        }
        return external(name, type)
    }
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
            answer.answers = [ResourceRecord(name: zone.domain, ttl: zone.minTTL, data: .soa(zone.soa(serial: snapshot.serial)))]
        case .ptr:
            answer.answers = pointerRecords(owner: qname, lookupName: lookupName)
        case .any where exists(lookupName):
            // RFC 8482: one small synthesized record instead of everything, so ANY cannot amplify.
            answer.answers = [ResourceRecord(name: qname, ttl: zone.defaultTTL, data: .unknown(RecordType(13), [7] + Array("RFC8482".utf8) + [0]))]
        default:
            break
        }
        answer.needsExternal = demand.wanted
        answer.answers = deduplicated(answer.answers)
        answer.additionals = deduplicated(answer.additionals)
        unifyTTL(&answer.answers)
        if answer.answers.isEmpty {
            answer.rcode = exists(lookupName) ? .noError : .nxDomain
            answer.authorities = [ResourceRecord(name: zone.domain, ttl: zone.minTTL, data: .soa(zone.soa(serial: snapshot.serial)))]
            answer.additionals = []
        }
        return answer
    }

    // MARK: Lookup

    /// The nodes a name matches, with their names: each label `*` or `any` matches any one label.
    func matchingNodes(_ name: DomainName) -> [(node: TrieNode, name: DomainName)] {
        var nodes = [(node: snapshot.root, name: DomainName.root)]
        for label in name.lowercased().labels.reversed() {
            let text = String(decoding: label, as: UTF8.self)
            var next: [(node: TrieNode, name: DomainName)] = []
            for (node, nodeName) in nodes {
                if text == "*" || text == "any" {
                    for (childLabel, child) in node.childNodes {
                        if let childName = try? nodeName.prepending(childLabel) { next.append((child, childName)) }
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

    /// Every record at or below the nodes `name` matches (at most `maxRecordsPerAnswer`); nil
    /// when it matches none.
    func records(below name: DomainName) -> [NamedRecord]? {
        let nodes = matchingNodes(name)
        guard !nodes.isEmpty else { return nil }
        var records: [NamedRecord] = []
        for (node, nodeName) in nodes {
            let complete = node.forEachNamedRecord(name: nodeName) { record, recordName in
                records.append(NamedRecord(record: record, name: recordName))
                return records.count < Self.maxRecordsPerAnswer
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

    func exists(_ name: DomainName) -> Bool {
        name == zone.domain || !matchingNodes(name).isEmpty
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

    func addressRecords(owner: DomainName, lookupName: DomainName, type: RecordType, chain: [DomainName],
                        both: Bool = false) -> [ResourceRecord]? {
        guard let records = records(below: lookupName) else { return nil }
        var result: [ResourceRecord] = []
        for record in groupFiltered(records) {
            switch record.target {
            case .ipv4(let address) where type == .a || both:
                result.append(ResourceRecord(name: owner, ttl: record.ttl, data: .a(ARecord(bytes: address.bytes))))
            case .ipv6(let address) where type == .aaaa || both:
                result.append(ResourceRecord(name: owner, ttl: record.ttl, data: .aaaa(AAAARecord(bytes: address.bytes))))
            case .name(let target):
                // `x CNAME x` (kube2sky's named-port records point at their own service) and
                // loops are skipped; so is a chain longer than SkyDNS's eight.
                guard target != owner, chain.count < Self.maxChain, !chain.contains(target) else { continue }
                let next: [ResourceRecord]?
                if target.isSubdomain(of: zone.domain) {
                    next = addressRecords(owner: target, lookupName: target, type: type, chain: chain + [target], both: both)
                } else {
                    next = resolveOutside(target, type)
                }
                // A CNAME whose target resolves to nothing is left out.
                guard let next, !next.isEmpty else { continue }
                result.append(ResourceRecord(name: owner, ttl: record.ttl, data: .cname(CNAMERecord(target: target))))
                result.append(contentsOf: next)
            default:
                continue
            }
        }
        return result
    }

    /// SRV: one per record; weights split within each priority as SkyDNS does
    /// (floor(100 × w / Σw), weight 0 counting as 100); IP hosts get a target named after the key.
    func serviceRecords(owner: DomainName, lookupName: DomainName) -> ([ResourceRecord], [ResourceRecord]) {
        guard let records = records(below: lookupName) else { return ([], []) }
        let services = groupFiltered(records).filter { $0.target != .none }
        var totals: [Int: Int] = [:]
        for record in services {
            totals[priority(of: record), default: 0] += record.weight == 0 ? 100 : record.weight
        }
        var answers: [ResourceRecord] = []
        var additionals: [ResourceRecord] = []
        var resolvedTargets: Set<DomainName> = []
        for record in services {
            let priority = priority(of: record)
            let share = 100.0 / Double(totals[priority]!) * Double(record.weight == 0 ? 100 : record.weight)
            let weight = UInt16(clamping: Int(share.rounded(.down)))
            guard let (target, glue) = target(of: record, resolved: &resolvedTargets) else { continue }
            answers.append(ResourceRecord(name: owner, ttl: record.ttl, data: .srv(SRVRecord(
                priority: UInt16(clamping: priority), weight: weight, port: UInt16(clamping: record.port), target: target))))
            additionals.append(contentsOf: glue)
        }
        return (answers, additionals)
    }

    /// MX: records with `mail: true`, preference from the priority. SkyDNS applies no groups here.
    func mailRecords(owner: DomainName, lookupName: DomainName) -> ([ResourceRecord], [ResourceRecord]) {
        guard let records = records(below: lookupName) else { return ([], []) }
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
        guard let records = records(below: lookupName) else { return [] }
        return groupFiltered(records).filter { !$0.text.isEmpty }.map {
            ResourceRecord(name: owner, ttl: $0.ttl, data: .txt(TXTRecord(text: $0.text)))
        }
    }

    func canonicalNameRecords(owner: DomainName, lookupName: DomainName) -> [ResourceRecord] {
        guard let record = groupFiltered(records(at: lookupName) ?? []).first, case .name(let target) = record.target else {
            return []
        }
        return [ResourceRecord(name: owner, ttl: record.ttl, data: .cname(CNAMERecord(target: target)))]
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
        guard let records = records(below: zone.nameServer) else { return ([], []) }
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
            if target.isSubdomain(of: zone.domain) {
                return (target, addressRecords(owner: target, lookupName: target, type: .a, chain: [target], both: true) ?? [])
            }
            let glue = (resolveOutside(target, .a) ?? []) + (resolveOutside(target, .aaaa) ?? []).filter { $0.type != .cname }
            return (target, glue)
        case .none:
            return nil
        }
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
