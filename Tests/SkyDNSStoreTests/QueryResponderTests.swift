import DNSWire
import Testing
@testable import SkyDNSStore

/// Whole queries in, whole responses out: the A/AAAA fast path, negative answers, sizes, EDNS.
@Suite struct QueryResponderTests {
    static let fixture: [(String, String)] = [
        ("/skydns/sohu/domeos/kafka/19d074a1", hostValue("10.0.0.1", ttl: 30)),
        ("/skydns/sohu/domeos/kafka-10/x", hostValue("10.0.3.10", ttl: 30)),
        ("/skydns/sohu/domeos/svc/web/a1", hostValue("10.0.1.1", ttl: 60)),
        ("/skydns/sohu/domeos/svc/web/a2", hostValue("10.0.1.2", ttl: 30)),
        // The same address under a second key: answered once.
        ("/skydns/sohu/domeos/svc/web/a3", hostValue("10.0.1.1", ttl: 45)),
        ("/skydns/sohu/domeos/svc/db/b1", hostValue("10.0.2.1", ttl: 120)),
        ("/skydns/sohu/domeos/v6/x", hostValue("2001:db8::1", ttl: 30)),
        ("/skydns/sohu/domeos/dual/a", hostValue("10.0.5.1", ttl: 30)),
        ("/skydns/sohu/domeos/dual/b", hostValue("2001:db8::5", ttl: 30)),
    ]

    private func snapshot(_ records: [(String, String)] = fixture, zone: Zone? = nil) throws -> Snapshot {
        try loadedStore(records, zone: zone ?? domeosZone()).publisher.current
    }

    @Test func answersRecordOneLevelBelow() throws {
        let response = try Asker().response(query("kafka.domeos.sohu.", id: 0x1234), snapshot: snapshot())
        #expect(response.rcode == .noError)
        #expect(response.header.id == 0x1234)
        #expect(response.header.isResponse)
        #expect(response.header.isAuthoritative)
        #expect(response.header.recursionDesired, "RD is copied from the query")
        #expect(!response.header.isTruncated)
        #expect(response.message.questions == [Question(name: dname("kafka.domeos.sohu."), type: .a)])
        #expect(response.addresses == ["10.0.0.1"])
        #expect(response.answers.first?.name == dname("kafka.domeos.sohu."))
        #expect(response.answers.first?.ttl == 30)
        #expect(response.message.authorities.isEmpty && response.message.additionals.isEmpty)
        #expect(response.message.edns == nil)
    }

    /// A directory answers every address below it, at any depth, each address once.
    @Test(arguments: [
        ("web.svc.domeos.sohu.", ["10.0.1.1", "10.0.1.2"]),
        ("svc.domeos.sohu.", ["10.0.1.1", "10.0.1.2", "10.0.2.1"]),
        ("a1.web.svc.domeos.sohu.", ["10.0.1.1"]),
        ("dual.domeos.sohu.", ["10.0.5.1"]),
    ])
    func directoryAnswersAllBelow(name: String, expected: [String]) throws {
        let response = try Asker().response(query(name), snapshot: snapshot())
        #expect(response.rcode == .noError)
        #expect(response.addresses.count == expected.count, "duplicates answered once: \(response.addresses)")
        #expect(Set(response.addresses) == Set(expected))
        #expect(response.answers.allSatisfy { $0.name == dname(name) && $0.type == .a && $0.recordClass == .in })
    }

    @Test(arguments: [
        ("v6.domeos.sohu.", ["2001:db8::1"]),
        ("dual.domeos.sohu.", ["2001:db8::5"]),
    ])
    func aaaaAnswers(name: String, expected: [String]) throws {
        let response = try Asker().response(query(name, .aaaa), snapshot: snapshot())
        #expect(response.rcode == .noError && response.header.isAuthoritative)
        #expect(response.addresses == expected)
        #expect(response.answers.allSatisfy { $0.type == .aaaa })
    }

