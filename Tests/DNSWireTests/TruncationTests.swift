import Testing
@testable import DNSWire

@Suite("Message.encode(maxSize:) truncation")
struct TruncationTests {
    static let apex = name("example.com")

    static func a(_ last: UInt8, owner: DomainName = apex) -> ResourceRecord {
        ResourceRecord(name: owner, ttl: 60, data: .a(ARecord("192.0.2.\(last)")!))
    }

    /// 12 header + 17 question + 3 × 16 answers + 5 × 18 additionals (each its own RRset, owned
    /// by a.example.com … e.example.com) + 11 OPT = 178 bytes.
    static let withEDNS = Message(
        header: Header(id: 9, flags: Header.qrBit | Header.aaBit),
        questions: [Question(name: apex, type: .a)],
        answers: (1...3).map { a($0) },
        additionals: (11...15).map { a($0, owner: name("\(Character(Unicode.Scalar($0 + 86))).example.com")) },
        edns: EDNS(udpPayloadSize: 4096, dnssecOK: true))

    @Test("with EDNS: additional goes first, then whole answers with TC; OPT always kept", arguments: [
        // maxSize, answers, additionals (without OPT), TC, encoded size
        (65535, 3, 5, false, 178),
        (178, 3, 5, false, 178),
        (177, 3, 4, false, 160),
        (124, 3, 2, false, 124),
        (123, 3, 1, false, 106),
        (100, 3, 0, false, 88),
        (88, 3, 0, false, 88),
        (87, 2, 0, true, 72),
        (56, 1, 0, true, 56),
        (55, 0, 0, true, 40),
    ])
    func truncatesWithEDNS(maxSize: Int, answers: Int, additionals: Int, truncated: Bool, size: Int) throws {
        let bytes = Self.withEDNS.encode(maxSize: maxSize)
        #expect(bytes.count == size)
        #expect(bytes.count <= maxSize)
        let parsed = try Message(parsing: bytes)
        #expect(parsed.header.isTruncated == truncated)
        #expect(parsed.header.isAuthoritative)
        #expect(parsed.header.answerCount == UInt16(answers))
        #expect(parsed.header.additionalCount == UInt16(additionals + 1))
        #expect(parsed.answers == Array(Self.withEDNS.answers.prefix(answers)))
        #expect(parsed.additionals == Array(Self.withEDNS.additionals.prefix(additionals)))
        #expect(parsed.edns == Self.withEDNS.edns)
        #expect(parsed.questions == Self.withEDNS.questions)
    }

