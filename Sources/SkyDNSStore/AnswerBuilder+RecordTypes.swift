import DNSWire

/// The records of each type an answer carries, built from the trie as SkyDNS's `server.go` does.
extension AnswerBuilder {
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
            next = isResolvedUpstream(target) ? resolveOutside(target, type, required: !both) : nil
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

    // MARK: Targets

    /// What decides an A/AAAA, CNAME or SRV answer: addresses of either family, names, and groups.
    static let addressOrAlias: RecordKinds.Wanted = [.ipv4, .ipv6, .names, .grouped]

    func priority(of record: NamedRecord) -> Int {
        record.priority == 0 ? Int(zone.defaultPriority) : record.priority
    }

    /// The SRV/MX target of `record` (after `targetstrip`) and the addresses that go with it in
    /// additional: the record's own address when its host is an IP, else the host's addresses,
    /// looked up once per answer.
    func target(of record: NamedRecord, resolved: inout Set<DomainName>) -> (DomainName, [ResourceRecord])? {
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
    func isResolvedUpstream(_ name: DomainName) -> Bool {
        zone.domain.isRoot || !name.isSubdomain(of: zone.domain)
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
