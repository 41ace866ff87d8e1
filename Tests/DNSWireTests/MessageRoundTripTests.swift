import Testing
@testable import DNSWire

@Suite("Message round trips")
struct MessageRoundTripTests {
    static let longText = String(repeating: "0123456789", count: 60) // 600 bytes

    static let rdataCases: [(String, RData)] = [
        ("A", .a(ARecord("192.0.2.1")!)),
        ("AAAA", .aaaa(AAAARecord("2001:db8::1")!)),
        ("CNAME", .cname(CNAMERecord(target: name("target.example.com")))),
        ("NS", .ns(NSRecord(target: name("ns1.example.com")))),
        ("PTR", .ptr(PTRRecord(target: name("host.skydns.local")))),
        ("MX", .mx(MXRecord(preference: 10, exchange: name("mail.example.com")))),
        ("SRV", .srv(SRVRecord(priority: 10, weight: 20, port: 8080, target: name("node1.skydns.local")))),
        ("TXT short", .txt(TXTRecord(text: "hello world"))),
        ("TXT empty", .txt(TXTRecord(text: ""))),
        ("TXT split", .txt(TXTRecord(text: longText))),
        ("TXT raw strings", .txt(TXTRecord(strings: [[], [0x00, 0xFF], ascii("x")]))),
        ("SOA", .soa(SOARecord(mname: name("ns.dns.skydns.local"), rname: name("hostmaster.skydns.local"),
                               serial: 2_024_010_101, refresh: 28800, retry: 7200, expire: 604_800, minimum: 60))),
        ("unknown", .unknown(RecordType(99), [1, 2, 3, 0xC0, 0x0C])),
        ("unknown empty", .unknown(RecordType(65280), [])),
    ]

    @Test("every RData type survives encode and parse", arguments: rdataCases)
    func rdataRoundTrip(label: String, data: RData) throws {
        let record = ResourceRecord(name: name("example.com"), ttl: 3600, data: data)
        let message = Message(header: Header(id: 7, flags: 0x8580),
                              questions: [Question(name: name("example.com"), type: data.type)],
                              answers: [record])
        let bytes = message.encode()
        let parsed = try Message(parsing: bytes)
        #expect(parsed.answers == [record])
        #expect(parsed.answers.first?.type == data.type)
        #expect(parsed.header.answerCount == 1)
        #expect(parsed.encode() == bytes)
    }

    @Test("address records read and print text")
    func addresses() {
        #expect(ARecord("192.0.2.1")?.bytes == [192, 0, 2, 1])
        #expect(ARecord("192.0.2.1")?.description == "192.0.2.1")
        #expect(AAAARecord("2001:db8::1")?.bytes == [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1])
        #expect(AAAARecord("2001:DB8:0:0:0:0:0:1")?.description == "2001:db8::1")
        #expect(ARecord("300.1.1.1") == nil)
        #expect(ARecord("::1") == nil)
        #expect(AAAARecord("192.0.2.1") == nil)
        #expect(AAAARecord("") == nil)
    }

    @Test("TXT text is split into 255-byte strings", arguments: [
        (0, [0]), (1, [1]), (255, [255]), (256, [255, 1]), (600, [255, 255, 90]), (765, [255, 255, 255]),
    ])
    func txtSplit(length: Int, sizes: [Int]) throws {
        let text = String(repeating: "t", count: length)
        let record = TXTRecord(text: text)
        #expect(record.strings.map(\.count) == sizes)
        #expect(record.strings.flatMap { $0 } == ascii(text))
        // On the wire each string carries a length byte: RDLENGTH = text + number of strings.
        let rr = ResourceRecord(name: .root, ttl: 0, data: .txt(record))
        var writer = WireWriter()
        rr.write(to: &writer)
        let rdlength = Int(writer.bytes[9]) << 8 | Int(writer.bytes[10])
        #expect(rdlength == length + sizes.count)
        #expect(writer.count == 11 + rdlength)
    }

    @Test("A record has the exact RFC 1035 layout")
    func exactARecordBytes() {
        let record = ResourceRecord(name: name("a.b"), ttl: 0x0102_0304, data: .a(ARecord("10.0.0.1")!))
        var writer = WireWriter()
        record.write(to: &writer)
        #expect(writer.bytes == [1, 0x61, 1, 0x62, 0] + [0, 1, 0, 1, 1, 2, 3, 4, 0, 4, 10, 0, 0, 1])
    }

    static let ednsCases: [EDNS] = [
        EDNS(),
        EDNS(udpPayloadSize: 4096, dnssecOK: true),
        EDNS(udpPayloadSize: 512, version: 1),
        EDNS(udpPayloadSize: 1232, extendedRCode: 1, version: 0, dnssecOK: false,
             options: [EDNS.Option(code: 10, data: [1, 2, 3, 4, 5, 6, 7, 8]), EDNS.Option(code: 12, data: [])]),
        EDNS(udpPayloadSize: 65535, extendedRCode: 0xFF, version: 0xFF, dnssecOK: true,
             options: [EDNS.Option(code: 0xFFFF, data: [UInt8](repeating: 0xAB, count: 300))]),
        EDNS(udpPayloadSize: 100),
    ]

    @Test("EDNS survives encode and parse", arguments: ednsCases)
    func ednsRoundTrip(edns: EDNS) throws {
        let message = Message(header: Header(id: 1), questions: [Question(name: name("x.y"), type: .a)], edns: edns)
        let bytes = message.encode()
        #expect(bytes.count == 12 + 9 + edns.encodedLength)
        let parsed = try Message(parsing: bytes)
        #expect(parsed.edns == edns)
        #expect(parsed.additionals.isEmpty)
        #expect(parsed.header.additionalCount == 1)
    }

