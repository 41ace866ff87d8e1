import DNSWire
import Testing

// The record-semantics table: every answer SkyDNS gives, as one query and the reply it must get.
// Records: SemanticsFixture.swift. Sections are compared as sorted lists of zone-file lines, so
// order does not matter (round robin) but duplicates do. SkyDNSStoreTests answers every case in
// process; SkyDNSServerTests asks the `endToEnd` ones of real servers reading a real etcd.

/// One query and the reply it must get.
public struct SemanticsCase: Sendable, CustomTestStringConvertible {
    public var name: String
    public var server: ServerName
    public var qname: String
    public var qtype: RecordType
    public var qclass: RecordClass
    public var transport: QueryTransport
    public var rcode: ResponseCode
    public var answer: [String]
    public var authority: [String]
    public var additional: [String]
    public var aa: Bool
    /// Also asked of real servers over real sockets (a representative of each path through them).
    public var endToEnd: Bool

    public init(name: String, server: ServerName = .main, qname: String, qtype: RecordType, qclass: RecordClass = .in,
                transport: QueryTransport = .udp, rcode: ResponseCode = .noError, answer: [String] = [],
                authority: [String] = [], additional: [String] = [], aa: Bool = true, endToEnd: Bool = false) {
        self.name = name
        self.server = server
        self.qname = qname
        self.qtype = qtype
        self.qclass = qclass
        self.transport = transport
        self.rcode = rcode
        self.answer = answer
        self.authority = authority
        self.additional = additional
        self.aa = aa
        self.endToEnd = endToEnd
    }

    public var testDescription: String { name }

    /// Records an issue for each way `message` is not this case's reply: rcode, AA, TC set, RA set
    /// (every server of the table runs with `-no-rec`), a section's records (in any order), an OPT
    /// record (the table's queries carry none).
    public func check(_ message: Message, sourceLocation: SourceLocation = #_sourceLocation) {
        func sorted(_ records: [ResourceRecord]) -> [String] { records.map(presentation).sorted() }
        #expect(message.header.responseCode == rcode, sourceLocation: sourceLocation)
        #expect(message.header.isAuthoritative == aa, "AA", sourceLocation: sourceLocation)
        #expect(!message.header.isTruncated, "TC", sourceLocation: sourceLocation)
        #expect(!message.header.recursionAvailable, "RA with -no-rec", sourceLocation: sourceLocation)
        #expect(sorted(message.answers) == answer.sorted(), "answer section", sourceLocation: sourceLocation)
        #expect(sorted(message.authorities) == authority.sorted(), "authority section", sourceLocation: sourceLocation)
        #expect(sorted(message.additionals) == additional.sorted(), "additional section", sourceLocation: sourceLocation)
        #expect(message.edns == nil, "no OPT in a reply to a query without one", sourceLocation: sourceLocation)
    }
}

/// The SOA of a negative answer: TTL min(-ttl, -min-ttl) (RFC 2308 §3).
let soaMain = "skydns.test. 45 IN SOA ns.dns.skydns.test. hostmaster.skydns.test. SERIAL 28800 7200 604800 45"
let soaOther = "other.test. 60 IN SOA ns.dns.other.test. hostmaster.other.test. SERIAL 28800 7200 604800 60"

func nodata(_ name: String, _ qname: String, _ qtype: RecordType, server: ServerName = .main,
            endToEnd: Bool = false) -> SemanticsCase {
    SemanticsCase(name: name, server: server, qname: qname, qtype: qtype, authority: [server == .main ? soaMain : soaOther],
         endToEnd: endToEnd)
}

func nxdomain(_ name: String, _ qname: String, _ qtype: RecordType, server: ServerName = .main,
              endToEnd: Bool = false) -> SemanticsCase {
    SemanticsCase(name: name, server: server, qname: qname, qtype: qtype, rcode: .nxDomain,
         authority: [server == .main ? soaMain : soaOther], endToEnd: endToEnd)
}

