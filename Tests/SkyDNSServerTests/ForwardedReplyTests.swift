#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSWire
@testable import SkyDNSServer
import Testing

// Replies from upstreams (and the cache's copies of them) are parsed once and fitted to each
// client's own query: its ID and question, its size limit, its EDNS.

private func name(_ text: String) -> DomainName { try! DomainName(text) }

private func query(_ text: String, _ type: RecordType = .a, id: UInt16 = 0x1234, edns: EDNS? = nil,
                   flags: UInt16 = Header.rdBit) -> Message {
    Message(header: Header(id: id, flags: flags, questionCount: 1), questions: [Question(name: name(text), type: type)],
            edns: edns)
}

/// An upstream's reply to `question`: `answers` TXT records of `strings` 255-byte strings each.
private func txtReply(_ text: String, answers: Int = 1, strings: Int, id: UInt16 = 99,
                      flags: UInt16 = Header.qrBit | Header.aaBit | Header.rdBit, edns: EDNS? = nil) -> Message {
    let txt = ResourceRecord(name: name(text), ttl: 300,
                             data: .txt(TXTRecord(strings: Array(repeating: Array(repeating: 0x61, count: 255), count: strings))))
    let glue = ResourceRecord(name: name("ns.example.test"), ttl: 300, data: .a(ARecord(bytes: [192, 0, 2, 1])))
    return Message(header: Header(id: id, flags: flags), questions: [Question(name: name(text), type: .txt)],
                   answers: Array(repeating: txt, count: answers), additionals: [glue], edns: edns)
}

@Suite("Forwarded replies: fitted to the client's query")
struct ForwardedReplyFitTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var clientEDNS: UInt16?
        var transport: SkyDNSServer.Transport
        var answers: Int
        var strings: Int
        /// The size the reply must stay within.
        var limit: Int
        var truncated: Bool
        var testDescription: String { label }
    }

    @Test("size limit: client's EDNS size capped by the server's UDP limit; 512 without EDNS; 64 KiB over TCP",
          arguments: [
              Case(label: "65 KB TXT, EDNS 65535, UDP", clientEDNS: 65535, transport: .udp, answers: 1, strings: 250,
                   limit: UDPWorker.maxResponseSize, truncated: true),
              Case(label: "65 KB TXT, EDNS 65535, TCP", clientEDNS: 65535, transport: .tcp, answers: 1, strings: 250,
                   limit: 65535, truncated: false),
              Case(label: "3 KB of TXT, EDNS 1232, UDP", clientEDNS: 1232, transport: .udp, answers: 12, strings: 1,
                   limit: 1232, truncated: true),
              Case(label: "3 KB of TXT, EDNS 4096, UDP", clientEDNS: 4096, transport: .udp, answers: 12, strings: 1,
                   limit: 4096, truncated: false),
              Case(label: "3 KB of TXT, no EDNS, UDP", clientEDNS: nil, transport: .udp, answers: 12, strings: 1,
                   limit: 512, truncated: true),
              Case(label: "EDNS below 512 means 512", clientEDNS: 100, transport: .udp, answers: 1, strings: 1,
                   limit: 512, truncated: false),
          ])
    func sizes(_ c: Case) throws {
        let asked = query("Big.Example.TEST", .txt, edns: c.clientEDNS.map { EDNS(udpPayloadSize: $0) })
        let limit = ForwardedReply.sizeLimit(for: asked, transport: c.transport, maxUDPSize: UDPWorker.maxResponseSize)
        #expect(limit == c.limit)
        let bytes = ForwardedReply.fit(txtReply("big.example.test", answers: c.answers, strings: c.strings),
                                       to: asked, maxSize: limit)
        #expect(bytes.count <= c.limit)
        let sent = try Message(parsing: bytes)
        #expect(sent.header.isTruncated == c.truncated)
        // Whole records only: fewer of them when truncated, all of them otherwise.
        if c.truncated { #expect(sent.answers.count < c.answers) } else { #expect(sent.answers.count == c.answers) }
        #expect((sent.edns != nil) == (c.clientEDNS != nil))
    }

    @Test("the client's ID, question casing, RD and CD; AA cleared, RA set; the upstream's rcode")
    func header() throws {
        let asked = query("WWW.Example.TEST", .txt, id: 0xBEEF, flags: Header.rdBit | Header.cdBit)
        var reply = txtReply("www.example.test", strings: 1, id: 7)
        reply.header.responseCode = .nxDomain
        let sent = try Message(parsing: ForwardedReply.fit(reply, to: asked, maxSize: 512))
        #expect(sent.header.id == 0xBEEF)
        #expect(sent.questions.first?.name.description == "WWW.Example.TEST.")
        #expect(sent.header.isResponse && sent.header.recursionDesired && sent.header.checkingDisabled)
        #expect(!sent.header.isAuthoritative)
        #expect(sent.header.recursionAvailable)
        #expect(sent.header.responseCode == .nxDomain)
    }

    @Test("OPT only when the client sent one: our size, the client's DO, no upstream option")
    func edns() throws {
        let upstreamOPT = EDNS(udpPayloadSize: 4096, options: [EDNS.Option(code: 10, data: [1, 2, 3, 4, 5, 6, 7, 8])])
        let reply = txtReply("a.example.test", strings: 1, edns: upstreamOPT)
        let withDO = try Message(parsing: ForwardedReply.fit(reply, to: query("a.example.test", .txt,
                                                                                 edns: EDNS(udpPayloadSize: 4096, dnssecOK: true)),
                                                             maxSize: 4096))
        #expect(withDO.edns == EDNS(udpPayloadSize: 1232, dnssecOK: true))
        let plain = try Message(parsing: ForwardedReply.fit(reply, to: query("a.example.test", .txt), maxSize: 512))
        #expect(plain.edns == nil)
    }

    @Test("an extended rcode the client cannot see without OPT becomes SERVFAIL")
    func extendedRCode() throws {
        let reply = txtReply("a.example.test", strings: 1, edns: EDNS(extendedRCode: 1))
        let sent = try Message(parsing: ForwardedReply.fit(reply, to: query("a.example.test", .txt), maxSize: 512))
        #expect(sent.header.responseCode == .servFail)
    }
}

