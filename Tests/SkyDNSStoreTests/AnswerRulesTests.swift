import DNSWire
import Testing
@testable import SkyDNSStore

// The answer rules that go beyond SkyDNS's lookups: aliases (one CNAME, never beside other data),
// the CNAME query, SRV weights, reverse names, casing inside RDATA, SOA TTLs, hidden etcd v2
// keys and `-domain=.`. Sections are compared as zone-file lines.

/// A record as a zone-file line (names as they are on the wire, casing included).
func line(_ record: ResourceRecord) -> String {
    let data: String
    switch record.data {
    case .a(let a): data = "A \(a)"
    case .aaaa(let aaaa): data = "AAAA \(aaaa)"
    case .cname(let r): data = "CNAME \(r.target)"
    case .ns(let r): data = "NS \(r.target)"
    case .ptr(let r): data = "PTR \(r.target)"
    case .mx(let r): data = "MX \(r.preference) \(r.exchange)"
    case .srv(let r): data = "SRV \(r.priority) \(r.weight) \(r.port) \(r.target)"
    case .txt(let r): data = "TXT \(r.strings.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " "))"
    case .soa(let r): data = "SOA \(r.mname) \(r.rname) \(r.minimum)"
    case .unknown(let type, _): data = "TYPE\(type.rawValue)"
    }
    return "\(record.name) \(record.ttl) \(data)"
}

/// Answers for names outside the domain, as an upstream would give them: nothing for most
/// names (NXDOMAIN or NODATA), and no answer at all (nil: a timeout) for `down.example.net`.
let fakeUpstream: ExternalResolver = { name, type in
    switch (name.lowercased().description, type) {
    case ("lb.example.net.", .a): [ResourceRecord(name: name, ttl: 30, data: .a(ARecord(bytes: [192, 0, 2, 10])))]
    case ("one.example.net.", .a): [ResourceRecord(name: name, ttl: 30, data: .a(ARecord(bytes: [192, 0, 2, 1])))]
    case ("two.example.net.", .a): [ResourceRecord(name: name, ttl: 30, data: .a(ARecord(bytes: [192, 0, 2, 2])))]
    case ("down.example.net.", _): nil
    default: []
    }
}

/// A synced store of `records`; `hidden` as the server sets it for etcd v2.
func rulesSnapshot(_ records: [(String, String)], zone: Zone, hidesUnderscoreLabels: Bool = false) throws -> Snapshot {
    let store = RecordStore(zone: zone, pathPrefix: "skydns", clock: { 1_000 })
    store.hidesUnderscoreLabels = hidesUnderscoreLabels
    let rejected = store.apply([.replaceAll(records.map { kv($0.0, $0.1) })])
    try #require(rejected.isEmpty, "fixture records rejected: \(rejected)")
    return store.publisher.current
}

func rulesZone(roundRobin: Bool = false, defaultTTL: UInt32 = 300, minTTL: UInt32 = 60) throws -> Zone {
    try Zone(domain: "domeos.sohu.", defaultTTL: defaultTTL, negativeTTL: minTTL, roundRobin: roundRobin)
}

/// An asker whose responder resolves outside names with `fakeUpstream`.
func upstreamAsker() -> Asker {
    let asker = Asker()
    asker.responder.external = fakeUpstream
    return asker
}

private let svc = "/skydns/sohu/domeos/svc/default/"

