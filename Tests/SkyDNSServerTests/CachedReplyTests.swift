import DNSWire
@testable import SkyDNSServer
import Testing

// A cache hit written from the reply's wire form, patched for its client (ID, RD/CD, the
// question's casing, aged TTLs, OPT iff asked), must read as `ForwardedReply.fit` of the same
// reply; what it cannot serve as stored (too large, an extended rcode) is left to `fit`.

private func name(_ text: String) -> DomainName { try! DomainName(text) }

private func a(_ owner: String, ttl: UInt32, _ last: UInt8 = 1) -> ResourceRecord {
    ResourceRecord(name: name(owner), ttl: ttl, data: .a(ARecord(bytes: [192, 0, 2, last])))
}

private let soa = ResourceRecord(name: name("example.test"), ttl: 3600,
                                 data: .soa(SOARecord(mname: name("ns.example.test"), rname: name("admin.example.test"),
                                                      serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 120)))

/// A client's query as it comes off the wire.
private func query(_ text: String, _ type: RecordType = .a, id: UInt16, flags: UInt16 = Header.rdBit,
                   edns: EDNS? = nil) -> Message {
    Message(header: Header(id: id, flags: flags, questionCount: 1), questions: [Question(name: name(text), type: type)],
            edns: edns)
}

/// An upstream's reply to `asked` (its ID and casing are the upstream's, not any client's).
private func upstreamReply(_ asked: String, rcode: ResponseCode = .noError, answers: [ResourceRecord] = [],
                           authorities: [ResourceRecord] = [], additionals: [ResourceRecord] = [],
                           edns: EDNS? = nil) -> Message {
    var header = Header(id: 999, flags: Header.qrBit | Header.aaBit | Header.rdBit | Header.adBit)
    header.responseCode = rcode
    return Message(header: header, questions: [Question(name: name(asked), type: .a)], answers: answers,
                   authorities: authorities, additionals: additionals, edns: edns)
}

/// What the cache writes for `client`, `now`, within `maxSize` bytes.
private func hit(_ cache: ResponseCache, _ client: Message, maxSize: Int, now: Double) -> (ResponseCache.WireHit, [UInt8]) {
    let packet = client.encode()
    let lowercased = UnsafeMutablePointer<UInt8>.allocate(capacity: QueryParser.nameBufferSize)
    defer { lowercased.deallocate() }
    var writer = WireWriter(capacity: 4096)
    let outcome = packet.withUnsafeBytes { bytes -> ResponseCache.WireHit in
        guard let view = try? QueryParser.parse(bytes, lowercasedName: lowercased) else { return .miss }
        return cache.reply(to: view, packet: bytes, maxSize: maxSize, now: now, into: &writer)
    }
    return (outcome, writer.bytes)
}