public let semanticsCases: [SemanticsCase] = [
    // SRV
    SemanticsCase(name: "SRV: IP hosts get targets named after their keys and A/AAAA glue; weight 100/0/100 → 33 each, priority 0 → 10",
         qname: "a.svc.skydns.test.", qtype: .srv,
         answer: ["a.svc.skydns.test. 300 IN SRV 10 33 8080 x1.a.svc.skydns.test.",
                  "a.svc.skydns.test. 300 IN SRV 10 33 8080 x2.a.svc.skydns.test.",
                  "a.svc.skydns.test. 300 IN SRV 10 33 8080 x3.a.svc.skydns.test."],
         additional: ["x1.a.svc.skydns.test. 300 IN A 10.0.1.1",
                      "x2.a.svc.skydns.test. 300 IN A 10.0.1.2",
                      "x3.a.svc.skydns.test. 300 IN AAAA 2001:db8::3"]),
    SemanticsCase(name: "SRV over TCP: same answer", qname: "a.svc.skydns.test.", qtype: .srv, transport: .tcp,
         answer: ["a.svc.skydns.test. 300 IN SRV 10 33 8080 x1.a.svc.skydns.test.",
                  "a.svc.skydns.test. 300 IN SRV 10 33 8080 x2.a.svc.skydns.test.",
                  "a.svc.skydns.test. 300 IN SRV 10 33 8080 x3.a.svc.skydns.test."],
         additional: ["x1.a.svc.skydns.test. 300 IN A 10.0.1.1",
                      "x2.a.svc.skydns.test. 300 IN A 10.0.1.2",
                      "x3.a.svc.skydns.test. 300 IN AAAA 2001:db8::3"], endToEnd: true),
    SemanticsCase(name: "SRV: weights 130/80/150 → 36/22/41 within a priority; a priority alone → 100",
         qname: "w.skydns.test.", qtype: .srv,
         answer: ["w.skydns.test. 300 IN SRV 10 36 80 w1.w.skydns.test.",
                  "w.skydns.test. 300 IN SRV 10 22 80 w2.w.skydns.test.",
                  "w.skydns.test. 300 IN SRV 10 41 80 w3.w.skydns.test.",
                  "w.skydns.test. 300 IN SRV 20 100 81 w4.w.skydns.test."],
         additional: ["w1.w.skydns.test. 300 IN A 10.0.2.1", "w2.w.skydns.test. 300 IN A 10.0.2.2",
                      "w3.w.skydns.test. 300 IN A 10.0.2.3", "w4.w.skydns.test. 300 IN A 10.0.2.4"]),
    SemanticsCase(name: "SRV: a name host is the target, its in-domain addresses in additional",
         qname: "named.skydns.test.", qtype: .srv,
         answer: ["named.skydns.test. 300 IN SRV 10 100 5432 db.skydns.test."],
         additional: ["db.skydns.test. 300 IN A 10.0.3.1", "db.skydns.test. 300 IN AAAA 2001:db8::31"]),
    SemanticsCase(name: "SRV: targetstrip 1 drops the key's first label from the target (and its glue)",
         qname: "strip.skydns.test.", qtype: .srv,
         answer: ["strip.skydns.test. 300 IN SRV 10 100 443 y.x.strip.skydns.test."],
         additional: ["y.x.strip.skydns.test. 300 IN A 10.0.4.1"]),
    SemanticsCase(name: "SRV: a name host outside the domain with -no-rec: the SRV without glue",
         qname: "ext.skydns.test.", qtype: .srv,
         answer: ["ext.skydns.test. 300 IN SRV 10 100 80 www.example.org."]),

    // CNAME
    SemanticsCase(name: "CNAME: A for a name host gives the CNAME and the target's A",
         qname: "web.skydns.test.", qtype: .a,
         answer: ["web.skydns.test. 300 IN CNAME db.skydns.test.", "db.skydns.test. 300 IN A 10.0.3.1"],
         endToEnd: true),
    SemanticsCase(name: "CNAME: AAAA for a name host gives the CNAME and the target's AAAA",
         qname: "web.skydns.test.", qtype: .aaaa,
         answer: ["web.skydns.test. 300 IN CNAME db.skydns.test.", "db.skydns.test. 300 IN AAAA 2001:db8::31"]),
    nodata("CNAME: a loop loop1 → loop2 → loop1 gives no CNAME (NODATA)", "loop1.skydns.test.", .a),
    SemanticsCase(name: "CNAME: a chain of 7 CNAMEs is followed to the address",
         qname: "ch2.skydns.test.", qtype: .a,
         answer: (2...8).map { "ch\($0).skydns.test. 300 IN CNAME ch\($0 + 1).skydns.test." }
             + ["ch9.skydns.test. 300 IN A 10.0.5.9"]),
    nodata("CNAME: a chain needing 8 CNAMEs is cut (NODATA)", "ch1.skydns.test.", .a),
    SemanticsCase(name: "CNAME: a host equal to the query name is skipped, the rest answers",
         qname: "self.skydns.test.", qtype: .a, answer: ["self.skydns.test. 300 IN A 10.0.6.1"]),
    nodata("CNAME: a target with nothing is dropped (NODATA)", "dangling.skydns.test.", .a),
    nodata("CNAME: a name host outside the domain with -no-rec cannot be completed (NODATA)", "ext.skydns.test.", .a),
    SemanticsCase(name: "CNAME query at the exact key", qname: "c1.web.skydns.test.", qtype: .cname,
         answer: ["c1.web.skydns.test. 300 IN CNAME db.skydns.test."]),
    SemanticsCase(name: "CNAME query on a directory: the CNAME the A query starts with", qname: "web.skydns.test.", qtype: .cname,
         answer: ["web.skydns.test. 300 IN CNAME db.skydns.test."]),
    nodata("CNAME query for a name with addresses: NODATA (its name hosts are no aliases)", "self.skydns.test.", .cname),
    SemanticsCase(name: "Headless service with named ports (v3): its addresses, no CNAME", qname: "hl.skydns.test.", qtype: .a,
         answer: ["hl.skydns.test. 300 IN A 10.0.16.1", "hl.skydns.test. 300 IN A 10.0.16.2"]),
    SemanticsCase(name: "Headless service's named port: SRV to the endpoints, their addresses in additional",
         qname: "_http._tcp.hl.skydns.test.", qtype: .srv,
         answer: ["_http._tcp.hl.skydns.test. 300 IN SRV 10 50 8080 h1.hl.skydns.test.",
                  "_http._tcp.hl.skydns.test. 300 IN SRV 10 50 8080 h2.hl.skydns.test."],
         additional: ["h1.hl.skydns.test. 300 IN A 10.0.16.1", "h2.hl.skydns.test. 300 IN A 10.0.16.2"],
         endToEnd: true),
    SemanticsCase(name: "MX target holding two names (SkyDNS's double-CNAME case): one CNAME, the first, and its target's address",
         server: .other, qname: "a.mail2.other.test.", qtype: .mx,
         answer: ["a.mail2.other.test. 3600 IN MX 50 mx2.other.test."],
         additional: ["mx2.other.test. 3600 IN CNAME a.ipaddr.other.test.", "a.ipaddr.other.test. 3600 IN A 10.3.2.1"],
         endToEnd: true),
    SemanticsCase(name: "SRV weights: 101 endpoints of weight 10 each get 1, not 0", qname: "many.srv.skydns.test.", qtype: .srv,
         transport: .tcp,
         answer: (0..<101).map { "many.srv.skydns.test. 300 IN SRV 10 1 80 e\($0).many.srv.skydns.test." },
         additional: (0..<101).map { "e\($0).many.srv.skydns.test. 300 IN A 10.4.\($0 / 250).\($0 % 250 + 1)" }),

    // TXT
    SemanticsCase(name: "TXT: every record below the name with text", qname: "txt.skydns.test.", qtype: .txt,
         answer: [#"txt.skydns.test. 300 IN TXT "hello world""#, #"txt.skydns.test. 300 IN TXT "v=spf1 -all""#]),
    SemanticsCase(name: "TXT: a text-only record makes no CNAME for A", qname: "txt.skydns.test.", qtype: .a,
         answer: ["txt.skydns.test. 300 IN A 10.0.14.1"]),
    nodata("TXT: a directory of text-only records answers A with NODATA", "onlytxt.skydns.test.", .a),
    SemanticsCase(name: "TXT: a 300-byte text is split into strings of 255 and 45", qname: "longtxt.skydns.test.", qtype: .txt,
         answer: ["longtxt.skydns.test. 300 IN TXT \"\(longText.prefix(255))\" \"\(longText.dropFirst(255))\""],
         endToEnd: true),

    // MX
    SemanticsCase(name: "MX: records with mail: true, preference = priority (0 → 10), addresses in additional",
         qname: "mail.skydns.test.", qtype: .mx,
         answer: ["mail.skydns.test. 300 IN MX 5 m1.mail.skydns.test.", "mail.skydns.test. 300 IN MX 10 db.skydns.test."],
         additional: ["m1.mail.skydns.test. 300 IN A 10.0.7.1", "db.skydns.test. 300 IN A 10.0.3.1",
                      "db.skydns.test. 300 IN AAAA 2001:db8::31"]),
    nodata("MX: no mail records below the name: NODATA", "svc.skydns.test.", .mx),

    // PTR
    // PTR as SkyDNS answers it: without AA (no SOA is held for reverse zones); a missing one is forwarded.
    SemanticsCase(name: "PTR: in-addr.arpa from /skydns/arpa/in-addr/10/0/0/127", qname: "127.0.0.10.in-addr.arpa.", qtype: .ptr,
         answer: ["127.0.0.10.in-addr.arpa. 300 IN PTR reverse.skydns.test."], aa: false, endToEnd: true),
    SemanticsCase(name: "PTR: ip6.arpa from /skydns/arpa/ip6/…",
         qname: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", qtype: .ptr,
         answer: ["1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR v6host.skydns.test."],
         aa: false),
    SemanticsCase(name: "PTR: a reverse name we do not hold is not ours: REFUSED with -no-rec",
         qname: "99.0.0.10.in-addr.arpa.", qtype: .ptr, rcode: .refused, aa: false, endToEnd: true),

    // NS and SOA
    SemanticsCase(name: "NS at the apex from dns/ns/a, its address in additional", qname: "skydns.test.", qtype: .ns,
         answer: ["skydns.test. 300 IN NS a.ns.dns.skydns.test."], additional: ["a.ns.dns.skydns.test. 300 IN A 10.0.0.53"]),
    SemanticsCase(name: "SOA at the apex: TTL -ttl, mname ns.dns, rname hostmaster.<domain>, SkyDNS timers, minimum = -min-ttl",
         qname: "skydns.test.", qtype: .soa,
         answer: ["skydns.test. 300 IN SOA ns.dns.skydns.test. hostmaster.skydns.test. SERIAL 28800 7200 604800 45"]),
    SemanticsCase(name: "SOA at the apex asked in capitals: the owner echoes the question, mname and rname stay as configured",
         qname: "SKYDNS.TEST.", qtype: .soa,
         answer: ["SKYDNS.TEST. 300 IN SOA ns.dns.skydns.test. hostmaster.skydns.test. SERIAL 28800 7200 604800 45"],
         endToEnd: true),
    nodata("NS at an apex with no ns.dns records: NODATA (SkyDNS said NXDOMAIN)", "other.test.", .ns, server: .other),
    nodata("SOA below the apex: NODATA", "svc.skydns.test.", .soa),
    nodata("NS below the apex: NODATA", "svc.skydns.test.", .ns),
    SemanticsCase(name: "The name server's own name answers its address", qname: "ns.dns.skydns.test.", qtype: .a,
         answer: ["ns.dns.skydns.test. 300 IN A 10.0.0.53"]),

    // Wildcards
    SemanticsCase(name: "Wildcard *.svc: every record below any child of svc, owned by the query name",
         qname: "*.svc.skydns.test.", qtype: .a,
         answer: ["*.svc.skydns.test. 300 IN A 10.0.1.1", "*.svc.skydns.test. 300 IN A 10.0.1.2",
                  "*.svc.skydns.test. 300 IN A 10.0.1.11"]),
    SemanticsCase(name: "Wildcard *.svc SRV", qname: "*.svc.skydns.test.", qtype: .srv,
         answer: ["*.svc.skydns.test. 300 IN SRV 10 25 8080 x1.a.svc.skydns.test.",
                  "*.svc.skydns.test. 300 IN SRV 10 25 8080 x2.a.svc.skydns.test.",
                  "*.svc.skydns.test. 300 IN SRV 10 25 8080 x3.a.svc.skydns.test.",
                  "*.svc.skydns.test. 300 IN SRV 10 25 9090 y1.b.svc.skydns.test."],
         additional: ["x1.a.svc.skydns.test. 300 IN A 10.0.1.1", "x2.a.svc.skydns.test. 300 IN A 10.0.1.2",
                      "x3.a.svc.skydns.test. 300 IN AAAA 2001:db8::3", "y1.b.svc.skydns.test. 300 IN A 10.0.1.11"],
         endToEnd: true),
    SemanticsCase(name: "Wildcard in the middle: a.*", qname: "a.*.skydns.test.", qtype: .a,
         answer: ["a.*.skydns.test. 300 IN A 10.0.1.1", "a.*.skydns.test. 300 IN A 10.0.1.2"]),
    SemanticsCase(name: "Wildcard label any: a.any", qname: "a.any.skydns.test.", qtype: .a,
         answer: ["a.any.skydns.test. 300 IN A 10.0.1.1", "a.any.skydns.test. 300 IN A 10.0.1.2"]),
    nxdomain("Wildcard below a name that does not exist: NXDOMAIN", "*.nothere.skydns.test.", .a),
    nxdomain("Wildcard that matches no child: NXDOMAIN", "zz.*.skydns.test.", .a),

    // Groups
    SemanticsCase(name: "Groups: g1 at the shallowest depth wins; g1 and ungrouped records answer, g2 does not",
         qname: "grp.skydns.test.", qtype: .a,
         answer: ["grp.skydns.test. 300 IN A 10.0.8.1", "grp.skydns.test. 300 IN A 10.0.8.3",
                  "grp.skydns.test. 300 IN A 10.0.8.4"], endToEnd: true),
    SemanticsCase(name: "Groups: SRV filtered the same way", qname: "grp.skydns.test.", qtype: .srv,
         answer: ["grp.skydns.test. 300 IN SRV 10 33 0 r1.grp.skydns.test.",
                  "grp.skydns.test. 300 IN SRV 10 33 0 r3.sub.grp.skydns.test.",
                  "grp.skydns.test. 300 IN SRV 10 33 0 r4.sub.grp.skydns.test."],
         additional: ["r1.grp.skydns.test. 300 IN A 10.0.8.1", "r3.sub.grp.skydns.test. 300 IN A 10.0.8.3",
                      "r4.sub.grp.skydns.test. 300 IN A 10.0.8.4"]),
    SemanticsCase(name: "Groups: g1 and g2 disagree at the shallowest depth: all answer",
         qname: "sub.grp.skydns.test.", qtype: .a,
         answer: ["sub.grp.skydns.test. 300 IN A 10.0.8.2", "sub.grp.skydns.test. 300 IN A 10.0.8.3",
                  "sub.grp.skydns.test. 300 IN A 10.0.8.4"]),
    SemanticsCase(name: "Groups: a deeper record of another group is left out (mismatch)", qname: "grp2.skydns.test.", qtype: .a,
         answer: ["grp2.skydns.test. 300 IN A 10.0.9.1"]),

    // TTLs
    SemanticsCase(name: "TTL: the record's own ttl", qname: "one.ttl.skydns.test.", qtype: .a,
         answer: ["one.ttl.skydns.test. 42 IN A 10.0.10.1"]),
    SemanticsCase(name: "TTL: no ttl → -ttl (300)", qname: "none.ttl.skydns.test.", qtype: .a,
         answer: ["none.ttl.skydns.test. 300 IN A 10.0.10.2"]),
    SemanticsCase(name: "TTL: several records all get the smallest (120, 77, none → 77)", qname: "many.ttl.skydns.test.", qtype: .a,
         answer: ["many.ttl.skydns.test. 77 IN A 10.0.10.3", "many.ttl.skydns.test. 77 IN A 10.0.10.4",
                  "many.ttl.skydns.test. 77 IN A 10.0.10.5"]),
    SemanticsCase(name: "TTL: several records with ttls above -ttl are capped by it", qname: "big.ttl.skydns.test.", qtype: .a,
         answer: ["big.ttl.skydns.test. 300 IN A 10.0.10.6", "big.ttl.skydns.test. 300 IN A 10.0.10.7"]),
    // -min-ttl is the SOA minimum and negative TTL, not a floor for record TTLs: SkyDNS did not
    // raise them, and the core acceptance answers ttl 30 under the default -min-ttl of 60.
    SemanticsCase(name: "TTL: a record TTL below -min-ttl is kept (ttl 5 with -min-ttl 45 → 5), as in SkyDNS",
         qname: "low.ttl.skydns.test.", qtype: .a, answer: ["low.ttl.skydns.test. 5 IN A 10.0.10.8"]),
    SemanticsCase(name: "TTL: no ttl on the other server → default -ttl 3600", server: .other, qname: "host.other.test.", qtype: .a,
         answer: ["host.other.test. 3600 IN A 10.3.1.1"], endToEnd: true),

    // ANY, unknown types, classes
    SemanticsCase(name: "ANY: one synthesized HINFO RFC8482", qname: "svc.skydns.test.", qtype: .any,
         answer: [#"svc.skydns.test. 300 IN HINFO "RFC8482" """#], endToEnd: true),
    nxdomain("ANY for a name that does not exist: NXDOMAIN", "nothere.skydns.test.", .any),
    nodata("Unknown type 99 at an existing name: NODATA", "svc.skydns.test.", RecordType(99)),
    nxdomain("Unknown type 99 at a missing name: NXDOMAIN", "nothere.skydns.test.", RecordType(99)),
    SemanticsCase(name: "CHAOS version.bind TXT", qname: "version.bind.", qtype: .txt, qclass: RecordClass(rawValue: 3),
         answer: [#"version.bind. 0 CH TXT "swift-skydns""#], endToEnd: true),
    SemanticsCase(name: "CHAOS other names: REFUSED", qname: "foo.bind.", qtype: .txt, qclass: RecordClass(rawValue: 3),
         rcode: .refused, aa: false),
    SemanticsCase(name: "Class ANY (255): REFUSED", qname: "svc.skydns.test.", qtype: .a, qclass: RecordClass(rawValue: 255),
         rcode: .refused, aa: false, endToEnd: true),
    SemanticsCase(name: "Class HS (4): REFUSED", qname: "svc.skydns.test.", qtype: .a, qclass: RecordClass(rawValue: 4),
         rcode: .refused, aa: false),

    // -local
    SemanticsCase(name: "-local: local.dns.<domain> answers a.svc's records", qname: "local.dns.skydns.test.", qtype: .a,
         answer: ["local.dns.skydns.test. 300 IN A 10.0.1.1", "local.dns.skydns.test. 300 IN A 10.0.1.2"]),
    SemanticsCase(name: "-local: SRV too", qname: "local.dns.skydns.test.", qtype: .srv,
         answer: ["local.dns.skydns.test. 300 IN SRV 10 33 8080 x1.a.svc.skydns.test.",
                  "local.dns.skydns.test. 300 IN SRV 10 33 8080 x2.a.svc.skydns.test.",
                  "local.dns.skydns.test. 300 IN SRV 10 33 8080 x3.a.svc.skydns.test."],
         additional: ["x1.a.svc.skydns.test. 300 IN A 10.0.1.1",
                      "x2.a.svc.skydns.test. 300 IN A 10.0.1.2",
                      "x3.a.svc.skydns.test. 300 IN AAAA 2001:db8::3"], endToEnd: true),

    // Bad values
    SemanticsCase(name: "Bad values: {} and a host that is not a name are skipped, the good record answers",
         qname: "bad.skydns.test.", qtype: .a, answer: ["bad.skydns.test. 300 IN A 10.0.12.1"]),
    SemanticsCase(name: "Bad values: SRV skips them too", qname: "bad.skydns.test.", qtype: .srv,
         answer: ["bad.skydns.test. 300 IN SRV 10 100 0 good.bad.skydns.test."],
         additional: ["good.bad.skydns.test. 300 IN A 10.0.12.1"]),
    nodata("Bad values: the empty-host record's own name exists but has no data: NODATA", "empty.bad.skydns.test.", .a),
    nxdomain("Bad values: the invalid-host record is not stored: NXDOMAIN", "invalid.bad.skydns.test.", .a),

    // Names
    nxdomain("A name with no records at or below it: NXDOMAIN with AA and the SOA", "nothere.skydns.test.", .a,
             endToEnd: true),
    nxdomain("Names match on labels, not characters: sv is not svc", "sv.skydns.test.", .a),
    SemanticsCase(name: "Query names compare case-insensitively; answers keep the client's casing",
         qname: "A.SVC.SkyDNS.Test.", qtype: .a,
         answer: ["A.SVC.SkyDNS.Test. 300 IN A 10.0.1.1", "A.SVC.SkyDNS.Test. 300 IN A 10.0.1.2"], endToEnd: true),
    SemanticsCase(name: "A below a directory of IP hosts", qname: "db.skydns.test.", qtype: .aaaa,
         answer: ["db.skydns.test. 300 IN AAAA 2001:db8::31"]),
    nodata("AAAA where only A records exist: NODATA", "rr.skydns.test.", .aaaa),
    SemanticsCase(name: "Identical values under different keys are answered once", qname: "dup.skydns.test.", qtype: .a,
         answer: ["dup.skydns.test. 300 IN A 10.0.15.1"]),
    SemanticsCase(name: "A name outside the domain with -no-rec: REFUSED", server: .other, qname: "svc.skydns.test.", qtype: .a,
         rcode: .refused, aa: false, endToEnd: true),
]