@Suite("Forwarded replies: parsed whole before use")
struct ForwardedReplyParseTests {
    static let question = Question(name: try! DomainName("www.example.test"), type: .a)

    /// A reply to www.example.test A with one A record, as bytes, then edited by `edit`.
    static func reply(_ edit: (inout [UInt8]) -> Void = { _ in }) -> [UInt8] {
        var bytes = Message(header: Header(id: 5, flags: Header.qrBit), questions: [question],
                            answers: [ResourceRecord(name: question.name, ttl: 60, data: .a(ARecord(bytes: [192, 0, 2, 10])))])
            .encode()
        edit(&bytes)
        return bytes
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var bytes: [UInt8]
        var expected: ForwardedReply.Rejection?
        var testDescription: String { label }
    }

    @Test("hostile replies are rejected", arguments: [
        Case(label: "well formed", bytes: reply(), expected: nil),
        Case(label: "ANCOUNT 200 over one record", bytes: reply { $0[7] = 200 }, expected: .malformed),
        Case(label: "compression pointer past the end", bytes: reply { $0[$0.count - 16] = 0xC0; $0[$0.count - 15] = 0xFF },
             expected: .malformed),
        Case(label: "pointer loop in the answer's owner",
             bytes: reply { bytes in
                 let owner = bytes.count - 16
                 bytes[owner] = 0xC0
                 bytes[owner + 1] = UInt8(owner)
             },
             expected: .malformed),
        Case(label: "trailing bytes", bytes: reply { $0 += [0, 0, 0] }, expected: .malformed),
        Case(label: "a query, not a response", bytes: reply { $0[2] &= 0x7F }, expected: .malformed),
        Case(label: "cut short", bytes: Array(reply().prefix(20)), expected: .malformed),
        Case(label: "another question", bytes: reply { $0[13] = UInt8(ascii: "x") }, expected: .otherQuestion),
        Case(label: "another type", bytes: reply { $0[12 + 18 + 1] = 28 }, expected: .otherQuestion),
        Case(label: "the question's casing differs", bytes: reply { $0[13] = UInt8(ascii: "W") }, expected: nil),
    ])
    func hostile(_ c: Case) {
        do throws(ForwardedReply.Rejection) {
            _ = try ForwardedReply.parse(c.bytes, asking: Self.question)
            #expect(c.expected == nil)
        } catch {
            #expect(error == c.expected)
        }
    }
}

