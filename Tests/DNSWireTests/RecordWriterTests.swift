import Testing
@testable import DNSWire

@Suite("WireWriter.writeRecord: a record owned by a name already in the message")
struct RecordWriterTests {
    static let soa = SOARecord(mname: name("ns.dns.example.com"), rname: name("hostmaster.example.com"), serial: 7,
                               refresh: 28800, retry: 7200, expire: 604800, minimum: 60)

    @Test("an SOA through the codec's writer: pointer owner, RDLENGTH, names whole; it parses back")
    func soaRecord() throws {
        var writer = WireWriter()
        Header(id: 1, flags: Header.qrBit, questionCount: 1, authorityCount: 1).write(to: &writer)
        Question(name: name("x.example.com"), type: .a).write(to: &writer)
        // The apex `example.com` starts 2 bytes into the question name (after `\u{1}x`).
        #expect(writer.writeRecord(ownerOffset: 14, type: .soa, ttl: 60) { Self.soa.write(to: &$0, compress: false) })
        let rdataLength = 20 + 24 + 20
        #expect(writer.count == 12 + 19 + 12 + rdataLength)
        #expect(writer.uint16(at: 12 + 19 + 10) == UInt16(rdataLength))
        let message = try Message(parsing: writer.bytes)
        let record = try #require(message.authorities.first)
        #expect(record.name == name("example.com") && record.ttl == 60)
        #expect(record.data == .soa(Self.soa))
    }

    @Test("an owner offset a pointer cannot hold writes nothing", arguments: [0x4000, 0xFFFF, -1])
    func ownerOutOfRange(offset: Int) {
        var writer = WireWriter()
        writer.writeBytes([UInt8](repeating: 0, count: 12))
        #expect(!writer.writeRecord(ownerOffset: offset, type: .a, ttl: 1) { $0.writeUInt32(0) })
        #expect(writer.count == 12)
    }

    @Test("writeSections: additional records left out do not truncate; an authority record does")
    func sections() {
        let a = ResourceRecord(name: name("example.com"), ttl: 60, data: .a(ARecord("192.0.2.1")!))
        for (limit, expected) in [(12 + 27 + 16 + 16, WireWriter.SectionCounts(answers: 1, authorities: 1, additionals: 1, truncated: false)),
                                  (12 + 27 + 16 + 15, WireWriter.SectionCounts(answers: 1, authorities: 1, additionals: 0, truncated: false)),
                                  (12 + 27 + 15, WireWriter.SectionCounts(answers: 1, authorities: 0, additionals: 0, truncated: true)),
                                  (12, WireWriter.SectionCounts(answers: 0, authorities: 0, additionals: 0, truncated: true))] {
            var writer = WireWriter()
            writer.writeBytes([UInt8](repeating: 0, count: 12))
            // The first record is 27 bytes (its owner whole), the others 16 (a pointer to it).
            let written = writer.writeSections(answers: [a], authorities: [a], additionals: [a], limit: limit)
            #expect(written.answers == expected.answers && written.authorities == expected.authorities)
            #expect(written.additionals == expected.additionals && written.truncated == expected.truncated, "limit \(limit)")
            #expect(writer.count <= limit)
        }
    }
}
