import Testing
@testable import DNSWire

@Suite("Name compression")
struct CompressionTests {
    @Test("shared suffixes become pointers: exact bytes for a hand-computed message")
    func exactCompressedBytes() throws {
        let message = Message(
            header: Header(id: 0, flags: 0),
            questions: [Question(name: name("example.com"), type: .a)],
            answers: [
                ResourceRecord(name: name("www.example.com"), ttl: 60,
                               data: .cname(CNAMERecord(target: name("mail.example.com")))),
                ResourceRecord(name: name("mail.example.com"), ttl: 60, data: .a(ARecord("192.0.2.1")!)),
            ])
        let expected: [UInt8] =
            [0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0]                       // header
            + [7] + ascii("example") + [3] + ascii("com") + [0]       // @12 question name
            + [0, 1, 0, 1]
            + [3] + ascii("www") + [0xC0, 12]                          // @29 www -> example.com
            + [0, 5, 0, 1, 0, 0, 0, 60, 0, 7]
            + [4] + ascii("mail") + [0xC0, 12]                         // @45 mail -> example.com
            + [0xC0, 45]                                               // @52 whole name -> @45
            + [0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]
        let bytes = message.encode()
        #expect(bytes == expected)
        #expect(bytes.count == 68)

        let parsed = try Message(parsing: bytes)
        #expect(parsed.questions == message.questions)
        #expect(parsed.answers == message.answers)
        #expect(parsed.answers.map(\.name.description) == ["www.example.com.", "mail.example.com."])
    }

    @Test("near-identical long names cost one byte-for-byte comparison per match, not one per stored suffix")
    func nearIdenticalNames() throws {
        // 127 labels: 126 of "a" and a last one that differs. The first two fill the table of
        // suffixes; each later name shares all but its last label with 254 of them.
        func longName(_ last: String) throws -> DomainName {
            try DomainName(labels: Array(repeating: Array("a".utf8), count: 126) + [Array(last.utf8)])
        }
        let txt = RData.txt(TXTRecord(strings: [[0x78]]))
        let decoys = [try longName("c"), try longName("d")].map { ResourceRecord(name: $0, ttl: 60, data: txt) }
        let repeated = ResourceRecord(name: try longName("b"), ttl: 60, data: txt)
        let message = Message(header: Header(id: 1, flags: Header.qrBit), questions: [Question(name: name("q.example"), type: .txt)],
                              answers: decoys + Array(repeating: repeated, count: 200))
        var writer = WireWriter(capacity: 65535)
        message.encode(into: &writer)
        // The repeated name is written whole once (the table is full, so it is not stored) and
        // compared with nothing else: no pointer can be found for it.
        #expect(writer.suffixComparisons <= 1)
        let parsed = try Message(parsing: writer.bytes)
        #expect(parsed.answers == message.answers)
    }

    @Test("suffixes match byte for byte: a name keeps its own casing on the wire")
    func caseExactMatch() throws {
        let message = Message(
            questions: [Question(name: name("Example.COM"), type: .a)],
            answers: [ResourceRecord(name: name("www.Example.COM"), ttl: 1, data: .a(ARecord("10.0.0.1")!)),
                      ResourceRecord(name: name("ns.example.com"), ttl: 1, data: .a(ARecord("10.0.0.2")!))])
        let bytes = message.encode()
        // The same spelling points at the question; another spelling is written out.
        #expect(Array(bytes[29..<35]) == [3] + ascii("www") + [0xC0, 12])
        #expect(Array(bytes[49..<65]) == [2] + ascii("ns") + [7] + ascii("example") + [3] + ascii("com") + [0])
        let parsed = try Message(parsing: bytes)
        #expect(parsed.answers.map(\.name.description) == ["www.Example.COM.", "ns.example.com."])
    }

    @Test("SRV target is never compressed (RFC 2782) but can be pointed to")
    func srvTargetUncompressed() throws {
        let target = name("example.com")
        let message = Message(
            questions: [Question(name: name("_http._tcp.example.com"), type: .srv)],
            answers: [ResourceRecord(name: name("_http._tcp.example.com"), ttl: 1,
                                     data: .srv(SRVRecord(priority: 1, weight: 2, port: 80, target: target)))],
            additionals: [ResourceRecord(name: target, ttl: 1, data: .a(ARecord("10.0.0.1")!))])
        let bytes = message.encode()
        // Question name is 24 bytes at 12..<36; answer owner is a pointer at 40.
        #expect(Array(bytes[40..<42]) == [0xC0, 12])
        #expect(Array(bytes[50..<52]) == [0, 19])               // RDLENGTH: 6 + 13, no pointer
        #expect(Array(bytes[52..<58]) == [0, 1, 0, 2, 0, 80])
        #expect(Array(bytes[58..<71]) == target.wire)
        #expect(Array(bytes[71..<73]) == [0xC0, 23])            // glue points at "example.com" in the question
        #expect(bytes.count == 87)
        let parsed = try Message(parsing: bytes)
        #expect(parsed.answers == message.answers)
        #expect(parsed.additionals == message.additionals)
    }

