import DNSWire
import Synchronization
import Testing
@testable import DNSSEC

/// A clock tests move by hand.
final class TestClock: Sendable {
    let seconds = Atomic<UInt32>(1_800_000_000)
    var now: @Sendable () -> UInt32 { { [self] in seconds.load(ordering: .relaxed) } }
    func advance(_ by: UInt32) { seconds.add(by, ordering: .relaxed) }
}

@Suite struct ZoneSignerTests {
    let key: SigningKey
    let apex: DomainName
    let clock = TestClock()

    init() throws {
        key = try Vectors.key(Vectors.ed25519Key, Vectors.ed25519Private)
        apex = try DomainName("example.com.")
    }

    func signer(cache: Int = 100) -> ZoneSigner {
        ZoneSigner(key: key, cacheCapacity: cache, dnskeyTTL: 3600, clock: clock.now)
    }

    /// An authoritative response to `name type` as the store makes it, with DO echoed.
    func response(_ name: String, _ type: RecordType, rcode: ResponseCode = .noError, answers: [ResourceRecord] = [],
                  authorities: [ResourceRecord] = [], additionals: [ResourceRecord] = []) throws -> [UInt8] {
        var header = Header(id: 7, flags: Header.qrBit | Header.aaBit | Header.rdBit | UInt16(rcode.rawValue))
        header.questionCount = 1
        return Message(header: header, questions: [Question(name: try DomainName(name), type: type, recordClass: .in)],
                       answers: answers, authorities: authorities, additionals: additionals,
                       edns: EDNS(udpPayloadSize: 1232, dnssecOK: true)).encode()
    }

    func soa() throws -> ResourceRecord {
        ResourceRecord(name: apex, ttl: 60, data: .soa(SOARecord(
            mname: try DomainName("ns.dns.example.com."), rname: try DomainName("hostmaster.example.com."),
            serial: 1, refresh: 28800, retry: 7200, expire: 604800, minimum: 60)))
    }

    func signed(_ signer: ZoneSigner, _ bytes: [UInt8], maxSize: Int = 65535) throws -> Message {
        var writer = WireWriter()
        #expect(signer.sign(response: bytes, maxSize: maxSize, into: &writer))
        #expect(writer.count <= maxSize)
        return try Message(parsing: writer.bytes)
    }

    /// Checks that `rrsig` (an RRSIG record) verifies over `records` with the key.
    func verifies(_ rrsig: ResourceRecord, over records: [ResourceRecord]) throws -> Bool {
        guard case .unknown(let type, let rdata) = rrsig.data, type == .rrsig else { return false }
        let rrset = try #require(CanonicalRRset(records[...]))
        let prefixLength = 18 + apex.wire.count
        return Array(rdata.prefix(2)) == [UInt8(rrset.type.rawValue >> 8), UInt8(rrset.type.rawValue & 0xFF)]
            && key.verify(Array(rdata.dropFirst(prefixLength)), over: Array(rdata.prefix(prefixLength)) + rrset.signedRecords)
    }

    @Test("each RRset of every section gets an RRSIG that verifies, with a week's validity from 3 hours back")
    func signsEverySection() throws {
        let owner = try DomainName("Web.Example.com.")
        let answers = [ResourceRecord(name: owner, ttl: 30, data: .srv(SRVRecord(priority: 10, weight: 100, port: 80,
                                                                                  target: try DomainName("a.example.com."))))]
        let glue = [ResourceRecord(name: try DomainName("a.example.com."), ttl: 30, data: .a(ARecord(bytes: [10, 0, 0, 1]))),
                    ResourceRecord(name: try DomainName("a.example.com."), ttl: 20, data: .a(ARecord(bytes: [10, 0, 0, 2])))]
        let message = try signed(signer(), try response("Web.Example.com.", .srv, answers: answers, additionals: glue))
        #expect(message.answers.map(\.type) == [.srv, .rrsig])
        #expect(try verifies(message.answers[1], over: [message.answers[0]]))
        #expect(message.additionals.map(\.type) == [.a, .a, .rrsig])
        #expect(message.additionals.allSatisfy { $0.ttl == 20 })
        #expect(try verifies(message.additionals[2], over: Array(message.additionals.prefix(2))))
        guard case .unknown(_, let rdata) = message.answers[1].data else { return }
        let expiration = rdata[8..<12].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let inception = rdata[12..<16].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        #expect(inception == clock.seconds.load(ordering: .relaxed) - 3 * 3600)
        #expect(expiration == clock.seconds.load(ordering: .relaxed) + 7 * 86400)
        #expect(message.edns?.dnssecOK == true)
    }

