import DNSWire
@testable import SkyDNSServer
import Testing

// The response cache's rules (RFC 2308): how long a reply is kept, how its TTLs age, what is
// never kept, and the bounds on entries and bytes. Time is passed in (`now:`), never waited for.

private func name(_ text: String) -> DomainName { try! DomainName(text) }

private func question(_ text: String, _ type: RecordType = .a) -> Message {
    Message(header: Header(id: 7, flags: Header.rdBit, questionCount: 1), questions: [Question(name: name(text), type: type)])
}

private func a(_ owner: String, ttl: UInt32) -> ResourceRecord {
    ResourceRecord(name: name(owner), ttl: ttl, data: .a(ARecord(bytes: [192, 0, 2, 1])))
}

private func soa(ttl: UInt32, minimum: UInt32) -> ResourceRecord {
    ResourceRecord(name: name("example.test"), ttl: ttl,
                   data: .soa(SOARecord(mname: name("ns.example.test"), rname: name("admin.example.test"), serial: 1,
                                        refresh: 3600, retry: 600, expire: 86400, minimum: minimum)))
}

/// An upstream's reply to `asked`.
private func reply(_ asked: String, rcode: ResponseCode = .noError, truncated: Bool = false,
                   answers: [ResourceRecord] = [], authorities: [ResourceRecord] = []) -> Message {
    var header = Header(id: 7, flags: Header.qrBit | Header.rdBit | Header.raBit)
    header.responseCode = rcode
    header.isTruncated = truncated
    return Message(header: header, questions: [Question(name: name(asked), type: .a)], answers: answers,
                   authorities: authorities)
}

@Suite("Response cache rules: RFC 2308 lifetimes, TTL ageing, bounds")
struct ResponseCacheRuleTests {
    struct LifetimeCase: CustomTestStringConvertible, Sendable {
        var label: String
        var reply: Message
        /// Seconds it may be kept; nil: never kept.
        var lifetime: UInt32?
        var testDescription: String { label }
    }

    @Test("how long a reply may be kept", arguments: [
        LifetimeCase(label: "positive: the lowest answer TTL",
                     reply: reply("www.example.test", answers: [a("www.example.test", ttl: 300), a("www.example.test", ttl: 40)]),
                     lifetime: 40),
        LifetimeCase(label: "NXDOMAIN: the SOA's MINIMUM when below its TTL (RFC 2308 §5)",
                     reply: reply("nx.example.test", rcode: .nxDomain, authorities: [soa(ttl: 3600, minimum: 120)]),
                     lifetime: 120),
        LifetimeCase(label: "NXDOMAIN: the SOA's TTL when below its MINIMUM",
                     reply: reply("nx.example.test", rcode: .nxDomain, authorities: [soa(ttl: 30, minimum: 120)]),
                     lifetime: 30),
        LifetimeCase(label: "NODATA (NOERROR, no answer): the negative TTL too",
                     reply: reply("www.example.test", authorities: [soa(ttl: 3600, minimum: 90)]),
                     lifetime: 90),
        LifetimeCase(label: "NXDOMAIN without SOA: not kept (RFC 2308 §5)",
                     reply: reply("nx.example.test", rcode: .nxDomain), lifetime: nil),
        LifetimeCase(label: "NODATA without SOA: not kept",
                     reply: reply("www.example.test"), lifetime: nil),
        LifetimeCase(label: "SERVFAIL: not kept",
                     reply: reply("www.example.test", rcode: .servFail, authorities: [soa(ttl: 60, minimum: 60)]),
                     lifetime: nil),
        LifetimeCase(label: "REFUSED: not kept", reply: reply("www.example.test", rcode: .refused), lifetime: nil),
        LifetimeCase(label: "truncated: not kept",
                     reply: reply("www.example.test", truncated: true, answers: [a("www.example.test", ttl: 300)]),
                     lifetime: nil),
    ])
    func lifetime(_ c: LifetimeCase) {
        #expect(ResponseCache.lifetime(of: c.reply) == c.lifetime)
    }