    /// Several records are all answered with the smallest TTL among them, never above `-ttl`.
    @Test(arguments: [
        // (zone default TTL, record TTLs, expected answer TTL)
        (UInt32(3600), [UInt32(60), 30, 120], UInt32(30)),
        (3600, [300, 300], 300),
        (20, [60, 30, 120], 20),
        (300, [0, 0], 300),
        (300, [0, 30], 30),
        (100, [7200, 3600], 100),
    ])
    func answerTTLIsSmallestCappedByDefault(defaultTTL: UInt32, recordTTLs: [UInt32], expected: UInt32) throws {
        let records = recordTTLs.enumerated().map { index, ttl in
            ("/skydns/sohu/domeos/many/r\(index)", ttl == 0 ? hostValue("10.0.9.\(index)") : hostValue("10.0.9.\(index)", ttl: ttl))
        }
        let response = try Asker().response(query("many.domeos.sohu."),
                                            snapshot: snapshot(records, zone: domeosZone(defaultTTL: defaultTTL)))
        #expect(response.answers.count == recordTTLs.count)
        #expect(response.answers.map(\.ttl) == Array(repeating: expected, count: recordTTLs.count))
    }

    /// Names compare case-insensitively; the question and the owner names keep the client's case.
    @Test(arguments: ["KaFkA.DomeOS.Sohu.", "KAFKA.DOMEOS.SOHU.", "kafka.domeos.SOHU."])
    func questionEchoedWithClientCasing(name: String) throws {
        let packet = query(name)
        let response = try Asker().response(packet, snapshot: snapshot())
        #expect(response.addresses == ["10.0.0.1"])
        let asked = dname(name).wire
        #expect(response.message.questions.first?.name.wire == asked)
        #expect(response.answers.first?.name.wire == asked)
        // Byte for byte: the question section of the response is the query's.
        let questionLength = asked.count + 4
        #expect(response.bytes[12..<(12 + questionLength)] == packet[12..<(12 + questionLength)])
    }

    @Test(arguments: [UInt32(60), 5, 3600])
    func nxdomainCarriesSOA(minTTL: UInt32) throws {
        let snapshot = try snapshot(zone: domeosZone(minTTL: minTTL))
        let response = try Asker().response(query("NoThere.DomeOS.sohu.", id: 7), snapshot: snapshot)
        #expect(response.rcode == .nxDomain)
        #expect(response.header.responseCode == .nxDomain)
        #expect(response.header.id == 7)
        #expect(response.header.isAuthoritative, "AA on NXDOMAIN (SkyDNS cleared it: a bug)")
        #expect(response.answers.isEmpty)
        #expect(response.message.authorities.count == 1)
        let (record, soa) = try #require(response.soa)
        #expect(record.name == dname("domeos.sohu."))
        #expect(record.ttl == minTTL)
        #expect(soa.mname.wire == dname("ns.dns.domeos.sohu.").wire)
        #expect(soa.rname.wire == dname("hostmaster.domeos.sohu.").wire)
        #expect(soa.serial == snapshot.serial)
        #expect((soa.refresh, soa.retry, soa.expire, soa.minimum) == (28800, 7200, 604800, minTTL))
    }

    /// Records exist but none of the asked family: NOERROR, no answer, SOA in authority.
    @Test(arguments: [
        ("kafka.domeos.sohu.", RecordType.aaaa),
        ("svc.domeos.sohu.", .aaaa),
        ("v6.domeos.sohu.", .a),
    ])
    func nodataForOtherFamily(name: String, type: RecordType) throws {
        let response = try Asker().response(query(name, type), snapshot: snapshot())
        #expect(response.rcode == .noError)
        #expect(response.header.responseCode == .noError)
        #expect(response.header.isAuthoritative)
        #expect(response.answers.isEmpty)
        let (record, soa) = try #require(response.soa)
        #expect(record.ttl == 60)
        #expect(soa.mname.wire == dname("ns.dns.domeos.sohu.").wire)
    }