    @Test("OPT record has the exact RFC 6891 layout")
    func exactOPTBytes() {
        var writer = WireWriter()
        EDNS(udpPayloadSize: 4096, extendedRCode: 0, version: 0, dnssecOK: true).write(to: &writer)
        #expect(writer.bytes == [0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0, 0, 0])
        writer.reset()
        EDNS(udpPayloadSize: 512, extendedRCode: 2, version: 1, options: [EDNS.Option(code: 8, data: [9])])
            .write(to: &writer)
        #expect(writer.bytes == [0, 0, 41, 0x02, 0x00, 2, 1, 0, 0, 0, 5, 0, 8, 0, 1, 9])
    }

    @Test("OPT may sit anywhere in the additional section")
    func optAmongAdditionals() throws {
        let glue = [0xC0, 0x0C] + recordFixed(type: 1, rdlength: 4) + [10, 0, 0, 1]
        let bytes = headerBytes(ar: 2) + name("ns.local").wire + [0, 1, 0, 1]
            + optRecord(payload: 1400, ttl: 0x0000_8000) + glue
        let parsed = try Message(parsing: bytes)
        #expect(parsed.edns == EDNS(udpPayloadSize: 1400, dnssecOK: true))
        #expect(parsed.additionals == [ResourceRecord(name: name("ns.local"), ttl: 300, data: .a(ARecord("10.0.0.1")!))])
    }

    @Test("a message with every section round-trips")
    func fullMessage() throws {
        var header = Header(id: 0xABCD)
        header.isResponse = true
        header.isAuthoritative = true
        header.recursionDesired = true
        header.recursionAvailable = true
        header.responseCode = .nxDomain
        let message = Message(
            header: header,
            questions: [Question(name: name("missing.skydns.local"), type: .srv)],
            answers: [],
            authorities: [ResourceRecord(name: name("skydns.local"), ttl: 60, data: .soa(SOARecord(
                mname: name("ns.dns.skydns.local"), rname: name("hostmaster.skydns.local"),
                serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5)))],
            additionals: [ResourceRecord(name: name("ns.dns.skydns.local"), recordClass: .chaos, ttl: 1,
                                         data: .aaaa(AAAARecord("::1")!))],
            edns: EDNS(udpPayloadSize: 4096, dnssecOK: true))
        let parsed = try Message(parsing: message.encode())
        #expect(parsed.header.id == 0xABCD)
        #expect(parsed.header.flags == header.flags)
        #expect(parsed.header.responseCode == .nxDomain)
        #expect(parsed.questions == message.questions)
        #expect(parsed.answers.isEmpty)
        #expect(parsed.authorities == message.authorities)
        #expect(parsed.additionals == message.additionals)
        #expect(parsed.edns == message.edns)
        #expect((parsed.header.questionCount, parsed.header.answerCount, parsed.header.authorityCount,
                 parsed.header.additionalCount) == (1, 0, 1, 2))
    }

    @Test("header flag accessors set and clear exactly their bit")
    func headerFlags() {
        let table: [(String, WritableKeyPath<Header, Bool>, UInt16)] = [
            ("QR", \.isResponse, 0x8000),
            ("AA", \.isAuthoritative, 0x0400),
            ("TC", \.isTruncated, 0x0200),
            ("RD", \.recursionDesired, 0x0100),
            ("RA", \.recursionAvailable, 0x0080),
            ("CD", \.checkingDisabled, 0x0010),
        ]
        for (label, path, mask) in table {
            var header = Header()
            #expect(!header[keyPath: path], "\(label)")
            header[keyPath: path] = true
            #expect(header.flags == mask, "\(label)")
            #expect(header[keyPath: path], "\(label)")
            header[keyPath: path] = false
            #expect(header.flags == 0, "\(label)")

            var full = Header(flags: 0xFFFF)
            #expect(full[keyPath: path], "\(label)")
            full[keyPath: path] = false
            #expect(full.flags == 0xFFFF & ~mask, "\(label)")
        }
    }

    @Test("opcode and rcode occupy their fields", arguments: [
        (UInt8(0), UInt8(0), UInt16(0x0000)),
        (4, 0, 0x2000),   // NOTIFY
        (5, 3, 0x2803),   // UPDATE, NXDOMAIN
        (15, 15, 0x780F),
        (2, 5, 0x1005),
    ])
    func opcodeAndRcode(opcode: UInt8, rcode: UInt8, flags: UInt16) {
        var header = Header(flags: Header.qrBit | Header.adBit)
        header.opcode = Opcode(rawValue: opcode)
        header.responseCode = ResponseCode(rawValue: rcode)
        #expect(header.flags == flags | Header.qrBit | Header.adBit)
        #expect(header.opcode.rawValue == opcode)
        #expect(header.responseCode.rawValue == rcode)
        #expect(Header(flags: flags).opcode.rawValue == opcode)
    }

    @Test("header round-trips all 16 flag bits and counts")
    func headerRoundTrip() throws {
        let header = Header(id: 0xFFFF, flags: 0xFFFF, questionCount: 1, answerCount: 2, authorityCount: 3,
                            additionalCount: 4)
        var writer = WireWriter()
        header.write(to: &writer)
        #expect(writer.bytes == [0xFF, 0xFF, 0xFF, 0xFF, 0, 1, 0, 2, 0, 3, 0, 4])
        var reader = WireReader(writer.bytes)
        #expect(try Header.read(from: &reader) == header)
        #expect(reader.remaining == 0)
    }

    @Test("type and rcode names")
    func names() {
        #expect(RecordType.srv.description == "SRV")
        #expect(RecordType(999).description == "TYPE999")
        #expect(ResponseCode.nxDomain.description == "NXDOMAIN")
        #expect(ResponseCode(rawValue: 9).description == "RCODE9")
    }
}