@Suite("Forwarded replies: sane TTLs")
struct ForwardedReplyTTLTests {
    private static func record(_ owner: String, _ data: RData, ttl: UInt32 = 60) -> ResourceRecord {
        ResourceRecord(name: name(owner), ttl: ttl, data: data)
    }

    @Test("a TTL with the top bit set counts as 0 (RFC 2181 §8) in every section; others are kept")
    func negativeTTL() throws {
        let reply = Message(header: Header(id: 5, flags: Header.qrBit), questions: [ForwardedReplyParseTests.question],
                            answers: [Self.record("www.example.test", .a(ARecord(bytes: [192, 0, 2, 1])), ttl: 0xFFFF_FFFF),
                                      Self.record("www.example.test", .a(ARecord(bytes: [192, 0, 2, 2])), ttl: 0x7FFF_FFFF)],
                            authorities: [Self.record("example.test", .a(ARecord(bytes: [192, 0, 2, 3])), ttl: 0x8000_0000)],
                            additionals: [Self.record("ns.example.test", .a(ARecord(bytes: [192, 0, 2, 4])), ttl: 0x9000_0000)])
        let parsed = try ForwardedReply.parse(reply.encode(), asking: ForwardedReplyParseTests.question)
        #expect(parsed.answers.map(\.ttl) == [0, 0x7FFF_FFFF])
        #expect(parsed.authorities.map(\.ttl) == [0])
        #expect(parsed.additionals.map(\.ttl) == [0])
        #expect(ResponseCache.lifetime(of: parsed) == 0)
    }
}

@Suite("Forwarding loops")
struct ForwardingLoopTests {
    @Test("a query marked by this server has looped; one marked by another has not; too many hops have")
    func marks() {
        let me = ForwardingLoop(serverID: 1), other = ForwardingLoop(serverID: 2)
        let asked = query("www.example.test")
        #expect(!me.hasLooped(asked))
        let fromOther = other.marked(asked, advertising: 1232)
        #expect(!me.hasLooped(fromOther))
        #expect(fromOther.edns?.udpPayloadSize == 1232)
        let throughBoth = me.marked(fromOther, advertising: 1232)
        #expect(throughBoth.edns?.options == [EDNS.Option(code: ForwardingLoop.optionCode, data: [0, 0, 0, 2, 0, 0, 0, 1])])
        #expect(me.hasLooped(throughBoth))
        #expect(other.hasLooped(throughBoth))
        var chain = asked
        for id in 10..<UInt32(10 + ForwardingLoop.maxHops) { chain = ForwardingLoop(serverID: id).marked(chain, advertising: 1232) }
        #expect(me.hasLooped(chain))
    }

