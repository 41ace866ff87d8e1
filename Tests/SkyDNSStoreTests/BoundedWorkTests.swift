import DNSWire
import Testing
@testable import SkyDNSStore

/// Per-query work has a bound no store size can move: the kinds of records below each trie node
/// settle NODATA at once and steer walks to the records that can answer, collection stops once a
/// message is full, and every walk draws on one budget of trie visits per query.
@Suite struct BoundedWorkTests {
    /// 100,000 IPv4 pods under the apex (1,000 services of 100), and one record of each other
    /// kind deep among them, where a walk in hash order within the budget would rarely reach it.
    static let snapshot: Snapshot = {
        var root = TrieNode()
        func put(_ path: [String], _ service: ServiceRecord) {
            var clamped: [String] = []
            guard let record = try? StoredRecord(path: path, service: service, keyTTL: nil, defaultTTL: 3600, clamped: &clamped) else {
                fatalError("bad fixture record \(path)")
            }
            root.insert(record, at: path[...])
        }
        for service in 0..<1_000 {
            for pod in 0..<100 {
                put(["sohu", "domeos", "s\(service)", "p\(pod)"], ServiceRecord(host: "10.\(service / 256).\(service % 256).\(pod)"))
            }
        }
        put(["sohu", "domeos", "s777", "v6"], ServiceRecord(host: "2001:db8::77"))
        put(["sohu", "domeos", "s778", "note"], ServiceRecord(text: "needle"))
        put(["sohu", "domeos", "s779", "mx"], ServiceRecord(host: "10.9.9.9", mail: true))
        return Snapshot(zone: try! domeosZone(), root: root, isSynced: true, serial: 1)
    }()

    @Test func kindsCountedAtTheApex() throws {
        let apex = try #require(Self.snapshot.apex)
        #expect(apex.recordCount == 100_003)
        let kinds = apex.kinds
        #expect([kinds.ipv4, kinds.ipv6, kinds.names, kinds.text, kinds.mail, kinds.grouped] == [100_001, 1, 0, 1, 1, 0])
    }

    /// Each answer is the one record of its kind, found among 100,000 without walking them.
    @Test(arguments: [
        (RecordType.aaaa, "2001:db8::77"),
        (.txt, "\"needle\""),
        (.mx, "10 mx.s779.domeos.sohu."),
    ])
    func loneRecordFoundAtTheApex(type: RecordType, expected: String) throws {
        for maxUDPSize in [512, nil] as [Int?] {
            let response = try Asker().response(query("domeos.sohu.", type), snapshot: Self.snapshot, maxUDPSize: maxUDPSize)
            #expect(response.rcode == .noError)
            #expect(response.answers.map { presentation($0.data) } == [expected])
        }
    }

    /// A kind with no record below is NODATA, with the SOA, from the counts alone.
    @Test(arguments: [RecordType.aaaa, .txt, .mx, .cname])
    func nodataForAbsentKind(type: RecordType) throws {
        let response = try Asker().response(query("s1.domeos.sohu.", type), snapshot: Self.snapshot)
        #expect(response.rcode == .noError)
        #expect(response.answers.isEmpty)
        #expect(response.soa != nil)
    }

    /// Big answers stop when the message is full: TC set, as many whole records as fit, within
    /// the size asked for; the apex, a wildcard over every service and a double wildcard alike.
    @Test(arguments: ["domeos.sohu.", "*.domeos.sohu.", "*.*.domeos.sohu.", "any.domeos.sohu."])
    func fullMessageStopsTheAnswer(name: String) throws {
        for type in [RecordType.a, .srv] {
            for maxUDPSize in [512, 1232, nil] as [Int?] {
                let response = try Asker().response(query(name, type, edns: EDNS(udpPayloadSize: 1232)), snapshot: Self.snapshot,
                                                    maxUDPSize: maxUDPSize)
                #expect(response.rcode == .noError, "\(name) \(type)")
                #expect(response.header.isTruncated, "\(name) \(type) \(String(describing: maxUDPSize))")
                #expect(response.bytes.count <= (maxUDPSize.map { min($0, 1232) } ?? 65535))
                #expect(response.answers.count > 5)
                #expect(response.answers.allSatisfy { $0.type == type })
            }
        }
    }

    /// However many lookups an answer makes (wildcards over 100,000 records, SRV targets), the
    /// trie visits it spends stay within one query's budget.
    @Test(arguments: [
        ("*.*.domeos.sohu.", RecordType.srv), ("*.*.domeos.sohu.", .txt), ("domeos.sohu.", .srv), ("any.any.domeos.sohu.", .a),
    ])
    func visitsWithinBudget(name: String, type: RecordType) {
        let builder = AnswerBuilder(snapshot: Self.snapshot, external: nil, rotation: 0, limit: 65535)
        let answer = builder.answer(qname: dname(name), lookupName: dname(name), type: type)
        #expect(answer.rcode == .noError)
        #expect(builder.budget.visits >= 0 && builder.budget.visits < AnswerBuilder.maxVisits)
    }

    /// A lookup cut short by the budget never turns into an NXDOMAIN.
    @Test func spentBudgetIsNoNXDomain() {
        let builder = AnswerBuilder(snapshot: Self.snapshot, external: nil, rotation: 0, limit: 65535)
        builder.budget.visits = 0
        #expect(builder.exists(dname("*.s1.domeos.sohu.")))
        let fresh = AnswerBuilder(snapshot: Self.snapshot, external: nil, rotation: 0, limit: 65535)
        #expect(!fresh.exists(dname("*.nothing.domeos.sohu.")))
        #expect(fresh.exists(dname("*.s1.domeos.sohu.")))
    }

    private func presentation(_ data: RData) -> String {
        switch data {
        case .aaaa(let record): record.description
        case .txt(let record): record.strings.map { "\"" + String(decoding: $0, as: UTF8.self) + "\"" }.joined(separator: " ")
        case .mx(let record): "\(record.preference) \(record.exchange)"
        default: "\(data)"
        }
    }
}