    @Test("a missing name: NOERROR, the SOA and an NSEC at the name with only RRSIG, NSEC, NXNAME (RFC 9824)")
    func nxdomain() throws {
        let message = try signed(signer(), try response("nope.example.com.", .a, rcode: .nxDomain, authorities: [try soa()]))
        #expect(message.header.responseCode == .noError)
        #expect(message.answers.isEmpty)
        #expect(message.authorities.map(\.type) == [.soa, .rrsig, .nsec, .rrsig])
        let nsec = message.authorities[2]
        #expect(nsec.name == (try DomainName("nope.example.com.")))
        #expect(nsec.ttl == 60)
        let next = try DomainName(wire: [1, 0] + (try DomainName("nope.example.com.")).wire)
        #expect(nsec.data == .unknown(.nsec, next.wire + CompactDenial.typeBitmap([.rrsig, .nsec, .nxname])))
        #expect(try verifies(message.authorities[3], over: [nsec]))
        #expect(try verifies(message.authorities[1], over: [message.authorities[0]]))
    }

    @Test("a missing type: the NSEC lists every type the name may hold but the asked one, never CNAME")
    func nodata() throws {
        let message = try signed(signer(), try response("web.example.com.", .mx, authorities: [try soa()]))
        #expect(message.header.responseCode == .noError)
        let nsec = message.authorities[2]
        guard case .unknown(_, let rdata) = nsec.data else { Issue.record("no NSEC"); return }
        let bitmap = Array(rdata.dropFirst(2 + (try DomainName("web.example.com.")).wire.count))
        #expect(bitmap == CompactDenial.typeBitmap([.a, .ptr, RecordType(13), .txt, .aaaa, .srv, .rrsig, .nsec]))
        // At the apex, NS, SOA and DNSKEY are there too.
        let apexMessage = try signed(signer(), try response("example.com.", .mx, authorities: [try soa()]))
        guard case .unknown(_, let apexData) = apexMessage.authorities[2].data else { Issue.record("no NSEC"); return }
        #expect(Array(apexData.dropFirst(2 + apex.wire.count)) == CompactDenial.typeBitmap(
            [.a, .ns, .soa, .ptr, RecordType(13), .txt, .aaaa, .srv, .rrsig, .nsec, .dnskey]))
    }

    @Test("an NSEC query: the NSEC at the name is the answer, signed, its bitmap holding NSEC (NXNAME for a missing name)")
    func nsecQuery() throws {
        let message = try signed(signer(), try response("web.example.com.", .nsec, authorities: [try soa()]))
        #expect(message.header.responseCode == .noError)
        #expect(message.answers.map(\.type) == [.nsec, .rrsig])
        #expect(message.authorities.isEmpty)
        guard case .unknown(_, let rdata) = message.answers[0].data else { Issue.record("no NSEC"); return }
        #expect(Array(rdata.dropFirst(2 + (try DomainName("web.example.com.")).wire.count))
                == CompactDenial.typeBitmap([.a, .ptr, RecordType(13), .mx, .txt, .aaaa, .srv, .rrsig, .nsec]))
        #expect(try verifies(message.answers[1], over: [message.answers[0]]))
        let missing = try signed(signer(), try response("nope.example.com.", .nsec, rcode: .nxDomain, authorities: [try soa()]))
        #expect(missing.header.responseCode == .noError)
        #expect(missing.answers.map(\.type) == [.nsec, .rrsig])
        guard case .unknown(_, let missingData) = missing.answers[0].data else { Issue.record("no NSEC"); return }
        #expect(Array(missingData.dropFirst(2 + (try DomainName("nope.example.com.")).wire.count))
                == CompactDenial.typeBitmap([.rrsig, .nsec, .nxname]))
    }

    @Test("RRSIG labels leave out a leading * label only (RFC 4034 §3.1.3), and the signature still verifies")
    func wildcardLabels() throws {
        for (name, labels) in [("*.svc.example.com.", 3), ("*.example.com.", 2), ("a.*.example.com.", 4), ("svc.example.com.", 3)] {
            let answer = [ResourceRecord(name: try DomainName(name), ttl: 30, data: .a(ARecord(bytes: [10, 0, 0, 1])))]
            let message = try signed(signer(), try response(name, .a, answers: answer))
            guard case .unknown(_, let rdata) = message.answers[1].data else { Issue.record("no RRSIG"); continue }
            #expect(rdata[3] == UInt8(labels), "\(name)")
            #expect(try verifies(message.answers[1], over: answer))
        }
    }

    @Test("a missing name too long for \\000.name: the NSEC's next name is still the one just after it, never the apex")
    func longName() throws {
        let label = String(repeating: "a", count: 63)
        let name = "\(label).\(label).\(label).\(String(repeating: "b", count: 48)).example.com."
        #expect((try DomainName(name)).wire.count == 254)
        let message = try signed(signer(), try response(name, .a, rcode: .nxDomain, authorities: [try soa()]))
        guard case .unknown(_, let rdata) = message.authorities[2].data else { Issue.record("no NSEC"); return }
        let expected = try DomainName("\(String(repeating: "a", count: 62))b.\(label).\(label).\(String(repeating: "b", count: 48)).example.com.")
        #expect(Array(rdata.prefix(expected.wire.count)) == expected.wire)
        #expect(try verifies(message.authorities[3], over: [message.authorities[2]]))
    }

    @Test("the successor of a 254-byte name (RFC 4471): a \\000 octet appended to a short first label, else its last octet raised, else the parent's")
    func successor() throws {
        let a63 = [UInt8](repeating: 0x61, count: 63)
        let ff63 = [UInt8](repeating: 0xFF, count: 63)
        let tail: [[UInt8]] = [Array("example".utf8), Array("com".utf8)]
        func name(_ labels: [[UInt8]]) throws -> DomainName { try DomainName(labels: labels + tail) }
        let cases: [(owner: [[UInt8]], next: [[UInt8]])] = [
            ([Array("short".utf8), a63, a63, a63, [UInt8](repeating: 0x62, count: 42)],
             [Array("short".utf8) + [0], a63, a63, a63, [UInt8](repeating: 0x62, count: 42)]),
            ([Array(a63.dropLast()) + [0x40], a63, a63, [UInt8](repeating: 0x62, count: 48)],
             [Array(a63.dropLast()) + [0x5B], a63, a63, [UInt8](repeating: 0x62, count: 48)]),
            ([Array(a63.dropLast(2)) + [0x7A, 0xFF], a63, a63, [UInt8](repeating: 0x62, count: 48)],
             [Array(a63.dropLast(2)) + [0x7B], a63, a63, [UInt8](repeating: 0x62, count: 48)]),
            ([ff63, a63, a63, [UInt8](repeating: 0x62, count: 48)], [Array(a63.dropLast()) + [0x62], a63, [UInt8](repeating: 0x62, count: 48)]),
        ]
        for (owner, next) in cases {
            let ownerName = try name(owner)
            #expect(ownerName.wire.count >= 254)
            #expect(CompactDenial.successor(of: ownerName, apex: apex) == (try name(next)))
        }
        #expect(CompactDenial.successor(of: try DomainName("web.example.com."), apex: apex) == (try DomainName("\\000.web.example.com.")))
    }

    @Test("the apex DNSKEY query answers the key, signed by itself")
    func dnskey() throws {
        let message = try signed(signer(), try response("EXAMPLE.com.", .dnskey, authorities: [try soa()]))
        #expect(message.answers.map(\.type) == [.dnskey, .rrsig])
        #expect(message.answers[0].data == .unknown(.dnskey, key.dnskey.rdata))
        #expect(message.authorities.isEmpty)
        #expect(try verifies(message.answers[1], over: [message.answers[0]]))
    }

    @Test("too big for the client: whole RRsets with their RRSIG are cut and TC set; additional data just dropped")
    func truncation() throws {
        let owner = try DomainName("big.example.com.")
        let answers = (0..<40).map { ResourceRecord(name: owner, ttl: 30, data: .a(ARecord(bytes: [10, 0, 0, UInt8($0)]))) }
        let message = try signed(signer(), try response("big.example.com.", .a, answers: answers), maxSize: 512)
        #expect(message.header.isTruncated)
        #expect(message.answers.isEmpty)
        let small = try signed(signer(), try response("big.example.com.", .a, answers: Array(answers.prefix(2)),
                                                        additionals: answers.map { ResourceRecord(name: try DomainName("x.example.com."), ttl: 30, data: $0.data) }),
                               maxSize: 512)
        #expect(!small.header.isTruncated)
        #expect(small.answers.map(\.type) == [.a, .a, .rrsig])
        #expect(small.additionals.isEmpty)
    }

    @Test("an answer cut to a small size signs only the RRsets it carries (and the one that did not fit), not all")
    func signsOnlyWhatFits() throws {
        let zone = signer()
        let answers = [ResourceRecord(name: try DomainName("dir.example.com."), ttl: 30, data: .a(ARecord(bytes: [10, 0, 0, 1])))]
        let glue = try (0..<200).map {
            ResourceRecord(name: try DomainName("h\($0).dir.example.com."), ttl: 30, data: .a(ARecord(bytes: [10, 0, 1, UInt8($0)])))
        }
        let message = try signed(zone, try response("dir.example.com.", .a, answers: answers, additionals: glue), maxSize: 512)
        #expect(message.answers.map(\.type) == [.a, .rrsig])
        let carried = message.additionals.filter { $0.type == .rrsig }.count
        #expect(carried > 0 && carried < 10)
        #expect(zone.cache.misses <= 1 + carried + 1)
        for index in stride(from: 0, to: message.additionals.count, by: 2) {
            #expect(try verifies(message.additionals[index + 1], over: [message.additionals[index]]))
        }
    }

    @Test("responses not to sign are left alone: not authoritative, REFUSED, outside the domain")
    func notSigned() throws {
        var writer = WireWriter()
        var refused = Message(header: Header(id: 1, flags: Header.qrBit | 5, questionCount: 1),
                              questions: [Question(name: try DomainName("a.example.com."), type: .a, recordClass: .in)])
        #expect(!signer().sign(response: refused.encode(), maxSize: 512, into: &writer))
        refused.header.flags = Header.qrBit | Header.aaBit | 5
        #expect(!signer().sign(response: refused.encode(), maxSize: 512, into: &writer))
        #expect(!signer().sign(response: try response("example.org.", .a), maxSize: 512, into: &writer))
        var chaos = try Message(parsing: try response("example.com.", .txt))
        chaos.questions[0].recordClass = .chaos
        #expect(!signer().sign(response: chaos.encode(), maxSize: 512, into: &writer))
        #expect(!signer().sign(response: [1, 2, 3], maxSize: 512, into: &writer))
        #expect(writer.count == 0)
    }

    @Test("a repeated answer costs no signing until its signature is due for refresh")
    func cacheReuse() throws {
        let zone = signer()
        let answer = [ResourceRecord(name: try DomainName("a.example.com."), ttl: 30, data: .a(ARecord(bytes: [10, 0, 0, 1])))]
        let first = try signed(zone, try response("a.example.com.", .a, answers: answer))
        #expect(zone.cache.misses == 1)
        let second = try signed(zone, try response("A.example.com.", .a, answers: answer))
        #expect(zone.cache.misses == 1)
        #expect(zone.cache.hits == 1)
        #expect(second.answers[1].data == first.answers[1].data)
        clock.advance(4 * 86400 + 1)
        let third = try signed(zone, try response("a.example.com.", .a, answers: answer))
        #expect(zone.cache.misses == 2)
        #expect(third.answers[1].data != first.answers[1].data)
        #expect(try verifies(third.answers[1], over: answer))
    }

    @Test("a capacity from outside (flag or /skydns/config) is clamped", arguments: [Int.max, SignatureCache.maxCapacity + 1, -1])
    func capacityClamped(requested: Int) {
        #expect(SignatureCache(capacity: requested).capacity == (requested < 0 ? 0 : SignatureCache.maxCapacity))
    }

    @Test("the cache holds at most its capacity; capacity 0 keeps nothing")
    func cacheBound() throws {
        for capacity in [0, 1, 10, 100] {
            let cache = SignatureCache(capacity: capacity)
            for index in 0..<500 {
                let rrset = CanonicalRRset(owner: try DomainName("n\(index).example.com."), type: .a, ttl: 30, rdatas: [[1, 2, 3, 4]])
                cache.insert(SignatureCache.Key(rrset), rrsig: [1], refreshAt: 100)
            }
            #expect(cache.count == min(capacity, 500))
        }
    }

    @Test("a full cache drops its oldest signatures: the newest survive a flood of names")
    func cacheKeepsNewest() throws {
        // 16 shards of two entries each: the last two keys are the newest in their shards.
        let cache = SignatureCache(capacity: 32)
        let keys = try (0..<2000).map { index in
            SignatureCache.Key(CanonicalRRset(owner: try DomainName("n\(index).example.com."), type: .a, ttl: 30,
                                              rdatas: [[1, 2, 3, 4]]))
        }
        for (index, key) in keys.enumerated() { cache.insert(key, rrsig: [UInt8(truncatingIfNeeded: index)], refreshAt: 100) }
        #expect(cache.count == 32)
        #expect(cache.lookup(keys[1999], now: 0) == [UInt8(truncatingIfNeeded: 1999)])
        #expect(cache.lookup(keys[1998], now: 0) == [UInt8(truncatingIfNeeded: 1998)])
        #expect(cache.lookup(keys[0], now: 0) == nil)
    }
}
