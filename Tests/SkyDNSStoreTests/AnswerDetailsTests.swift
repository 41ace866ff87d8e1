import DNSWire
import Testing
@testable import SkyDNSStore

// SRV weights, reverse names, casing inside RDATA, SOA TTLs and `-domain=.`.

@Suite struct ServiceWeightTests {
    /// floor(100 × w / Σw) within a priority, 0 counting as 100, and never 0 for a positive share.
    @Test(arguments: [
        // (weights, expected SRV weights)
        ([10, 10, 10], [33, 33, 33]),
        ([130, 80, 150], [36, 22, 41]),
        ([1, 1, 1000], [1, 1, 99]),
        ([0, 1], [99, 1]),
        (Array(repeating: 10, count: 101), Array(repeating: 1, count: 101)),
        ([65535, 65535, 1], [49, 49, 1]),
    ])
    func weightsSplit(weights: [Int], expected: [Int]) throws {
        let records = weights.enumerated().map { index, weight in
            (String(format: "/skydns/sohu/domeos/s/r%03d", index), #"{"host":"10.0.\#(index / 250).\#(index % 250 + 1)","port":80,"weight":\#(weight)}"#)
        }
        let snapshot = try rulesSnapshot(records, zone: rulesZone())
        let response = try Asker().response(query("s.domeos.sohu.", .srv), snapshot: snapshot, maxUDPSize: nil)
        let got = response.answers.compactMap { record -> (String, Int)? in
            guard case .srv(let srv) = record.data else { return nil }
            return (srv.target.description, Int(srv.weight))
        }.sorted { $0.0 < $1.0 }.map(\.1)
        #expect(got == expected)
    }
}

@Suite struct ReverseTests {
    static let records: [(String, String)] = [
        ("/skydns/arpa/in-addr/10/0/0/127", hostValue("Reverse.DomeOS.sohu")),
        ("/skydns/arpa/in-addr/10/0/1/5/x", hostValue("deeper.domeos.sohu")),
        ("/skydns/sohu/domeos/a/r", hostValue("10.0.0.127")),
    ]

    /// A PTR from etcd is answered as SkyDNS answers it: no AA (no SOA is held for reverse
    /// zones), the target as the data spells it.
    @Test func pointerAnsweredWithoutAA() throws {
        let snapshot = try rulesSnapshot(Self.records, zone: rulesZone())
        let response = try Asker().response(query("127.0.0.10.IN-ADDR.arpa.", .ptr), snapshot: snapshot)
        #expect(response.rcode == .noError)
        #expect(!response.header.isAuthoritative)
        #expect(response.answers.map(line) == ["127.0.0.10.IN-ADDR.arpa. 300 PTR Reverse.DomeOS.sohu."])
        #expect(response.message.authorities.isEmpty)
    }