    /// Labels are matched whole: `kafka-1` is not a prefix of the stored `kafka-10`.
    @Test(arguments: ["kafka-1.domeos.sohu.", "kafka-.domeos.sohu.", "kafk.domeos.sohu.", "afka.domeos.sohu.",
                      "19d074a.kafka.domeos.sohu.", "x.19d074a1.kafka.domeos.sohu.", "web.domeos.sohu."])
    func labelPrefixIsNotAMatch(name: String) throws {
        let response = try Asker().response(query(name), snapshot: snapshot())
        #expect(response.rcode == .nxDomain)
        #expect(response.answers.isEmpty)
    }

    /// A zone transfer of the domain, or of a name in it, is refused (RFC 5936 §2.2.1), not
    /// answered with an empty NOERROR that a secondary would take for an empty zone.
    @Test(arguments: [(RecordType.axfr, "domeos.sohu."), (.ixfr, "domeos.sohu."), (.axfr, "svc.domeos.sohu.")])
    func zoneTransferRefused(type: RecordType, name: String) throws {
        let response = try Asker().response(query(name, type, id: 7), snapshot: snapshot())
        #expect(response.rcode == .refused)
        #expect(response.header.id == 7)
        #expect(!response.header.isAuthoritative)
        #expect(response.answers.isEmpty && response.message.authorities.isEmpty)
    }

    @Test func refusedBeforeFirstSync() throws {
        let store = RecordStore(zone: try domeosZone(), pathPrefix: "skydns")
        let asker = Asker()
        // Records arriving by watch before the full read do not make the store synced.
        store.apply([.put(kv("/skydns/sohu/domeos/kafka/19d074a1", hostValue("10.0.0.1")))])
        for name in ["kafka.domeos.sohu.", "nothere.domeos.sohu.", "domeos.sohu."] {
            let response = try asker.response(query(name, id: 99, edns: EDNS()), snapshot: store.publisher.current)
            #expect(response.rcode == .refused)
            #expect(response.header.responseCode == .refused)
            #expect(response.header.id == 99)
            #expect(!response.header.isAuthoritative)
            #expect(response.answers.isEmpty && response.message.authorities.isEmpty)
            #expect(response.message.edns != nil)
        }
        store.apply([.replaceAll([kv("/skydns/sohu/domeos/kafka/19d074a1", hostValue("10.0.0.1"))])])
        let response = try asker.response(query("kafka.domeos.sohu."), snapshot: store.publisher.current)
        #expect(response.rcode == .noError && response.addresses == ["10.0.0.1"])
    }

    @Test(arguments: ["example.com.", "sohu.", "xdomeos.sohu.", "kafka.xdomeos.sohu.", "domeos.sohu.com.",
                      "omeos.sohu.", "."])
    func outsideZoneIsLeftToTheCaller(name: String) throws {
        let (outcome, _) = Asker().ask(query(name, id: 0x0BAD), snapshot: try snapshot())
        guard case .outsideZone(let view) = outcome else {
            Issue.record("expected outsideZone for \(name), got \(outcome)")
            return
        }
        #expect(view.id == 0x0BAD)
        #expect(view.type == .a)
    }

    /// Round robin: successive queries see the addresses rotated; off, the order stays.
    @Test func roundRobinRotates() throws {
        let asker = Asker()
        let snapshot = try snapshot()
        let orders = try (0..<3).map { _ in try asker.response(query("svc.domeos.sohu."), snapshot: snapshot).addresses }
        #expect(orders.allSatisfy { $0.count == 3 })
        #expect(Set(orders.map { $0.joined(separator: ",") }).count == 3, "each query starts elsewhere: \(orders)")
        // Every order is the same cycle, only started at a different record.
        let cycle = orders[0] + orders[0]
        for order in orders {
            #expect((0..<3).contains { Array(cycle[$0..<$0 + 3]) == order }, "\(order) is not a rotation of \(orders[0])")
        }
    }

