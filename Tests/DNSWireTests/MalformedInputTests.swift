import Testing
@testable import DNSWire

/// A hand-built message that `Message(parsing:)` must reject with `error`.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    var label: String
    var bytes: [UInt8]
    var error: WireError
    var testDescription: String { label }
}

/// The question "a. IN A" (7 bytes at 12..<19).
let questionA: [UInt8] = [1, 0x61, 0, 0, 1, 0, 1]
let label63a: [UInt8] = [63] + [UInt8](repeating: 0x61, count: 63)
let label63b: [UInt8] = [63] + [UInt8](repeating: 0x62, count: 63)

/// Two records: an opaque RDATA at 23 holding the name "a" and then `count - 1` pointers, each
/// to the one before it (the first to "a"); the second record's owner points at the last one,
/// so that name is reached through `count` pointers.
func pointerChain(_ count: Int) -> [UInt8] {
    var chain: [UInt8] = [1, 0x61, 0]
    for index in 0..<(count - 1) { chain += be16(0xC000 | UInt16(index == 0 ? 23 : 26 + 2 * (index - 1))) }
    let last = UInt16(count == 1 ? 23 : 26 + 2 * (count - 2))
    return headerBytes(qd: 0, an: 2) + [0] + recordFixed(type: 0xFF00, rdlength: UInt16(chain.count)) + chain
        + be16(0xC000 | last) + recordFixed(type: 1, rdlength: 4) + [1, 2, 3, 4]
}

@Suite("Malformed input")
struct MalformedInputTests {
    static let truncation: [MalformedCase] = [
        MalformedCase(label: "empty", bytes: [], error: .truncated),
        MalformedCase(label: "header cut at 11 bytes", bytes: Array(headerBytes().prefix(11)), error: .truncated),
        MalformedCase(label: "question name cut", bytes: headerBytes() + [7] + ascii("exa"), error: .truncated),
        MalformedCase(label: "question name without terminator", bytes: headerBytes() + [1, 0x61], error: .truncated),
        MalformedCase(label: "question missing class", bytes: headerBytes() + [0, 0, 1], error: .truncated),
        MalformedCase(label: "QDCOUNT beyond data", bytes: headerBytes(qd: 2) + questionA, error: .truncated),
        MalformedCase(label: "pointer cut after first byte", bytes: headerBytes() + [0xC0], error: .truncated),
        MalformedCase(label: "record cut inside TTL",
                      bytes: headerBytes(qd: 0, an: 1) + [0, 0, 1, 0, 1, 0, 0], error: .truncated),
        MalformedCase(label: "record without RDLENGTH",
                      bytes: headerBytes(qd: 0, an: 1) + [0, 0, 1, 0, 1, 0, 0, 0, 1], error: .truncated),
        MalformedCase(label: "RDATA shorter than RDLENGTH",
                      bytes: headerBytes(qd: 0, an: 1) + [0] + recordFixed(type: 1, rdlength: 4) + [1, 2],
                      error: .truncated),
        MalformedCase(label: "ANCOUNT beyond data", bytes: headerBytes(an: 1) + questionA, error: .truncated),
        MalformedCase(label: "ARCOUNT beyond data", bytes: headerBytes(ar: 1) + questionA, error: .truncated),
        MalformedCase(label: "SRV RDATA name runs off the end",
                      bytes: headerBytes(qd: 0, an: 1) + [0] + recordFixed(type: 33, rdlength: 8)
                          + [0, 1, 0, 1, 0, 53, 3, 0x61],
                      error: .truncated),
        MalformedCase(label: "EDNS option longer than OPT RDATA",
                      bytes: headerBytes(ar: 1) + questionA + optRecord(data: [0, 10, 0, 8, 1, 2]),
                      error: .truncated),
        MalformedCase(label: "EDNS option header cut",
                      bytes: headerBytes(ar: 1) + questionA + optRecord(data: [0, 10, 0]), error: .truncated),
    ]