@Suite("Cache hits written from the wire form")
struct CachedReplyTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var client: Message
        var maxSize: Int
        var testDescription: String { label }
    }

    static let cases: [Case] = [
        Case(label: "no EDNS, client's casing and ID, RD and CD copied",
             client: query("WwW.ExAmple.TEST", id: 0xBEEF, flags: Header.rdBit | Header.cdBit), maxSize: 512),
        Case(label: "no RD asked: none in the reply", client: query("www.example.test", id: 1, flags: 0), maxSize: 512),
        Case(label: "EDNS without DO: OPT advertising our size",
             client: query("WWW.EXAMPLE.TEST", id: 7, edns: EDNS(udpPayloadSize: 4096)), maxSize: 4096),
        Case(label: "EDNS below 512 counts as 512",
             client: query("www.example.TEST", id: 8, edns: EDNS(udpPayloadSize: 100)), maxSize: 512),
    ]

    @Test("The patched bytes read as fit's reply", arguments: cases)
    func sameAsFit(_ c: Case) throws {
        let cache = ResponseCache(capacity: 10, maxTTL: 3600)
        let stored = upstreamReply("www.example.test",
                                   answers: [a("www.example.test", ttl: 100), a("www.example.test", ttl: 300, 2)],
                                   authorities: [soa], additionals: [a("ns.example.test", ttl: 50, 3)],
                                   edns: EDNS(udpPayloadSize: 1232))
        cache.insert(ResponseCache.Key(c.client), reply: stored, now: 1000)
        let (outcome, bytes) = hit(cache, c.client, maxSize: c.maxSize, now: 1030.7)
        #expect(outcome == .written(.noError))
        let written = try Message(parsing: bytes)
        let fitted = try Message(parsing: ForwardedReply.fit(try #require(cache.lookup(ResponseCache.Key(c.client), now: 1030.7)),
                                                             to: c.client, maxSize: c.maxSize))
        #expect(written == fitted)
        #expect(written.header.id == c.client.header.id)
        #expect(written.header.recursionDesired == c.client.header.recursionDesired)
        #expect(written.header.checkingDisabled == c.client.header.checkingDisabled)
        #expect(written.header.isResponse && written.header.recursionAvailable && !written.header.isAuthoritative)
        #expect(written.header.flags & Header.adBit != 0)  // the upstream's AD
        #expect(written.questions.first?.name.wire == c.client.questions.first?.name.wire)  // byte for byte: the casing
        #expect(written.answers.map(\.ttl) == [70, 270])
        #expect(written.authorities.map(\.ttl) == [3570])
        #expect(written.additionals.map(\.ttl) == [20])
        #expect((written.edns != nil) == (c.client.edns != nil))
        #expect(written.edns?.udpPayloadSize == (c.client.edns == nil ? nil : UInt16(1232)))  // our size, not the client's
        #expect(written.edns?.dnssecOK != true)
    }

    @Test("DO is part of the key and echoed in the OPT")
    func dnssecOK() throws {
        let cache = ResponseCache(capacity: 10, maxTTL: 3600)
        let withDO = query("www.example.test", id: 3, edns: EDNS(udpPayloadSize: 1232, dnssecOK: true))
        cache.insert(ResponseCache.Key(withDO), reply: upstreamReply("www.example.test", answers: [a("www.example.test", ttl: 60)]),
                     now: 0)
        let (outcome, bytes) = hit(cache, withDO, maxSize: 1232, now: 1)
        #expect(outcome == .written(.noError))
        #expect(try Message(parsing: bytes).edns?.dnssecOK == true)
        #expect(hit(cache, query("www.example.test", id: 3), maxSize: 512, now: 1).0 == .miss)
    }

    @Test("A negative answer keeps its rcode and ages its SOA from the negative TTL")
    func negative() throws {
        let cache = ResponseCache(capacity: 10, maxTTL: 3600)
        let client = query("NX.example.test", id: 5)
        cache.insert(ResponseCache.Key(client), reply: upstreamReply("nx.example.test", rcode: .nxDomain, authorities: [soa]),
                     now: 0)
        let (outcome, bytes) = hit(cache, client, maxSize: 512, now: 100)
        #expect(outcome == .written(.nxDomain))
        let written = try Message(parsing: bytes)
        #expect(written.header.responseCode == .nxDomain)
        #expect(written.authorities.map(\.ttl) == [20])  // the negative TTL is min(3600, 120)
        #expect(hit(cache, client, maxSize: 512, now: 120).0 == .miss)
    }

    @Test("Too large for the client, or an extended rcode: left to fit, which truncates")
    func needsFitting() throws {
        let cache = ResponseCache(capacity: 10, maxTTL: 3600)
        let client = query("big.example.test", id: 9)
        let many = (0..<40).map { a("big.example.test", ttl: 300, UInt8($0)) }
        cache.insert(ResponseCache.Key(client), reply: upstreamReply("big.example.test", answers: many), now: 0)
        #expect(hit(cache, client, maxSize: 512, now: 1).0 == .needsFitting)
        let fitted = try Message(parsing: ForwardedReply.fit(try #require(cache.lookup(ResponseCache.Key(client), now: 1)),
                                                             to: client, maxSize: 512))
        #expect(fitted.header.isTruncated && fitted.answers.count < 40)
        let large = query("big.example.test", id: 9, edns: EDNS(udpPayloadSize: 4096))
        cache.insert(ResponseCache.Key(large), reply: upstreamReply("big.example.test", answers: many), now: 0)
        let (outcome, bytes) = hit(cache, large, maxSize: 4096, now: 1)
        #expect(outcome == .written(.noError))
        #expect(try Message(parsing: bytes).answers.count == 40)

        let extended = query("bad.example.test", id: 10, edns: EDNS(udpPayloadSize: 1232))
        cache.insert(ResponseCache.Key(extended),
                     reply: upstreamReply("bad.example.test", answers: [a("bad.example.test", ttl: 60)],
                                          edns: EDNS(extendedRCode: 1)), now: 0)
        #expect(hit(cache, extended, maxSize: 1232, now: 1).0 == .needsFitting)
        #expect(cache.lookup(ResponseCache.Key(extended), now: 1)?.edns?.extendedRCode == 1)
    }

    @Test("Another type, class or name is a miss; so is an expired entry")
    func misses() {
        let cache = ResponseCache(capacity: 10, maxTTL: 3600)
        cache.insert(ResponseCache.Key(query("www.example.test", id: 1)),
                     reply: upstreamReply("www.example.test", answers: [a("www.example.test", ttl: 60)]), now: 0)
        #expect(hit(cache, query("www.example.test", .aaaa, id: 1), maxSize: 512, now: 1).0 == .miss)
        #expect(hit(cache, query("www.example.tesu", id: 1), maxSize: 512, now: 1).0 == .miss)
        #expect(hit(cache, query("www.example.test", id: 1), maxSize: 512, now: 59).0 == .written(.noError))
        #expect(hit(cache, query("www.example.test", id: 1), maxSize: 512, now: 60).0 == .miss)
        // Each forwarded query counts once: a miss on the receive path goes on to the
        // forwarder's look-up, which counts it.
        #expect(cache.hits.load(ordering: .relaxed) == 1)
        #expect(cache.misses.load(ordering: .relaxed) == 0)
        let other = ResponseCache.Key(query("www.example.test", .aaaa, id: 1))
        #expect(cache.lookup(other, now: 1, countingMiss: false) == nil)
        #expect(cache.misses.load(ordering: .relaxed) == 0)
        #expect(cache.lookup(other, now: 1) == nil)
        #expect(cache.misses.load(ordering: .relaxed) == 1)
    }
}