    /// The additional section holds whole RRsets only (no TC marks what it leaves out, so a part
    /// would be taken for the whole), each in the place of its first record: 12 + 17 + 3 × 16
    /// answers + 11 OPT = 88 bytes, and each glue RRset 20 + 16 bytes.
    @Test("an additional RRset is written whole or not at all", arguments: [
        // maxSize, additionals (without OPT), encoded size
        (160, ["ns1 192.0.2.11", "ns1 192.0.2.12", "ns2 192.0.2.21", "ns2 192.0.2.22"], 160),
        (159, ["ns1 192.0.2.11", "ns1 192.0.2.12"], 124),
        (124, ["ns1 192.0.2.11", "ns1 192.0.2.12"], 124),
        (123, [], 88),
    ])
    func additionalRRsetsWhole(maxSize: Int, additionals: [String], size: Int) throws {
        let ns1 = name("ns1.example.com"), ns2 = name("ns2.example.com")
        let message = Message(header: Header(id: 11, flags: Header.qrBit), questions: [Question(name: Self.apex, type: .a)],
                              answers: (1...3).map { Self.a($0) },
                              additionals: [Self.a(11, owner: ns1), Self.a(21, owner: ns2), Self.a(12, owner: ns1),
                                            Self.a(22, owner: ns2)],
                              edns: EDNS(udpPayloadSize: 4096))
        let bytes = message.encode(maxSize: maxSize)
        #expect(bytes.count == size)
        let parsed = try Message(parsing: bytes)
        #expect(!parsed.header.isTruncated)
        #expect(parsed.answers.count == 3)
        #expect(parsed.additionals.map { record -> String in
            guard case .a(let a) = record.data else { return "?" }
            return "\(record.name.labels[0].map { Character(Unicode.Scalar($0)) }.map(String.init).joined()) \(a)"
        } == additionals)
    }

    /// 12 + 17 + 2 × 16 answers + 2 × 18 NS + 16 glue = 113 bytes, no EDNS.
    static let withAuthority = Message(
        header: Header(id: 10, flags: Header.qrBit),
        questions: [Question(name: apex, type: .a)],
        answers: [a(1), a(2)],
        authorities: [ResourceRecord(name: apex, ttl: 60, data: .ns(NSRecord(target: name("ns1.example.com")))),
                      ResourceRecord(name: apex, ttl: 60, data: .ns(NSRecord(target: name("ns2.example.com"))))],
        additionals: [a(53, owner: name("ns1.example.com"))])

    @Test("without EDNS: authority records are cut whole and set TC", arguments: [
        // maxSize, answers, authorities, additionals, TC, encoded size
        (113, 2, 2, 1, false, 113),
        (112, 2, 2, 0, false, 97),
        (97, 2, 2, 0, false, 97),
        (96, 2, 1, 0, true, 79),
        (78, 2, 0, 0, true, 61),
        (60, 1, 0, 0, true, 45),
        (29, 0, 0, 0, true, 29),
    ])
    func truncatesAuthority(maxSize: Int, answers: Int, authorities: Int, additionals: Int, truncated: Bool,
                            size: Int) throws {
        let bytes = Self.withAuthority.encode(maxSize: maxSize)
        #expect(bytes.count == size)
        let parsed = try Message(parsing: bytes)
        #expect(parsed.header.isTruncated == truncated)
        #expect(parsed.answers == Array(Self.withAuthority.answers.prefix(answers)))
        #expect(parsed.authorities == Array(Self.withAuthority.authorities.prefix(authorities)))
        #expect(parsed.additionals == Array(Self.withAuthority.additionals.prefix(additionals)))
        #expect(parsed.edns == nil)
    }

    @Test("every size limit gives a parseable, maximal message within the limit")
    func sweep() throws {
        for message in [Self.withEDNS, Self.withAuthority] {
            let full = message.encode()
            let floor = 29 + (message.edns?.encodedLength ?? 0)
            var previousSize = 0
            for maxSize in floor...full.count {
                let bytes = message.encode(maxSize: maxSize)
                #expect(bytes.count <= maxSize)
                #expect(bytes.count >= previousSize, "output never shrinks as the limit grows")
                previousSize = bytes.count
                let parsed = try Message(parsing: bytes)
                let complete = parsed.answers.count == message.answers.count
                    && parsed.authorities.count == message.authorities.count
                #expect(parsed.header.isTruncated == !complete)
                if !complete { #expect(parsed.additionals.isEmpty) }
                #expect(parsed.edns == message.edns)
                #expect(Array(message.answers.prefix(parsed.answers.count)) == parsed.answers)
                #expect(Array(message.additionals.prefix(parsed.additionals.count)) == parsed.additionals)
            }
            #expect(message.encode(maxSize: full.count) == full)
        }
    }

    @Test("a reused writer gives the same bytes as a fresh one")
    func reusedWriter() {
        var writer = WireWriter(capacity: 64)
        Self.withAuthority.encode(into: &writer, maxSize: 96)
        Self.withEDNS.encode(into: &writer)
        #expect(writer.bytes == Self.withEDNS.encode())
        Self.withEDNS.encode(into: &writer, maxSize: 87)
        #expect(writer.bytes == Self.withEDNS.encode(maxSize: 87))
    }
}