    static let pointers: [MalformedCase] = [
        MalformedCase(label: "pointer to itself",
                      bytes: headerBytes() + [0xC0, 12, 0, 1, 0, 1], error: .pointerLoop),
        MalformedCase(label: "label then pointer back to the name's start",
                      bytes: headerBytes() + [1, 0x61, 0xC0, 12, 0, 1, 0, 1], error: .pointerLoop),
        MalformedCase(label: "three labels then pointer back to the first",
                      bytes: headerBytes() + [1, 0x62, 1, 0x63, 1, 0x61, 0xC0, 12, 0, 1, 0, 1], error: .pointerLoop),
        MalformedCase(label: "pointer into the middle of its own label",
                      bytes: headerBytes() + [2, 0, 0, 0xC0, 13, 0, 1, 0, 1], error: .pointerLoop),
        // An opaque RDATA at 23 holds "a" and a pointer back to 23; the next owner (at 27) points into it.
        MalformedCase(label: "pointer into a loop hidden in opaque RDATA",
                      bytes: headerBytes(qd: 0, an: 2) + [0] + recordFixed(type: 0xFF00, rdlength: 4)
                          + [1, 0x61, 0xC0, 23] + [0xC0, 23] + recordFixed(type: 1, rdlength: 4) + [1, 2, 3, 4],
                      error: .pointerLoop),
        // Two pointers that name each other: an opaque RDATA at 23 holds C0 19, the next owner at 25 is
        // C0 17. Following 25 -> 23 is allowed; 23 -> 25 goes forward, which is where the loop is refused.
        MalformedCase(label: "two pointers to each other",
                      bytes: headerBytes(qd: 0, an: 2) + [0] + recordFixed(type: 0xFF00, rdlength: 2) + [0xC0, 25]
                          + [0xC0, 23] + recordFixed(type: 1, rdlength: 4) + [1, 2, 3, 4],
                      error: .forwardPointer),
        MalformedCase(label: "forward pointer",
                      bytes: headerBytes() + [0xC0, 18, 0, 1, 0, 1, 1, 0x61, 0], error: .forwardPointer),
        MalformedCase(label: "name reached through 128 pointers, each naming the one before",
                      bytes: pointerChain(128), error: .tooManyPointers),
        MalformedCase(label: "pointer past the end",
                      bytes: headerBytes() + [0xFF, 0xFF, 0, 1, 0, 1], error: .forwardPointer),
    ]

    static let labels: [MalformedCase] = [
        MalformedCase(label: "label type 0x40 (length 64)",
                      bytes: headerBytes() + [0x40] + [UInt8](repeating: 0x61, count: 64) + [0, 0, 1, 0, 1],
                      error: .badLabelType(0x40)),
        MalformedCase(label: "label type 0x7F", bytes: headerBytes() + [0x7F, 0x61, 0], error: .badLabelType(0x7F)),
        MalformedCase(label: "label type 0x80", bytes: headerBytes() + [0x80, 0x61, 0], error: .badLabelType(0x80)),
        MalformedCase(label: "label type 0xBF", bytes: headerBytes() + [0xBF, 0x61, 0], error: .badLabelType(0xBF)),
        MalformedCase(label: "256-byte name from four 63-byte labels",
                      bytes: headerBytes() + label63a + label63a + label63a + label63a + [0, 0, 1, 0, 1],
                      error: .nameTooLong),
        MalformedCase(label: "257-byte name from 128 one-byte labels",
                      bytes: headerBytes() + Array([[UInt8]](repeating: [1, 0x61], count: 128).joined())
                          + [0, 0, 1, 0, 1],
                      error: .nameTooLong),
        // First question is 129 bytes at 12; the second adds 128 bytes of labels before pointing at it.
        MalformedCase(label: "257-byte name through a pointer",
                      bytes: headerBytes(qd: 2) + label63a + label63b + [0, 0, 1, 0, 1]
                          + label63b + label63a + [0xC0, 12, 0, 1, 0, 1],
                      error: .nameTooLong),
    ]

