import DNSWire

/// Finding the records a name stands for: SkyDNS's any-label matching, directories, groups.
extension AnswerBuilder {
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
}