    @Test func roundRobinOffKeepsStoreOrder() throws {
        let asker = Asker()
        let snapshot = try snapshot(zone: domeosZone(roundRobin: false))
        var storeOrder: [String] = []
        snapshot.root.node(at: ["sohu", "domeos", "svc"])!.forEachRecord { record in
            if !storeOrder.contains(record.host) { storeOrder.append(record.host) }
            return true
        }
        for _ in 0..<4 {
            #expect(try asker.response(query("svc.domeos.sohu."), snapshot: snapshot).addresses == storeOrder)
        }
    }

    // MARK: - Sizes

    private static let sixty: [(String, String)] = (0..<60).map {
        ("/skydns/sohu/domeos/big/r\($0)", hostValue("10.1.\($0 / 256).\($0 % 256)", ttl: 30))
    }

    /// Without EDNS a UDP answer is at most 512 bytes, whatever the server's own cap: as many
    /// whole records as fit, and TC.
    @Test func truncatesToClassicUDPSizeWithoutEDNS() throws {
        let response = try Asker().response(query("big.domeos.sohu."), snapshot: snapshot(Self.sixty), maxUDPSize: 4096)
        #expect(response.bytes.count <= 512)
        #expect(response.header.isTruncated)
        #expect(response.rcode == .noError)
        // 12 header + 21 question, 16 bytes per compressed A record.
        #expect(response.answers.count == (512 - 33) / 16)
        #expect(response.bytes.count == 33 + response.answers.count * 16)
        #expect(Set(response.addresses).count == response.answers.count)
    }

    @Test func ednsLiftsTheLimit() throws {
        let response = try Asker().response(query("big.domeos.sohu.", edns: EDNS(udpPayloadSize: 4096)),
                                            snapshot: snapshot(Self.sixty), maxUDPSize: 4096)
        #expect(!response.header.isTruncated)
        #expect(response.answers.count == 60)
        #expect(Set(response.addresses).count == 60)
        #expect(response.message.edns != nil)
    }

    /// The smaller of the client's EDNS size and the server's cap wins; the OPT record still fits.
    @Test(arguments: [(UInt16(4096), 512), (700, 1232), (4096, 900), (100, 4096)])
    func ednsAndServerCapBothLimit(clientSize: UInt16, serverCap: Int) throws {
        let limit = min(Int(max(clientSize, 512)), serverCap)
        let response = try Asker().response(query("big.domeos.sohu.", edns: EDNS(udpPayloadSize: clientSize)),
                                            snapshot: snapshot(Self.sixty), maxUDPSize: serverCap)
        #expect(response.bytes.count <= limit)
        #expect(response.header.isTruncated)
        #expect(response.message.edns != nil, "OPT kept when truncating")
        #expect(response.bytes.count + 16 > limit, "as many records as fit")
    }

    @Test func tcpCarriesEverything() throws {
        for edns in [nil, EDNS(udpPayloadSize: 512)] {
            let response = try Asker().response(query("big.domeos.sohu.", edns: edns), snapshot: snapshot(Self.sixty),
                                                maxUDPSize: nil)
            #expect(!response.header.isTruncated)
            #expect(response.answers.count == 60)
        }
    }

    // MARK: - EDNS

    @Test(arguments: [
        (EDNS?.none, false, false),
        (EDNS(udpPayloadSize: 1232), true, false),
        (EDNS(udpPayloadSize: 4096, dnssecOK: true), true, true),
    ])
    func ednsEchoed(edns: EDNS?, hasOPT: Bool, dnssecOK: Bool) throws {
        let asker = Asker()
        let snapshot = try snapshot()
        // Positive, NXDOMAIN and NODATA answers all echo it.
        for (name, type) in [("kafka.domeos.sohu.", RecordType.a), ("nothere.domeos.sohu.", .a), ("kafka.domeos.sohu.", .aaaa)] {
            let response = try asker.response(query(name, type, edns: edns), snapshot: snapshot)
            #expect((response.message.edns != nil) == hasOPT, "\(name) \(type)")
            if let opt = response.message.edns {
                #expect(opt.dnssecOK == dnssecOK)
                #expect(opt.version == 0 && opt.extendedRCode == 0)
                #expect(opt.udpPayloadSize == QueryResponder.advertisedUDPSize)
            }
        }
    }