    static let records: [MalformedCase] = [
        MalformedCase(label: "A with RDLENGTH 5",
                      bytes: headerBytes(qd: 0, an: 1) + [0] + recordFixed(type: 1, rdlength: 5) + [1, 2, 3, 4, 5],
                      error: .badRDataLength),
        MalformedCase(label: "A with RDLENGTH 3",
                      bytes: headerBytes(qd: 0, an: 1) + [0] + recordFixed(type: 1, rdlength: 3) + [1, 2, 3],
                      error: .badRDataLength),
        MalformedCase(label: "AAAA with RDLENGTH 4",
                      bytes: headerBytes(qd: 0, an: 1) + [0] + recordFixed(type: 28, rdlength: 4) + [1, 2, 3, 4],
                      error: .badRDataLength),
        MalformedCase(label: "CNAME shorter than RDLENGTH",
                      bytes: headerBytes(qd: 0, an: 1) + [0] + recordFixed(type: 5, rdlength: 5) + [1, 0x61, 0, 9, 9],
                      error: .badRDataLength),
        MalformedCase(label: "CNAME longer than RDLENGTH",
                      bytes: headerBytes(qd: 0, an: 1) + [0] + recordFixed(type: 5, rdlength: 1) + [1, 0x61, 0],
                      error: .badRDataLength),
        MalformedCase(label: "MX with extra bytes",
                      bytes: headerBytes(qd: 0, an: 1) + [0] + recordFixed(type: 15, rdlength: 6) + [0, 10, 0, 1, 2, 3],
                      error: .badRDataLength),
        MalformedCase(label: "SOA with RDLENGTH 10",
                      bytes: headerBytes(qd: 0, an: 1) + [0] + recordFixed(type: 6, rdlength: 10) + [0, 0]
                          + [UInt8](repeating: 7, count: 20),
                      error: .badRDataLength),
        MalformedCase(label: "TXT string overruns RDATA",
                      bytes: headerBytes(qd: 0, an: 1) + [0] + recordFixed(type: 16, rdlength: 3) + [5, 0x61, 0x62, 0x63, 0x64, 0x65],
                      error: .badRDataLength),
        MalformedCase(label: "two OPT records",
                      bytes: headerBytes(ar: 2) + questionA + optRecord() + optRecord(), error: .multipleOPT),
        MalformedCase(label: "OPT owned by a compressed name",
                      bytes: headerBytes(ar: 1) + questionA + optRecord(owner: [0xC0, 12]), error: .badOPTOwner),
        MalformedCase(label: "OPT owned by a.",
                      bytes: headerBytes(ar: 1) + questionA + optRecord(owner: [1, 0x61, 0]), error: .badOPTOwner),
        MalformedCase(label: "one trailing byte", bytes: headerBytes() + questionA + [0], error: .trailingData),
        MalformedCase(label: "an uncounted record",
                      bytes: headerBytes() + questionA + [0xC0, 12] + recordFixed(type: 1, rdlength: 4) + [1, 2, 3, 4],
                      error: .trailingData),
    ]

    @Test("truncated input", arguments: truncation)
    func truncated(_ testCase: MalformedCase) { expectRejected(testCase) }

    @Test("bad compression pointers", arguments: pointers)
    func badPointers(_ testCase: MalformedCase) { expectRejected(testCase) }

    @Test("bad labels and over-long names", arguments: labels)
    func badLabels(_ testCase: MalformedCase) { expectRejected(testCase) }

    @Test("bad records and sections", arguments: records)
    func badRecords(_ testCase: MalformedCase) { expectRejected(testCase) }

    func expectRejected(_ testCase: MalformedCase) {
        #expect(throws: testCase.error) { try Message(parsing: testCase.bytes) }
        // The hot-path parser sees the same bytes and must not trap either.
        let parsed = parseQuery(testCase.bytes)
        #expect(parsed.canaryIntact)
    }

    @Test("the longest names are accepted, directly and through a pointer")
    func longestNames() throws {
        // 3 × 64 + 62 + 1 = 255 bytes.
        let label61: [UInt8] = [61] + [UInt8](repeating: 0x63, count: 61)
        let direct = headerBytes() + label63a + label63a + label63a + label61 + [0, 0, 1, 0, 1]
        #expect(try Message(parsing: direct).questions[0].name.wire.count == 255)

        let viaPointer = headerBytes(qd: 2) + label63a + label63b + [0, 0, 1, 0, 1]
            + label63b + label61 + [0xC0, 12, 0, 1, 0, 1]
        let parsed = try Message(parsing: viaPointer)
        #expect(parsed.questions[1].name.wire.count == 255)
        #expect(parsed.questions[1].name.isSubdomain(of: parsed.questions[0].name))
    }

    @Test("a name reached through 127 pointers, one per possible label, is still read")
    func longestPointerChain() throws {
        let parsed = try Message(parsing: pointerChain(WireReader.maxPointers))
        #expect(parsed.answers[1].name == name("a"))
    }

    @Test("a reader stops after a pointer and resumes behind it")
    func readerResumesAfterPointer() throws {
        let bytes = headerBytes() + [1, 0x61, 0] + [1, 0x62, 0xC0, 12] + [0xEE]
        var reader = WireReader(bytes, offset: 15)
        #expect(try reader.readName() == name("b.a"))
        #expect(reader.offset == 19)
        #expect(try reader.readUInt8() == 0xEE)
        #expect(throws: WireError.truncated) { try reader.readBytes(1) }
        #expect(throws: WireError.truncated) { try reader.readBytes(-1) }
    }
}