/// kube2sky's records: a service with a named port, a headless service with named ports.
let kube2skyRecords: [(String, String)] = [
    (svc + "kafka-svc-1/b56639fb", hostValue("172.16.50.1")),
    (svc + "web/h1", hostValue("10.1.0.1")),
    (svc + "web/h2", hostValue("10.1.0.2")),
]
let kube2skyHiddenRecords: [(String, String)] = [
    (svc + "kafka-svc-1/_tcp/_kafka/3a6f2c1e", #"{"host":"kafka-svc-1.default.svc.domeos.sohu","port":9092}"#),
    (svc + "web/_tcp/_http/h1", #"{"host":"h1.web.default.svc.domeos.sohu","port":8080}"#),
    (svc + "web/_tcp/_http/h2", #"{"host":"h2.web.default.svc.domeos.sohu","port":8080}"#),
    // A name that holds only hidden keys.
    ("/skydns/sohu/domeos/only/_tcp/_x/r", hostValue("10.5.5.5")),
]

@Suite struct HiddenKeyTests {
    /// etcd v2: whatever hidden `_` keys have been fetched on demand, a name that does not
    /// itself name their `_` labels gets the answer it gets without them.
    @Test(arguments: [
        "domeos.sohu.", "svc.domeos.sohu.", "default.svc.domeos.sohu.", "kafka-svc-1.default.svc.domeos.sohu.",
        "web.default.svc.domeos.sohu.", "*.default.svc.domeos.sohu.", "*.*.svc.domeos.sohu.", "only.domeos.sohu.",
        "h1.web.default.svc.domeos.sohu.", "x.only.domeos.sohu.",
    ], [RecordType.a, .aaaa, .srv, .cname, .txt, .mx, .any])
    func ancestorsIgnoreFetchedHiddenKeys(name: String, type: RecordType) throws {
        let zone = try rulesZone()
        let fetched = try rulesSnapshot(kube2skyRecords + kube2skyHiddenRecords, zone: zone, hidesUnderscoreLabels: true)
        let fresh = try rulesSnapshot(kube2skyRecords, zone: zone, hidesUnderscoreLabels: true)
        let after = try upstreamAsker().response(query(name, type), snapshot: fetched)
        let before = try upstreamAsker().response(query(name, type), snapshot: fresh)
        #expect(after.rcode == before.rcode)
        #expect(after.answers.map(line) == before.answers.map(line))
        #expect(after.message.authorities.map(line) == before.message.authorities.map(line))
        #expect(after.message.additionals.map(line) == before.message.additionals.map(line))
    }

    /// The hidden names themselves answer from their own keys; a `_` name above them is empty.
    @Test(arguments: [
        ("_kafka._tcp.kafka-svc-1.default.svc.domeos.sohu.", RecordType.srv, ResponseCode.noError,
         ["_kafka._tcp.kafka-svc-1.default.svc.domeos.sohu. 300 SRV 10 100 9092 kafka-svc-1.default.svc.domeos.sohu."]),
        ("_http._tcp.web.default.svc.domeos.sohu.", .srv, .noError,
         ["_http._tcp.web.default.svc.domeos.sohu. 300 SRV 10 50 8080 h1.web.default.svc.domeos.sohu.",
          "_http._tcp.web.default.svc.domeos.sohu. 300 SRV 10 50 8080 h2.web.default.svc.domeos.sohu."]),
        ("_x._tcp.only.domeos.sohu.", .a, .noError, ["_x._tcp.only.domeos.sohu. 300 A 10.5.5.5"]),
        ("r._x._tcp.only.domeos.sohu.", .a, .noError, ["r._x._tcp.only.domeos.sohu. 300 A 10.5.5.5"]),
        // etcd v2 lists `_tcp` without its hidden `_kafka`: nothing there.
        ("_tcp.kafka-svc-1.default.svc.domeos.sohu.", .srv, .nxDomain, []),
        ("_tcp.only.domeos.sohu.", .a, .nxDomain, []),
        ("*._tcp.only.domeos.sohu.", .a, .nxDomain, []),
    ])
    func hiddenNamesAnswerThemselves(name: String, type: RecordType, rcode: ResponseCode, answer: [String]) throws {
        let snapshot = try rulesSnapshot(kube2skyRecords + kube2skyHiddenRecords, zone: rulesZone(), hidesUnderscoreLabels: true)
        let response = try upstreamAsker().response(query(name, type), snapshot: snapshot)
        #expect(response.rcode == rcode)
        #expect(response.answers.map(line).sorted() == answer.sorted())
    }

    /// etcd v3 hides nothing: `_` keys are records like any other, as SkyDNS on v3 answers them.
    @Test func v3ShowsUnderscoreKeysToAncestors() throws {
        let snapshot = try rulesSnapshot(kube2skyRecords + kube2skyHiddenRecords, zone: rulesZone())
        let only = try Asker().response(query("only.domeos.sohu."), snapshot: snapshot)
        #expect(only.answers.map(line) == ["only.domeos.sohu. 300 A 10.5.5.5"])
        let srv = try Asker().response(query("kafka-svc-1.default.svc.domeos.sohu.", .srv), snapshot: snapshot)
        #expect(srv.answers.count == 2)
    }
}

@Suite struct AliasTests {
    static let records: [(String, String)] = kube2skyRecords + kube2skyHiddenRecords + [
        ("/skydns/sohu/domeos/registry/r1", hostValue("lb.example.net")),
        ("/skydns/sohu/domeos/upper/r1", hostValue("LB.Example.NET")),
        ("/skydns/sohu/domeos/alias/a", hostValue("one.example.net")),
        ("/skydns/sohu/domeos/alias/b", hostValue("two.example.net")),
        ("/skydns/sohu/domeos/alias/c", hostValue("one.example.net")),
        // Addresses and names mixed: the addresses (of either family) win.
        ("/skydns/sohu/domeos/mix/a", hostValue("10.9.0.1")),
        ("/skydns/sohu/domeos/mix/n", hostValue("lb.example.net")),
        ("/skydns/sohu/domeos/mix6/a", hostValue("2001:db8::9")),
        ("/skydns/sohu/domeos/mix6/n", hostValue("lb.example.net")),
        // In-domain chain: chain → registry → lb.example.net.
        ("/skydns/sohu/domeos/chain/r", hostValue("registry.domeos.sohu")),
        // SkyDNS's "double CNAME" test (a.mail2 MX → mx2, which holds two names).
        ("/skydns/sohu/domeos/mail2/a", #"{"host":"mx2.domeos.sohu","priority":50,"mail":true}"#),
        ("/skydns/sohu/domeos/mx2/a", #"{"host":"a.ipaddr.domeos.sohu","mail":true}"#),
        ("/skydns/sohu/domeos/mx2/b", #"{"host":"b.ipaddr.domeos.sohu","mail":true}"#),
        ("/skydns/sohu/domeos/ipaddr/a", hostValue("172.16.1.1")),
        ("/skydns/sohu/domeos/ipaddr/b", hostValue("172.16.1.2")),
        // Targets outside: one that has no address, one no upstream answers for, and a chain
        // through the domain to the latter; an SRV and an MX at the latter.
        ("/skydns/sohu/domeos/none/r", hostValue("none.example.net")),
        ("/skydns/sohu/domeos/down/r", hostValue("down.example.net")),
        ("/skydns/sohu/domeos/viadown/r", hostValue("down.domeos.sohu")),
        ("/skydns/sohu/domeos/srvdown/r", #"{"host":"down.example.net","port":80,"mail":true}"#),
    ]

    /// A CNAME whose target has no address (NXDOMAIN or NODATA upstream) is left out, as SkyDNS:
    /// NODATA. One whose target no upstream answered for is unknown, not absent: SERVFAIL
    /// without AA, never a denial resolvers would keep for the negative TTL. SRV and MX glue is
    /// optional: their targets are answered without addresses.
    @Test(arguments: [
        ("none.domeos.sohu.", RecordType.a, ResponseCode.noError, [String]()),
        ("down.domeos.sohu.", .a, .servFail, []),
        ("down.domeos.sohu.", .aaaa, .servFail, []),
        ("viadown.domeos.sohu.", .a, .servFail, []),
        ("down.domeos.sohu.", .cname, .noError, ["down.domeos.sohu. 300 CNAME down.example.net."]),
        ("srvdown.domeos.sohu.", .srv, .noError, ["srvdown.domeos.sohu. 300 SRV 10 100 80 down.example.net."]),
        ("srvdown.domeos.sohu.", .mx, .noError, ["srvdown.domeos.sohu. 300 MX 10 down.example.net."]),
    ])
    func outsideTargetUnanswered(name: String, type: RecordType, rcode: ResponseCode, expected: [String]) throws {
        let snapshot = try rulesSnapshot(Self.records, zone: rulesZone())
        let response = try upstreamAsker().response(query(name, type), snapshot: snapshot)
        #expect(response.rcode == rcode)
        #expect(response.header.isAuthoritative == (rcode != .servFail))
        #expect(response.answers.map(line) == expected)
        // The SOA of a denial only: none beside answers, none with SERVFAIL.
        #expect(response.message.authorities.isEmpty == (rcode == .servFail || !expected.isEmpty))
    }

    /// Round robin off, so the alias picked is the first in key order.
    @Test(arguments: [
        // A headless service with named ports (etcd v3): its two addresses, no CNAME.
        ("web.default.svc.domeos.sohu.", RecordType.a,
         ["web.default.svc.domeos.sohu. 300 A 10.1.0.1", "web.default.svc.domeos.sohu. 300 A 10.1.0.2"]),
        ("web.default.svc.domeos.sohu.", .cname, []),
        ("default.svc.domeos.sohu.", .a,
         ["default.svc.domeos.sohu. 300 A 172.16.50.1", "default.svc.domeos.sohu. 300 A 10.1.0.1",
          "default.svc.domeos.sohu. 300 A 10.1.0.2"]),
        ("mix.domeos.sohu.", .a, ["mix.domeos.sohu. 300 A 10.9.0.1"]),
        ("mix.domeos.sohu.", .cname, []),
        // An IPv6 address makes the name no alias: A is NODATA, not a CNAME beside the AAAA.
        ("mix6.domeos.sohu.", .a, []),
        ("mix6.domeos.sohu.", .aaaa, ["mix6.domeos.sohu. 300 AAAA 2001:db8::9"]),
        ("mix6.domeos.sohu.", .cname, []),
        // Names only: one CNAME, whatever the number of keys.
        // Several records share the smallest TTL among them, as in SkyDNS.
        ("registry.domeos.sohu.", .a, ["registry.domeos.sohu. 30 CNAME lb.example.net.", "lb.example.net. 30 A 192.0.2.10"]),
        ("registry.domeos.sohu.", .cname, ["registry.domeos.sohu. 300 CNAME lb.example.net."]),
        ("alias.domeos.sohu.", .a, ["alias.domeos.sohu. 30 CNAME one.example.net.", "one.example.net. 30 A 192.0.2.1"]),
        ("alias.domeos.sohu.", .cname, ["alias.domeos.sohu. 300 CNAME one.example.net."]),
        ("chain.domeos.sohu.", .a, ["chain.domeos.sohu. 30 CNAME registry.domeos.sohu.",
                                    "registry.domeos.sohu. 30 CNAME lb.example.net.", "lb.example.net. 30 A 192.0.2.10"]),
        ("chain.domeos.sohu.", .cname, ["chain.domeos.sohu. 300 CNAME registry.domeos.sohu."]),
        ("mx2.domeos.sohu.", .cname, ["mx2.domeos.sohu. 300 CNAME a.ipaddr.domeos.sohu."]),
        // A named port's name (v3) is an alias of its service.
        ("_kafka._tcp.kafka-svc-1.default.svc.domeos.sohu.", .cname,
         ["_kafka._tcp.kafka-svc-1.default.svc.domeos.sohu. 300 CNAME kafka-svc-1.default.svc.domeos.sohu."]),
        ("kafka-svc-1.default.svc.domeos.sohu.", .a, ["kafka-svc-1.default.svc.domeos.sohu. 300 A 172.16.50.1"]),
    ])
    func answers(name: String, type: RecordType, expected: [String]) throws {
        let snapshot = try rulesSnapshot(Self.records, zone: rulesZone())
        let response = try upstreamAsker().response(query(name, type), snapshot: snapshot)
        #expect(response.rcode == .noError)
        #expect(response.header.isAuthoritative)
        #expect(response.answers.map(line).sorted() == expected.sorted())
    }

    /// A CNAME query answers exactly the CNAME the A query starts with, query after query.
    @Test(arguments: ["registry.domeos.sohu.", "alias.domeos.sohu.", "chain.domeos.sohu.", "mx2.domeos.sohu.",
                      "web.default.svc.domeos.sohu.", "mix.domeos.sohu."])
    func cnameQueryMatchesAddressQuery(name: String) throws {
        let snapshot = try rulesSnapshot(Self.records, zone: rulesZone(roundRobin: true))
        for _ in 0..<4 {
            let address = try upstreamAsker().response(query(name), snapshot: snapshot)
            let cname = try upstreamAsker().response(query(name, .cname), snapshot: snapshot)
            let shown = address.answers.filter { $0.type == .cname && $0.name == dname(name) }
            #expect(shown.count <= 1)
            // The same record; its TTL in the A answer is the smallest of that answer's.
            #expect(cname.answers.map(\.data) == shown.map(\.data))
            #expect(cname.answers.map(\.name) == shown.map(\.name))
        }
    }

    /// Never two CNAMEs at one owner, and never a CNAME beside other data at its owner, in any
    /// section, with round robin on or off, over several queries.
    @Test(arguments: [true, false])
    func oneCNAMEPerOwnerAndNothingBesideIt(roundRobin: Bool) throws {
        let snapshot = try rulesSnapshot(Self.records, zone: rulesZone(roundRobin: roundRobin))
        let asker = upstreamAsker()
        for name in ["registry", "alias", "chain", "mx2", "mix", "mix6", "a.mail2", "mail2", "default.svc", "svc", ""] {
            for type in [RecordType.a, .aaaa, .mx, .srv, .cname] {
                let qname = name.isEmpty ? "domeos.sohu." : "\(name).domeos.sohu."
                for _ in 0..<3 {
                    let response = try asker.response(query(qname, type), snapshot: snapshot)
                    for section in [response.answers, response.message.additionals] {
                        for owner in Set(section.map { $0.name.lowercased() }) {
                            let records = section.filter { $0.name.lowercased() == owner }
                            let cnames = records.filter { $0.type == .cname }
                            #expect(cnames.count <= 1, "\(qname) \(type): two CNAMEs at \(owner)")
                            #expect(cnames.isEmpty || records.count == 1, "\(qname) \(type): a CNAME beside data at \(owner)")
                        }
                    }
                }
            }
        }
    }

    /// SkyDNS's own case: one CNAME for mx2 in additional, followed by its target's address.
    @Test func mailTargetWithTwoNamesGetsOneCNAME() throws {
        let snapshot = try rulesSnapshot(Self.records, zone: rulesZone())
        let response = try upstreamAsker().response(query("a.mail2.domeos.sohu.", .mx), snapshot: snapshot)
        #expect(response.answers.map(line) == ["a.mail2.domeos.sohu. 300 MX 50 mx2.domeos.sohu."])
        #expect(response.message.additionals.map(line) == ["mx2.domeos.sohu. 300 CNAME a.ipaddr.domeos.sohu.",
                                                           "a.ipaddr.domeos.sohu. 300 A 172.16.1.1"])
    }

    /// The headless service's addresses rotate with round robin (both come first in turn).
    @Test func headlessServiceRotates() throws {
        let snapshot = try rulesSnapshot(Self.records, zone: rulesZone(roundRobin: true))
        let asker = upstreamAsker()
        var first: Set<String> = []
        for _ in 0..<6 {
            let response = try asker.response(query("web.default.svc.domeos.sohu."), snapshot: snapshot)
            #expect(Set(response.addresses) == ["10.1.0.1", "10.1.0.2"])
            #expect(response.answers.allSatisfy { $0.type == .a })
            first.insert(response.addresses[0])
        }
        #expect(first == ["10.1.0.1", "10.1.0.2"])
    }

    /// Several names and round robin: each of them is the one CNAME in turn.
    @Test func aliasTargetsRotate() throws {
        let snapshot = try rulesSnapshot(Self.records, zone: rulesZone(roundRobin: true))
        let asker = upstreamAsker()
        var targets: Set<String> = []
        for _ in 0..<6 {
            let response = try asker.response(query("alias.domeos.sohu."), snapshot: snapshot)
            #expect(response.answers.count == 2)
            if case .cname(let cname) = response.answers.first?.data { targets.insert(cname.target.description) }
        }
        #expect(targets == ["one.example.net.", "two.example.net."])
    }
}

@Suite struct AliasFanOutTests {
    /// Each name of a chain holds eight keys naming eight names of the next level: one CNAME is
    /// followed per name, so the answer is the one chain of seven CNAMEs and its address (a CNAME
    /// per key would have meant 8^7 look-ups for one query).
    @Test func oneCNAMEFollowedPerName() throws {
        var records: [(String, String)] = []
        for level in 0..<7 {
            for name in 0..<8 {
                for key in 0..<8 {
                    records.append(("/skydns/sohu/domeos/f\(level)/x\(name)/k\(key)", hostValue("x\(key).f\(level + 1).domeos.sohu")))
                }
            }
        }
        for name in 0..<8 { records.append(("/skydns/sohu/domeos/f7/x\(name)/r", hostValue("10.0.7.\(name)"))) }
        let snapshot = try rulesSnapshot(records, zone: rulesZone())
        let response = try Asker().response(query("x0.f0.domeos.sohu."), snapshot: snapshot)
        #expect(response.answers.map(line) == (0..<7).map { "x0.f\($0).domeos.sohu. 300 CNAME x0.f\($0 + 1).domeos.sohu." }
            + ["x0.f7.domeos.sohu. 300 A 10.0.7.0"])
    }
}

@Suite struct DuplicateValueTests {
    /// The same value under two keys with different TTLs (an operator's copy of a record):
    /// answered once by every path, with the smaller TTL whichever key a walk meets first, and
    /// a target's addresses in additional share one TTL, the one its own A answer gives them.
    static let records: [(String, String)] = [
        ("/skydns/sohu/domeos/plain/a", hostValue("10.6.0.1", ttl: 60)),
        ("/skydns/sohu/domeos/plain/b", hostValue("10.6.0.1", ttl: 30)),
        ("/skydns/sohu/domeos/grouped/a", #"{"host":"10.6.0.1","ttl":60,"group":"g"}"#),
        ("/skydns/sohu/domeos/grouped/b", #"{"host":"10.6.0.1","ttl":30,"group":"g"}"#),
        ("/skydns/sohu/domeos/w/x/a", hostValue("10.6.0.2", ttl: 60)),
        ("/skydns/sohu/domeos/w/y/b", hostValue("10.6.0.2", ttl: 30)),
        ("/skydns/sohu/domeos/txt/a", #"{"text":"v=1","ttl":60}"#),
        ("/skydns/sohu/domeos/txt/b", #"{"text":"v=1","ttl":30}"#),
        ("/skydns/sohu/domeos/tgt/a", hostValue("10.40.0.1", ttl: 30)),
        ("/skydns/sohu/domeos/tgt/b", hostValue("10.40.0.2", ttl: 60)),
        ("/skydns/sohu/domeos/tgt/c", hostValue("10.40.0.2", ttl: 90)),
        ("/skydns/sohu/domeos/named/a", #"{"host":"tgt.domeos.sohu","port":80}"#),
        ("/skydns/sohu/domeos/mail/a", #"{"host":"tgt.domeos.sohu","mail":true}"#),
        ("/skydns/sohu/domeos/alias/a", hostValue("grouped.domeos.sohu")),
    ]

    @Test(arguments: [
        ("plain.domeos.sohu.", RecordType.a, ["plain.domeos.sohu. 30 A 10.6.0.1"], [String]()),
        ("w.domeos.sohu.", .a, ["w.domeos.sohu. 30 A 10.6.0.2"], []),
        ("grouped.domeos.sohu.", .a, ["grouped.domeos.sohu. 30 A 10.6.0.1"], []),
        ("*.w.domeos.sohu.", .a, ["*.w.domeos.sohu. 30 A 10.6.0.2"], []),
        ("txt.domeos.sohu.", .txt, ["txt.domeos.sohu. 30 TXT v=1"], []),
        ("alias.domeos.sohu.", .a, ["alias.domeos.sohu. 30 CNAME grouped.domeos.sohu.", "grouped.domeos.sohu. 30 A 10.6.0.1"], []),
        ("tgt.domeos.sohu.", .a, ["tgt.domeos.sohu. 30 A 10.40.0.1", "tgt.domeos.sohu. 30 A 10.40.0.2"], []),
        ("named.domeos.sohu.", .srv, ["named.domeos.sohu. 300 SRV 10 100 80 tgt.domeos.sohu."],
         ["tgt.domeos.sohu. 30 A 10.40.0.1", "tgt.domeos.sohu. 30 A 10.40.0.2"]),
        ("mail.domeos.sohu.", .mx, ["mail.domeos.sohu. 300 MX 10 tgt.domeos.sohu."],
         ["tgt.domeos.sohu. 30 A 10.40.0.1", "tgt.domeos.sohu. 30 A 10.40.0.2"]),
    ])
    func answeredOnce(name: String, type: RecordType, answers: [String], additionals: [String]) throws {
        let snapshot = try rulesSnapshot(Self.records, zone: rulesZone())
        let response = try Asker().response(query(name, type), snapshot: snapshot)
        #expect(response.rcode == .noError)
        #expect(response.answers.map(line) == answers)
        #expect(response.message.additionals.map(line).sorted() == additionals)
    }
}