    @Test("the client's own options are not passed upstream; DO is")
    func clientOptions() {
        let asked = query("www.example.test", edns: EDNS(udpPayloadSize: 4096, dnssecOK: true,
                                                          options: [EDNS.Option(code: 10, data: [1, 2, 3, 4, 5, 6, 7, 8])]))
        let sent = ForwardingLoop(serverID: 3).marked(asked, advertising: 1232)
        #expect(sent.edns == EDNS(udpPayloadSize: 1232, dnssecOK: true,
                                  options: [EDNS.Option(code: ForwardingLoop.optionCode, data: [0, 0, 0, 3])]))
    }

    @Test("the client's answer, authority and additional records are not passed upstream")
    func clientRecords() {
        var asked = query("www.example.test", edns: EDNS(udpPayloadSize: 4096))
        let filler = ResourceRecord(name: name("x.example.test"), ttl: 1, data: .unknown(RecordType(0xFF00), [1, 2, 3]))
        asked.answers = [filler]
        asked.authorities = [filler, filler]
        asked.additionals = Array(repeating: filler, count: 3000)
        let sent = ForwardingLoop(serverID: 3).marked(asked, advertising: 1232)
        #expect(sent.answers.isEmpty && sent.authorities.isEmpty && sent.additionals.isEmpty)
        #expect(sent.questions == asked.questions)
        #expect(sent.encode().count == 12 + 18 + 4 + 11 + 8)
    }

    @Test("the loop reply is SERVFAIL with the option, and is recognised; an ordinary SERVFAIL is not")
    func loopReply() throws {
        let asked = ForwardingLoop(serverID: 1).marked(query("www.example.test", id: 77), advertising: 1232)
        let reply = try Message(parsing: ForwardingLoop.loopReply(to: asked))
        #expect(reply.header.id == 77 && reply.header.responseCode == .servFail)
        #expect(ForwardingLoop.isLoopReply(reply))
        var plain = reply
        plain.edns = EDNS()
        #expect(!ForwardingLoop.isLoopReply(plain))
    }

    @Test("own addresses: the listen address, and any local address behind a wildcard bind")
    func ownAddresses() throws {
        let specific = try SocketAddress("127.0.0.1:1053"), wildcard = try SocketAddress("0.0.0.0:1053")
        #expect(isOwnAddress(try SocketAddress("127.0.0.1:1053"), listen: specific))
        #expect(!isOwnAddress(try SocketAddress("127.0.0.2:1053"), listen: specific))
        #expect(!isOwnAddress(try SocketAddress("127.0.0.1:53"), listen: specific))
        #expect(isOwnAddress(try SocketAddress("127.0.0.7:1053"), listen: wildcard))
        #expect(!isOwnAddress(try SocketAddress("192.0.2.53:1053"), listen: wildcard))
        #expect(!isOwnAddress(try SocketAddress("127.0.0.7:53"), listen: wildcard))
    }
}

@Suite("Response cache")
struct ResponseCacheTests {
    @Test("a hit has its TTLs aged; the entry lives for the lowest answer TTL, capped")
    func aging() throws {
        let cache = ResponseCache(capacity: 10, maxTTL: 60)
        let asked = query("big.example.test", .txt)
        cache.insert(ResponseCache.Key(asked), reply: txtReply("big.example.test", strings: 1), now: 100)
        let hit = try #require(cache.lookup(ResponseCache.Key(query("BIG.example.test", .txt)), now: 130.5))
        #expect(hit.answers.map(\.ttl) == [270])
        #expect(cache.lookup(ResponseCache.Key(asked), now: 160) == nil)
    }

    @Test("what may be kept, and for how long (RFC 2308 §5)")
    func lifetimes() {
        let soa = ResourceRecord(name: name("example.test"), ttl: 300,
                                 data: .soa(SOARecord(mname: name("ns.example.test"), rname: name("a.example.test"),
                                                      serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 120)))
        var negative = Message(header: Header(flags: Header.qrBit), authorities: [soa])
        negative.header.responseCode = .nxDomain
        #expect(ResponseCache.lifetime(of: negative) == 120)
        #expect(ResponseCache.lifetime(of: txtReply("a.example.test", strings: 1)) == 300)
        var failed = txtReply("a.example.test", strings: 1)
        failed.header.responseCode = .servFail
        #expect(ResponseCache.lifetime(of: failed) == nil)
        var truncated = txtReply("a.example.test", strings: 1)
        truncated.header.isTruncated = true
        #expect(ResponseCache.lifetime(of: truncated) == nil)
        var bare = Message(header: Header(flags: Header.qrBit))
        bare.header.responseCode = .nxDomain
        #expect(ResponseCache.lifetime(of: bare) == nil)
    }

    @Test("the cache holds at most its capacity")
    func bounded() {
        let cache = ResponseCache(capacity: 3, maxTTL: 60)
        for index in 0..<10 {
            cache.insert(ResponseCache.Key(query("n\(index).example.test", .txt)),
                         reply: txtReply("n\(index).example.test", strings: 1), now: 0)
        }
        #expect(cache.count == 3)
    }