    @Test("TTLs age by the whole seconds kept; the entry expires at its lifetime")
    func ageing() throws {
        let cache = ResponseCache(capacity: 10, maxTTL: 3600)
        let key = ResponseCache.Key(question("www.example.test"))
        cache.insert(key, reply: reply("www.example.test", answers: [a("www.example.test", ttl: 100), a("www.example.test", ttl: 300)]),
                     now: 1000)
        let aged = try #require(cache.lookup(key, now: 1030.7))
        #expect(aged.answers.map(\.ttl) == [70, 270])
        #expect(cache.lookup(key, now: 1099.9)?.answers.map(\.ttl) == [1, 201])
        #expect(cache.lookup(key, now: 1100) == nil)
        #expect(cache.count == 0)
    }

    /// The SOA of a cached denial carries what is left of the negative TTL, min(TTL, MINIMUM),
    /// not of its own TTL: a cache below keeps the denial no longer than the upstream allowed
    /// (RFC 2308 §5). An SOA beside answers is left as it is.
    @Test("negative answers age too, the SOA's TTL as the negative TTL")
    func negativeAgeing() throws {
        let cache = ResponseCache(capacity: 10, maxTTL: 3600)
        let key = ResponseCache.Key(question("nx.example.test"))
        cache.insert(key, reply: reply("nx.example.test", rcode: .nxDomain, authorities: [soa(ttl: 3600, minimum: 120)]),
                     now: 0)
        let aged = try #require(cache.lookup(key, now: 100))
        #expect(aged.header.responseCode == .nxDomain)
        #expect(aged.authorities.map(\.ttl) == [20])
        #expect(cache.lookup(key, now: 120) == nil)
        let nodata = ResponseCache.Key(question("www.example.test"))
        cache.insert(nodata, reply: reply("www.example.test", authorities: [soa(ttl: 30, minimum: 120)]), now: 0)
        #expect(cache.lookup(nodata, now: 10)?.authorities.map(\.ttl) == [20])
    }

    @Test("-rcache-ttl caps how long an entry is kept")
    func maxTTL() {
        let cache = ResponseCache(capacity: 10, maxTTL: 60)
        let key = ResponseCache.Key(question("www.example.test"))
        cache.insert(key, reply: reply("www.example.test", answers: [a("www.example.test", ttl: 3600)]), now: 0)
        #expect(cache.lookup(key, now: 59) != nil)
        #expect(cache.lookup(key, now: 60) == nil)
    }

    @Test("the key: name case-insensitive, type and DO apart")
    func keys() {
        let cache = ResponseCache(capacity: 10, maxTTL: 3600)
        cache.insert(ResponseCache.Key(question("www.example.test")),
                     reply: reply("www.example.test", answers: [a("www.example.test", ttl: 300)]), now: 0)
        #expect(cache.lookup(ResponseCache.Key(question("WWW.Example.TEST")), now: 1) != nil)
        #expect(cache.lookup(ResponseCache.Key(question("www.example.test", .aaaa)), now: 1) == nil)
        var withDO = question("www.example.test")
        withDO.edns = EDNS(udpPayloadSize: 1232, dnssecOK: true)
        #expect(cache.lookup(ResponseCache.Key(withDO), now: 1) == nil)
    }

    @Test("at most `capacity` entries: each new one past it drops one")
    func entryBound() {
        let cache = ResponseCache(capacity: 3, maxTTL: 3600)
        for index in 0..<10 {
            let owner = "n\(index).example.test"
            cache.insert(ResponseCache.Key(question(owner)), reply: reply(owner, answers: [a(owner, ttl: 300)]), now: 0)
            #expect(cache.count == min(index + 1, 3))
        }
        #expect(cache.lookup(ResponseCache.Key(question("n9.example.test")), now: 1) != nil)
    }