@Suite("A reply just kept serves the query that asked for it")
struct CachedReplyFirstClientTests {
    @Test("The client's ID, casing and OPT; unaged TTLs; nil when too large")
    func firstClient() throws {
        let cache = ResponseCache(capacity: 10, maxTTL: 3600)
        let client = query("Www.Example.test", id: 0x4242, edns: EDNS(udpPayloadSize: 1232))
        let packet = client.encode()
        let lowercased = UnsafeMutablePointer<UInt8>.allocate(capacity: QueryParser.nameBufferSize)
        defer { lowercased.deallocate() }
        let parsed = try packet.withUnsafeBytes { bytes in
            ParsedQuery(packet: bytes, view: try QueryParser.parse(bytes, lowercasedName: lowercased), received: 0)
        }
        let kept = try #require(cache.insert(ResponseCache.Key(client),
                                             reply: upstreamReply("www.example.test", answers: [a("www.example.test", ttl: 90)]),
                                             now: 0))
        let written = try Message(parsing: try #require(kept.reply(to: parsed, maxSize: 1232)))
        #expect(written.header.id == 0x4242)
        #expect(written.questions.first?.name.wire == client.questions.first?.name.wire)
        #expect(written.answers.map(\.ttl) == [90])
        #expect(written.edns?.udpPayloadSize == 1232)
        #expect(kept.reply(to: parsed, maxSize: kept.wire.count) == nil)  // the OPT's 11 bytes do not fit
        #expect(cache.insert(ResponseCache.Key(client), reply: upstreamReply("www.example.test", rcode: .servFail)) == nil)
    }

    /// The cache counts each entry by its bytes: the wire form must not hold the larger buffer
    /// it was written in (a 2,100-byte reply grown into 4 KiB).
    @Test("the wire form kept holds its bytes, not the buffer it was written in")
    func compactWire() throws {
        let answers = (0..<130).map { a("www.example.test", ttl: 300, UInt8($0)) }
        let kept = try #require(CachedReply(upstreamReply("www.example.test", answers: answers)))
        #expect(kept.wire.count > 2048)
        #expect(kept.wire.capacity - kept.wire.count < 64)
    }
}