    @Test("the cache holds at most 1 KiB of replies per entry: 64 KiB replies cannot grow it past its budget")
    func byteBudget() throws {
        let cache = ResponseCache(capacity: 100, maxTTL: 60)
        #expect(cache.maxBytes == 100 * 1024)
        // 20 replies of about 16 KiB each: 320 KiB in all, 100 KiB kept.
        for index in 0..<20 {
            cache.insert(ResponseCache.Key(query("big\(index).example.test", .txt)),
                         reply: txtReply("big\(index).example.test", strings: 63), now: 0)
        }
        #expect(cache.byteCount <= cache.maxBytes)
        #expect(cache.count == 6)
        // The newest is kept.
        #expect(cache.lookup(ResponseCache.Key(query("big19.example.test", .txt)), now: 1) != nil)
        // Small replies make room again, one by one.
        for index in 0..<100 {
            cache.insert(ResponseCache.Key(query("n\(index).example.test", .txt)),
                         reply: txtReply("n\(index).example.test", strings: 1), now: 0)
        }
        #expect(cache.count <= 100)
        #expect(cache.byteCount <= cache.maxBytes)
        #expect(cache.lookup(ResponseCache.Key(query("n99.example.test", .txt)), now: 1) != nil)
        // A reply larger than the whole budget is not kept, and drops nothing.
        let small = ResponseCache(capacity: 10, maxTTL: 60)
        small.insert(ResponseCache.Key(query("a.example.test", .txt)), reply: txtReply("a.example.test", strings: 1), now: 0)
        small.insert(ResponseCache.Key(query("big.example.test", .txt)), reply: txtReply("big.example.test", strings: 250), now: 0)
        #expect(small.count == 1)
        #expect(small.lookup(ResponseCache.Key(query("big.example.test", .txt)), now: 1) == nil)
    }
}

@Suite("Forwarder queue")
struct JobQueueTests {
    private func job(_ index: Int) -> Forwarder.Job {
        let query = parsedQuery(Message(header: Header(id: UInt16(index), questionCount: 1),
                                        questions: [Question(name: name("a.example.test"), type: .a)]).encode())
        return Forwarder.Job(kind: .completeAnswer, query: query,
                             writer: UDPReplyWriter(query: query, fd: -1, peer: sockaddr_storage(), peerLength: 0,
                                                    recursionAvailable: true, metrics: nil))
    }

    @Test("first in, first out, through compactions; count follows")
    func fifo() {
        var queue = JobQueue()
        var next = 0, expected = 0
        for round in 0..<50 {
            for _ in 0..<(round % 7 + 100) {
                queue.push(job(next))
                next += 1
            }
            for _ in 0..<(round % 5 + 90) {
                let popped = queue.pop()
                #expect(popped?.query.view.id == UInt16(expected))
                expected += 1
            }
            #expect(queue.count == next - expected)
        }
        while queue.pop() != nil { expected += 1 }
        #expect(expected == next && queue.count == 0)
    }
}

@Suite("Forwarded replies: what completes an answer from the store")
struct ForwardedAnswersTests {
    static func a(_ owner: String, _ last: UInt8) -> ResourceRecord {
        ResourceRecord(name: try! DomainName(owner), ttl: 60, data: .a(ARecord(bytes: [192, 0, 2, last])))
    }
    static func cname(_ owner: String, _ target: String) -> ResourceRecord {
        ResourceRecord(name: try! DomainName(owner), ttl: 60, data: .cname(CNAMERecord(target: try! DomainName(target))))
    }

    @Test("the CNAME chain and the asked type at its end; nothing for other names")
    func chain() {
        let records = [Self.cname("WWW.example.test", "lb.example.test"), Self.a("lb.example.test", 1),
                       Self.a("kafka.domeos.sohu", 66), Self.a("other.example.test", 7)]
        #expect(ForwardedReply.answers(to: name("www.example.test"), type: .a, in: records) == Array(records[0...1]))
        #expect(ForwardedReply.answers(to: name("www.example.test"), type: .cname, in: records) == [records[0]])
        #expect(ForwardedReply.answers(to: name("nowhere.example.test"), type: .a, in: records).isEmpty)
    }

    @Test("a CNAME loop from an upstream ends after the chain limit")
    func loop() {
        let records = [Self.cname("a.example.test", "b.example.test"), Self.cname("b.example.test", "a.example.test")]
        #expect(ForwardedReply.answers(to: name("a.example.test"), type: .a, in: records).count == ForwardedReply.maxChain + 1)
    }
}
