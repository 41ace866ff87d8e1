import Testing
@testable import SkyDNSStore

/// Host classification and TTLs, done once when a value is loaded.
@Suite struct StoredRecordTests {
    private func stored(host: String, ttl: UInt32 = 0, keyTTL: UInt32? = nil,
                        defaultTTL: UInt32 = 3600) throws -> StoredRecord {
        try storedRecord(host: host, ttl: ttl, keyTTL: keyTTL, defaultTTL: defaultTTL)
    }

    @Test(arguments: [
        ("10.0.0.1", StoredRecord.Target.ipv4(IPv4Address([10, 0, 0, 1]))),
        ("255.255.255.255", .ipv4(IPv4Address([255, 255, 255, 255]))),
        ("2001:db8::1", .ipv6(IPv6Address([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]))),
        ("::1", .ipv6(IPv6Address([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]))),
        // IPv4-mapped: the IPv4 address, as SkyDNS (Go's To4) took it; IPv4-compatible and
        // other embeddings stay IPv6.
        ("::ffff:10.0.0.1", .ipv4(IPv4Address([10, 0, 0, 1]))),
        ("::FFFF:0a00:0002", .ipv4(IPv4Address([10, 0, 0, 2]))),
        ("::10.0.0.1", .ipv6(IPv6Address([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1]))),
        ("64:ff9b::10.0.0.1", .ipv6(IPv6Address([0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1]))),
        ("::fffe:10.0.0.1", .ipv6(IPv6Address([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 10, 0, 0, 1]))),
        ("kafka.domeos.sohu", .name(dname("kafka.domeos.sohu."))),
        ("kafka.domeos.sohu.", .name(dname("kafka.domeos.sohu."))),
        ("web", .name(dname("web."))),
        ("_http._tcp.web.ns.svc.cluster.local", .name(dname("_http._tcp.web.ns.svc.cluster.local."))),
        ("Mixed-Case.Example", .name(dname("mixed-case.example."))),
        ("", .none),
    ])
    func hostClassified(host: String, expected: StoredRecord.Target) throws {
        #expect(try stored(host: host).target == expected)
    }

    @Test(arguments: [
        "not a host!",
        "a..b",
        ".",
        "..",
        ".a",
        "a b",
        "host:80",
        "10.0.0.1:53",
        "a/b",
        "héllo.example",
        "under\\.score",
        // A NUL ends the C string inet_pton reads: none of these is the address before it.
        "10.0.0.1\u{0}",
        "10.0.0.1\u{0}.evil.example",
        "fe80::1\u{0}zz",
        String(repeating: "a", count: 64) + ".example",
        Array(repeating: String(repeating: "a", count: 63), count: 5).joined(separator: "."),
    ])
    func invalidHostRejected(host: String) {
        let error = #expect(throws: RecordError.self) { try stored(host: host) }
        #expect(error == .invalidHost(host))
    }

    /// Every field comes back as given, whether the record keeps it inline (an IPv4 host,
    /// priority and weight) or on the side (anything else).
    @Test(arguments: [
        ServiceRecord(host: "10.0.0.1", priority: 10, weight: 10, ttl: 30),
        ServiceRecord(host: "10.0.0.1", priority: 0, weight: 65535),
        ServiceRecord(host: "10.0.0.1", priority: 65535, weight: 0),
        ServiceRecord(host: "10.0.0.1", port: 8080),
        ServiceRecord(host: "10.0.0.1", port: 65535, targetStrip: 1),
        ServiceRecord(host: "2001:db8::1", priority: 7000),
        ServiceRecord(host: "kafka.domeos.sohu", port: 9092, weight: 5, text: "t", mail: true, targetStrip: 2, group: "g"),
        ServiceRecord(text: "only text"),
        ServiceRecord(text: String(repeating: "é", count: 300)),
        ServiceRecord(),
    ])
    func fieldsSurviveCompactStorage(service: ServiceRecord) throws {
        var clamped: [String] = []
        let record = try StoredRecord(path: ["sohu", "x"], service: service, keyTTL: nil, defaultTTL: 60, clamped: &clamped)
        #expect(clamped.isEmpty)
        #expect(record.host == service.host)
        #expect((record.port, record.priority, record.weight) == (service.port, service.priority, service.weight))
        #expect((record.text, record.mail, record.targetStrip, record.group) == (service.text, service.mail, service.targetStrip, service.group))
        #expect(record.hasGroup == !service.group.isEmpty)
        #expect(record.ttl == (service.ttl == 0 ? 60 : service.ttl))
    }

    /// The record keeps its value as given, and its key's last label lower-cased.
    @Test func keepsKeyAndValue() throws {
        let store = RecordStore(zone: try domeosZone(), pathPrefix: "skydns")
        let value = #"{"host":"10.0.0.1","port":80,"priority":10,"weight":10,"ttl":30}"#
        #expect(store.apply([.put(kv("/skydns/sohu/Domeos/X", value))]).isEmpty)
        let record = try #require(store.publisher.current.root.node(at: ["sohu", "domeos", "x"])?.record)
        #expect(record.label == "x")
        #expect((record.host, record.port, record.priority, record.weight) == ("10.0.0.1", 80, 10, 10))
        #expect((record.text, record.mail, record.targetStrip, record.group) == ("", false, 0, ""))
        #expect(record.target == .ipv4(IPv4Address([10, 0, 0, 1])))
        #expect(record.ttl == 30)
    }

    /// Addresses are held as words; their bytes come back in network order.
    @Test func addressesRoundTrip() {
        #expect(IPv4Address([172, 28, 0, 12]).value == 0xAC1C_000C)
        #expect(IPv4Address([172, 28, 0, 12]).bytes == [172, 28, 0, 12])
        let v6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        #expect(IPv6Address(v6).bytes == v6)
        #expect(IPv6Address(v6).high == 0x2001_0DB8_0102_0304)
    }

    /// TTL: the value's `ttl`, the default when it is 0, and never more than the etcd key's TTL.
    @Test(arguments: [
        // (value ttl, key ttl, default ttl, expected)
        (UInt32(30), UInt32?.none, UInt32(3600), UInt32(30)),
        (0, nil, 3600, 3600),
        (0, nil, 300, 300),
        (7200, nil, 3600, 7200),
        (30, 10, 3600, 10),
        (30, 100, 3600, 30),
        (0, 10, 3600, 10),
        (0, 7200, 3600, 3600),
        (30, 30, 3600, 30),
    ])
    func ttl(valueTTL: UInt32, keyTTL: UInt32?, defaultTTL: UInt32, expected: UInt32) throws {
        #expect(try stored(host: "10.0.0.1", ttl: valueTTL, keyTTL: keyTTL, defaultTTL: defaultTTL).ttl == expected)
    }
}