    @Test("names inside CNAME, NS, PTR, MX and SOA are compressed", arguments: [
        (.cname(CNAMERecord(target: name("example.com"))), 2),
        (.ns(NSRecord(target: name("example.com"))), 2),
        // Another spelling: only the suffix with the same bytes ("com") is a pointer.
        (.ns(NSRecord(target: name("EXAMPLE.com"))), 8 + 2),
        (.ptr(PTRRecord(target: name("example.com"))), 2),
        (.mx(MXRecord(preference: 5, exchange: name("mx.example.com"))), 2 + 3 + 2),
        (.soa(SOARecord(mname: name("example.com"), rname: name("hostmaster.example.com"),
                        serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5)), 2 + 13 + 20),
        (.srv(SRVRecord(priority: 0, weight: 0, port: 53, target: name("example.com"))), 6 + 13),
    ] as [(RData, Int)])
    func rdataNamesCompressed(data: RData, rdlength: Int) throws {
        let message = Message(questions: [Question(name: name("example.com"), type: data.type)],
                              answers: [ResourceRecord(name: name("example.com"), ttl: 1, data: data)])
        let bytes = message.encode()
        // 12 header + 17 question + 2 owner pointer + 8 type/class/ttl, then RDLENGTH.
        #expect(Int(bytes[39]) << 8 | Int(bytes[40]) == rdlength)
        #expect(bytes.count == 41 + rdlength)
        #expect(try Message(parsing: bytes).answers == message.answers)
    }

    @Test("pointer chains through earlier compressed names decode")
    func pointerChains() throws {
        let names = ["example.com", "b.example.com", "a.b.example.com", "z.a.b.example.com", "com", "other.org"]
        let message = Message(
            questions: [Question(name: name(names[0]), type: .a)],
            answers: names.map { ResourceRecord(name: name($0), ttl: 1, data: .cname(CNAMERecord(target: name("A.B.example.COM")))) })
        let bytes = message.encode()
        let uncompressed = 12 + 17 + names.reduce(0) { $0 + name($1).wire.count + 10 + 17 }
        #expect(bytes.count < uncompressed)
        let parsed = try Message(parsing: bytes)
        #expect(parsed.answers == message.answers)
        // Names decode through pointers to the same bytes, so each keeps its own spelling.
        #expect(parsed.answers.map(\.name.description) == names.map { $0 + "." })
        #expect(parsed.answers.map { presentation(of: $0.data) } == names.map { _ in "A.B.example.COM." })
    }

    private func presentation(of data: RData) -> String {
        if case .cname(let cname) = data { return cname.target.description }
        return ""
    }

    /// Regression: the writer used to search the name it was writing for its own later suffixes,
    /// and for a name whose leading labels repeat ("0.0.0.10.in-addr.arpa") it read past the end
    /// of its buffer and trapped.
    @Test("names with repeated leading labels encode", arguments: [
        "a.a", "A.a.A", "0.0.0.10.in-addr.arpa", "www.www.example.com", "x.y.x.y", "local.skydns.local",
    ])
    func repeatedLabels(text: String) throws {
        var writer = WireWriter()
        writer.writeName(name(text))
        #expect(writer.bytes == name(text).wire, "nothing earlier to point to")
        writer.writeName(name(text))
        #expect(Array(writer.bytes.suffix(2)) == [0xC0, 0])

        let message = Message(questions: [Question(name: name("example.com"), type: .ptr)],
                              answers: [ResourceRecord(name: name("example.com"), ttl: 1,
                                                       data: .ptr(PTRRecord(target: name(text))))])
        #expect(try Message(parsing: message.encode()).answers == message.answers)
    }

    @Test("writer: compress false writes labels yet registers suffixes")
    func writerUncompressedStillRegisters() {
        var writer = WireWriter()
        writer.writeName(name("a.b"))
        writer.writeName(name("a.b"), compress: false)
        writer.writeName(name("x.a.b"))
        #expect(writer.bytes == [1, 0x61, 1, 0x62, 0] + [1, 0x61, 1, 0x62, 0] + [1, 0x78, 0xC0, 0])
        writer.writeName(.root)
        #expect(writer.bytes.last == 0)
        #expect(writer.count == 15)
    }

    @Test("writer: rolled-back names are not pointer targets")
    func writerRollBack() {
        var writer = WireWriter()
        writer.writeName(name("example.com"))
        let mark = writer.mark
        writer.writeName(name("foo.bar"))
        writer.rollBack(to: mark)
        #expect(writer.count == 13)
        writer.writeName(name("x.foo.bar"))
        #expect(Array(writer.bytes[13...]) == name("x.foo.bar").wire)
        writer.writeName(name("y.example.com"))
        #expect(Array(writer.bytes.suffix(4)) == [1, 0x79, 0xC0, 0])
    }

    @Test("writer: nothing past offset 0x3FFF is a pointer target; reset forgets all")
    func writerPointerRange() {
        var writer = WireWriter()
        writer.writeBytes([UInt8](repeating: 0, count: 0x4000))
        writer.writeName(name("a.b"))
        writer.writeName(name("a.b"))
        #expect(Array(writer.bytes[0x4000...]) == name("a.b").wire + name("a.b").wire)

        writer.reset()
        #expect(writer.count == 0)
        writer.writeBytes([UInt8](repeating: 0, count: 0x3FFF))
        writer.writeName(name("a.b"))
        writer.writeName(name("a.b"))
        #expect(Array(writer.bytes[0x3FFF...]) == name("a.b").wire + [0xFF, 0xFF])
    }

    @Test("writer: integers are big-endian")
    func writerIntegers() throws {
        var writer = WireWriter()
        writer.writeUInt8(0x01)
        writer.writeUInt16(0x0203)
        writer.writeUInt32(0x0405_0607)
        writer.setUInt16(0xAABB, at: 1)
        #expect(writer.bytes == [1, 0xAA, 0xBB, 4, 5, 6, 7])
        var reader = WireReader(writer.bytes)
        #expect(try reader.readUInt8() == 1)
        #expect(try reader.readUInt16() == 0xAABB)
        #expect(try reader.readUInt32() == 0x0405_0607)
        #expect(throws: WireError.truncated) { try reader.readUInt8() }
    }
}