    /// RFC 6891 §6.1.3: an EDNS version we do not speak gets BADVERS (extended RCODE 16).
    @Test(arguments: [UInt8(1), 2, 255])
    func unknownEDNSVersionIsBadVers(version: UInt8) throws {
        let response = try Asker().response(query("kafka.domeos.sohu.", id: 0x55, edns: EDNS(version: version)),
                                            snapshot: snapshot())
        #expect(response.rcode.rawValue == 16)
        #expect(response.header.id == 0x55)
        #expect(response.header.isResponse)
        #expect(response.header.responseCode == .noError, "low 4 bits of 16 in the header")
        #expect(response.answers.isEmpty)
        let opt = try #require(response.message.edns)
        #expect(opt.extendedRCode == 1)
        #expect(opt.version == 0)
        #expect(response.message.questions.first?.name == dname("kafka.domeos.sohu."))
    }

    // MARK: - Malformed queries

    @Test func noQuestionIsFormErrWithSameID() throws {
        let asker = Asker()
        for qd: UInt16 in [0, 2] {
            let packet = rawPacket(id: 0xCAFE, flags: Header.rdBit, qd: qd)
            let (outcome, bytes) = asker.ask(packet, snapshot: try snapshot())
            guard case .answered(let rcode, _) = outcome else {
                Issue.record("expected FORMERR, got \(outcome)")
                continue
            }
            #expect(rcode == .formErr)
            let response = try Message(parsing: bytes)
            #expect(response.header.id == 0xCAFE)
            #expect(response.header.isResponse)
            #expect(response.header.responseCode == .formErr)
            #expect(response.header.recursionDesired)
            #expect(response.questions.isEmpty && response.answers.isEmpty)
        }
    }

    @Test func truncatedQuestionIsFormErr() throws {
        var packet = query("kafka.domeos.sohu.", id: 0x0101)
        packet.removeLast(3)
        let (outcome, bytes) = Asker().ask(packet, snapshot: try snapshot())
        guard case .answered(.formErr, _) = outcome else {
            Issue.record("expected FORMERR, got \(outcome)")
            return
        }
        #expect(try Message(parsing: bytes).header.id == 0x0101)
    }

    /// A response (QR set) or less than a header gets no reply at all, so no loops or reflection.
    @Test func responsesAndRuntsAreDropped() throws {
        let snapshot = try snapshot()
        var response = query("kafka.domeos.sohu.")
        response[2] |= 0x80
        let runt = Array(query("kafka.domeos.sohu.").prefix(11))
        for packet in [response, runt, []] {
            let (outcome, _) = Asker().ask(packet, snapshot: snapshot)
            guard case .drop = outcome else {
                Issue.record("expected drop, got \(outcome)")
                continue
            }
        }
    }

    /// One responder serves many queries with one reused buffer: nothing leaks between them.
    @Test func reusedResponderAnswersEachQueryAfresh() throws {
        let asker = Asker()
        let snapshot = try snapshot()
        let big = try asker.response(query("svc.domeos.sohu.", edns: EDNS()), snapshot: snapshot)
        #expect(big.answers.count == 3)
        let nx = try asker.response(query("nothere.domeos.sohu.", id: 2), snapshot: snapshot)
        #expect(nx.rcode == .nxDomain && nx.answers.isEmpty && nx.message.edns == nil)
        let one = try asker.response(query("kafka.domeos.sohu.", id: 3), snapshot: snapshot)
        #expect(one.addresses == ["10.0.0.1"] && one.header.id == 3)
    }
}