    /// Without a PTR at exactly that name the name is not ours: the caller forwards it, as
    /// SkyDNS forwarded a missing PTR.
    @Test(arguments: [
        ("99.0.0.10.in-addr.arpa.", RecordType.ptr),
        ("1.0.10.in-addr.arpa.", .ptr),        // a directory: no record at exactly that name
        ("5.1.0.10.in-addr.arpa.", .ptr),      // the record lies below the name
        ("*.0.0.10.in-addr.arpa.", .ptr),      // no wildcards in reverse names
        ("127.0.0.10.in-addr.arpa.", .a),      // only PTR comes from etcd
    ])
    func missingPointerIsForwarded(name: String, type: RecordType) throws {
        let snapshot = try rulesSnapshot(Self.records, zone: rulesZone())
        let (outcome, _) = Asker().ask(query(name, type), snapshot: snapshot)
        guard case .outsideZone = outcome else {
            Issue.record("expected outsideZone, got \(outcome)")
            return
        }
    }
}

@Suite struct RDataCaseTests {
    static let records: [(String, String)] = [
        ("/skydns/sohu/domeos/dns/ns/a", hostValue("10.0.0.53")),
        ("/skydns/sohu/domeos/registry/r1", hostValue("lb.example.net")),
        ("/skydns/sohu/domeos/named/r1", #"{"host":"db.domeos.sohu","port":5432}"#),
        ("/skydns/sohu/domeos/db/h1", hostValue("10.0.3.1")),
        ("/skydns/sohu/domeos/ip/x1", #"{"host":"10.0.4.1","port":80}"#),
    ]

    /// Only owner names echo the query's casing; names inside RDATA come from the data and the
    /// configuration, whatever the question's casing (compression must not borrow it).
    @Test(arguments: [
        ("DOMEOS.SOHU.", RecordType.soa, ["DOMEOS.SOHU. 300 SOA ns.dns.domeos.sohu. hostmaster.domeos.sohu. 60"], []),
        ("DomeOS.Sohu.", .ns, ["DomeOS.Sohu. 300 NS a.ns.dns.domeos.sohu."], ["a.ns.dns.domeos.sohu. 300 A 10.0.0.53"]),
        ("REGISTRY.DOMEOS.SOHU.", .cname, ["REGISTRY.DOMEOS.SOHU. 300 CNAME lb.example.net."], []),
        ("Named.DomeOS.Sohu.", .srv, ["Named.DomeOS.Sohu. 300 SRV 10 100 5432 db.domeos.sohu."],
         ["db.domeos.sohu. 300 A 10.0.3.1"]),
        ("IP.DOMEOS.SOHU.", .srv, ["IP.DOMEOS.SOHU. 300 SRV 10 100 80 x1.ip.domeos.sohu."], ["x1.ip.domeos.sohu. 300 A 10.0.4.1"]),
        ("NoThere.DOMEOS.SOHU.", .a, [], []),
        ("NoThere.DOMEOS.SOHU.", .srv, [], []),
    ])
    func rdataNamesKeepTheirOwnCase(name: String, type: RecordType, answer: [String], additional: [String]) throws {
        let snapshot = try rulesSnapshot(Self.records, zone: rulesZone())
        let response = try upstreamAsker().response(query(name, type), snapshot: snapshot)
        #expect(response.answers.map(line) == answer)
        #expect(response.message.additionals.map(line) == additional)
        for record in response.message.authorities {
            guard case .soa(let soa) = record.data else { continue }
            #expect(soa.mname.description == "ns.dns.domeos.sohu.")
            #expect(soa.rname.description == "hostmaster.domeos.sohu.")
        }
    }
}

@Suite struct SOATTLTests {
    /// The SOA answer carries `-ttl`; the SOA of a negative answer min(`-ttl`, `-min-ttl`), the
    /// time resolvers cache the denial (RFC 2308 §3). Both the fast and the general path.
    @Test(arguments: [
        // (-ttl, -min-ttl, SOA answer TTL, negative TTL)
        (UInt32(3600), UInt32(60), UInt32(3600), UInt32(60)),
        (300, 45, 300, 45),
        (30, 60, 30, 30),
    ])
    func soaTTLs(defaultTTL: UInt32, minTTL: UInt32, soaTTL: UInt32, negativeTTL: UInt32) throws {
        let snapshot = try rulesSnapshot([("/skydns/sohu/domeos/a/r", hostValue("10.0.0.1", ttl: 10))],
                                         zone: rulesZone(defaultTTL: defaultTTL, minTTL: minTTL))
        let asker = Asker()
        let soa = try asker.response(query("domeos.sohu.", .soa), snapshot: snapshot)
        #expect(soa.answers.map(\.ttl) == [soaTTL])
        if case .soa(let data) = soa.answers.first?.data { #expect(data.minimum == minTTL) }
        for (name, type) in [("nothere.domeos.sohu.", RecordType.a), ("a.domeos.sohu.", .aaaa),
                             ("nothere.domeos.sohu.", .srv), ("a.domeos.sohu.", .mx), ("domeos.sohu.", .ns)] {
            let negative = try asker.response(query(name, type), snapshot: snapshot)
            #expect(negative.answers.isEmpty)
            #expect(negative.message.authorities.map(\.ttl) == [negativeTTL], "\(name) \(type)")
        }
    }
}

@Suite struct RootDomainTests {
    static let records: [(String, String)] = [
        ("/skydns/local/private-registry/x", hostValue("10.7.0.1")),
        ("/skydns/local/mirror/x", hostValue("lb.example.net")),
        ("/skydns/local/broken/x", hostValue("nothing.example.net")),
        ("/skydns/arpa/in-addr/10/7/0/1", hostValue("private-registry.local")),
    ]

    /// `-domain=.`: every name is answered from etcd, authoritatively; a name etcd does not hold
    /// is NXDOMAIN under the root's SOA, and a CNAME target it does not hold is looked up
    /// upstream.
    @Test(arguments: [
        ("private-registry.local.", RecordType.a, ResponseCode.noError, ["private-registry.local. 3600 A 10.7.0.1"]),
        ("Private-Registry.LOCAL.", .a, .noError, ["Private-Registry.LOCAL. 3600 A 10.7.0.1"]),
        ("mirror.local.", .a, .noError, ["mirror.local. 30 CNAME lb.example.net.", "lb.example.net. 30 A 192.0.2.10"]),
        ("broken.local.", .a, .noError, []),
        ("local.", .a, .noError, ["local. 3600 A 10.7.0.1"]),
        ("example.com.", .a, .nxDomain, []),
        ("1.0.7.10.in-addr.arpa.", .ptr, .noError, ["1.0.7.10.in-addr.arpa. 3600 PTR private-registry.local."]),
        ("2.0.7.10.in-addr.arpa.", .ptr, .nxDomain, []),
        (".", .soa, .noError, [". 3600 SOA ns.dns. hostmaster. 60"]),
    ])
    func everyNameFromTheStore(name: String, type: RecordType, rcode: ResponseCode, answer: [String]) throws {
        let zone = try Zone(domain: ".")
        let snapshot = try rulesSnapshot(Self.records, zone: zone)
        let response = try upstreamAsker().response(query(name, type), snapshot: snapshot)
        #expect(response.rcode == rcode)
        #expect(response.header.isAuthoritative)
        #expect(response.answers.map(line) == answer)
        if answer.isEmpty {
            #expect(response.message.authorities.map(line) == [". 60 SOA ns.dns. hostmaster. 60"])
        }
    }

    /// A CNAME to a name etcd does not hold needs the upstreams: the responder hands it on.
    @Test func outsideTargetNeedsUpstream() throws {
        let snapshot = try rulesSnapshot(Self.records, zone: try Zone(domain: "."))
        let (outcome, _) = Asker().ask(query("mirror.local."), snapshot: snapshot)
        guard case .outOfZoneData = outcome else {
            Issue.record("expected outOfZoneData, got \(outcome)")
            return
        }
    }
}

@Suite struct AnswerSizeBoundTests {
    /// The walk for addresses goes only where the counts below each node show some of the
    /// family asked for: an A behind 8,192 AAAA is answered without visiting them.
    @Test func addressWalkSkipsOtherFamilies() throws {
        var records = (0..<AnswerBuilder.maxRecordsPerAnswer).map { index in
            ("/skydns/sohu/domeos/big/a/r\(index)", hostValue("2001:db8::\(String(index, radix: 16))"))
        }
        records.append(("/skydns/sohu/domeos/big/b/r", hostValue("10.0.0.1")))
        let snapshot = try rulesSnapshot(records, zone: rulesZone())
        let response = try Asker().response(query("big.domeos.sohu."), snapshot: snapshot, maxUDPSize: nil)
        #expect(response.rcode == .noError)
        #expect(response.addresses == ["10.0.0.1"])
        let direct = try Asker().response(query("b.big.domeos.sohu."), snapshot: snapshot)
        #expect(direct.addresses == ["10.0.0.1"])
    }
}

@Suite struct StubZoneTests {
    /// With `-stubzones`, names in a stub zone are handed on (to be forwarded to its servers)
    /// before anything else, as in SkyDNS: also when `-domain=.` makes every name ours.
    @Test(arguments: [
        (".", "www.example.com.", true),
        (".", "WWW.Example.COM.", true),
        (".", "example.com.", true),
        (".", "xexample.com.", false),
        (".", "private-registry.local.", false),
        ("domeos.sohu.", "a.sub.domeos.sohu.", true),
        ("domeos.sohu.", "www.example.com.", true),
        ("domeos.sohu.", "private-registry.domeos.sohu.", false),
    ])
    func stubZoneNamesAreHandedOn(domain: String, name: String, handedOn: Bool) throws {
        let zone = try Zone(domain: domain, stubZonesEnabled: true)
        let stub = zone.stubName.description.dropLast()
        let stubPath = stub.split(separator: ".").reversed().joined(separator: "/")
        let domainPath = domain == "." ? "" : "sohu/domeos/"
        let records = [
            ("/skydns/\(stubPath)/com/example/ns1", #"{"host":"127.0.0.1","port":5353}"#),
            ("/skydns/\(stubPath)/sohu/domeos/sub/ns1", #"{"host":"127.0.0.1","port":5354}"#),
            ("/skydns/\(domainPath)local/private-registry/x", hostValue("10.7.0.1")),
            ("/skydns/\(domainPath)private-registry/x", hostValue("10.7.0.2")),
        ]
        let snapshot = try rulesSnapshot(records, zone: zone)
        #expect(snapshot.stubZones.count == 2)
        let (outcome, _) = Asker().ask(query(name), snapshot: snapshot)
        switch outcome {
        case .outsideZone: #expect(handedOn)
        case .answered: #expect(!handedOn)
        default: Issue.record("unexpected \(outcome)")
        }
    }

    /// A stub zone listing many servers (duplicates from a controller, say) keeps the first
    /// `maxServers` in key order: each forwarded query carries the list.
    @Test func manyServersKeepTheFirst() throws {
        let zone = try Zone(domain: "domeos.sohu.", stubZonesEnabled: true)
        let stubPath = zone.stubName.description.dropLast().split(separator: ".").reversed().joined(separator: "/")
        let records = (0..<100).map { index in
            ("/skydns/\(stubPath)/com/example/ns\(1000 + index)", #"{"host":"127.0.0.1","port":"# + "\(5000 + index)}")
        }
        let snapshot = try rulesSnapshot(records, zone: zone)
        #expect(snapshot.stubZones.count == 1)
        #expect(snapshot.stubZones.first?.servers == (0..<StubZone.maxServers).map { "127.0.0.1:\(5000 + $0)" })
    }

    /// Past `StubZone.scanLimit` stub zones, a name is matched through the hash index: the same
    /// names are handed on as by the walk over every zone.
    @Test(arguments: [
        ("www.z7.org.", true),
        ("z7.org.", true),
        ("A.B.WWW.Z19.ORG.", true),
        ("xz7.org.", false),
        ("z7.org.example.", false),
        ("org.", false),
        ("a.sub.domeos.sohu.", true),
        ("private-registry.", false),
    ])
    func manyZonesAreIndexed(name: String, handedOn: Bool) throws {
        // `-domain=.`: every name is ours, so a name is handed on only for a stub zone.
        let zone = try Zone(domain: ".", stubZonesEnabled: true)
        let stubPath = zone.stubName.description.dropLast().split(separator: ".").reversed().joined(separator: "/")
        let records = (0..<20).map { ("/skydns/\(stubPath)/org/z\($0)/ns1", #"{"host":"127.0.0.1","port":5353}"#) }
            + [("/skydns/\(stubPath)/sohu/domeos/sub/ns1", #"{"host":"127.0.0.1","port":5354}"#),
               ("/skydns/private-registry/x", hostValue("10.7.0.2"))]
        let snapshot = try rulesSnapshot(records, zone: zone)
        #expect(snapshot.stubZones.count == 21)
        #expect(!snapshot.stubZonesByHash.isEmpty)
        let found = snapshot.stubZone(for: try DomainName(name))
        #expect((found != nil) == handedOn)
        if let found { #expect(try DomainName(name).isSubdomain(of: found.zone)) }
        let (outcome, _) = Asker().ask(query(name), snapshot: snapshot)
        switch outcome {
        case .outsideZone: #expect(handedOn)
        case .answered: #expect(!handedOn)
        default: Issue.record("unexpected \(outcome)")
        }
    }
}