    @Test("at most `bytesPerEntry` bytes a entry on average; a reply over the whole budget is not kept")
    func byteBound() {
        let cache = ResponseCache(capacity: 4, maxTTL: 3600, bytesPerEntry: 100)
        #expect(cache.maxBytes == 400)
        // Each reply: about 60 bytes of header and question plus 16 per A record.
        for index in 0..<8 {
            let owner = "n\(index).example.test"
            let records = Array(repeating: a(owner, ttl: 300), count: 10)
            cache.insert(ResponseCache.Key(question(owner)), reply: reply(owner, answers: records), now: 0)
            #expect(cache.byteCount <= 400)
        }
        #expect(cache.count >= 1)
        let huge = Array(repeating: a("big.example.test", ttl: 300), count: 40)
        cache.insert(ResponseCache.Key(question("big.example.test")), reply: reply("big.example.test", answers: huge), now: 0)
        #expect(cache.lookup(ResponseCache.Key(question("big.example.test")), now: 1) == nil)
        #expect(cache.byteCount <= 400)
    }

    @Test("a reply that must not be kept leaves the cache as it was")
    func notKept() {
        let cache = ResponseCache(capacity: 4, maxTTL: 3600)
        let key = ResponseCache.Key(question("www.example.test"))
        cache.insert(key, reply: reply("www.example.test", rcode: .servFail), now: 0)
        cache.insert(key, reply: reply("www.example.test", answers: [a("www.example.test", ttl: 0)]), now: 0)
        #expect(cache.count == 0)
        #expect(cache.byteCount == 0)
    }
}

@Suite("Response cache eviction")
struct ResponseCacheEvictionTests {
    @Test("full: the oldest entry makes room, whatever order the keys hash in")
    func oldestFirst() {
        let cache = ResponseCache(capacity: 3, maxTTL: 3600)
        for index in 0..<6 {
            let owner = "n\(index).example.test"
            cache.insert(ResponseCache.Key(question(owner)), reply: reply(owner, answers: [a(owner, ttl: 300)]), now: 0)
        }
        let kept = (0..<6).filter { cache.lookup(ResponseCache.Key(question("n\($0).example.test")), now: 1) != nil }
        #expect(kept == [3, 4, 5])
    }

    @Test("one name stored again and again keeps one entry and its bytes once; the others stay")
    func replaced() {
        let cache = ResponseCache(capacity: 3, maxTTL: 3600)
        cache.insert(ResponseCache.Key(question("a.example.test")),
                     reply: reply("a.example.test", answers: [a("a.example.test", ttl: 300)]), now: 0)
        let once = cache.byteCount
        for round in 0..<1000 {
            cache.insert(ResponseCache.Key(question("b.example.test")),
                         reply: reply("b.example.test", answers: [a("b.example.test", ttl: 300)]), now: Double(round) / 1000)
        }
        #expect(cache.count == 2)
        #expect(cache.byteCount == 2 * once)
        #expect(cache.lookup(ResponseCache.Key(question("a.example.test")), now: 1) != nil)
    }

    @Test("the largest -rcache a flag or /skydns/config can give keeps and serves replies")
    func largestCapacity() {
        let cache = ResponseCache(capacity: Int.max, maxTTL: 3600)
        // Clamped: otherwise the cache grows with every name clients ask for.
        #expect(cache.capacity == ResponseCache.maxCapacity)
        #expect(cache.maxBytes == ResponseCache.maxCapacity * ResponseCache.bytesPerEntry)
        for owner in ["a.example.test", "b.example.test", "a.example.test"] {
            cache.insert(ResponseCache.Key(question(owner)), reply: reply(owner, answers: [a(owner, ttl: 300)]), now: 0)
        }
        #expect(cache.count == 2)
        #expect(cache.lookup(ResponseCache.Key(question("b.example.test")), now: 1) != nil)
    }
}
