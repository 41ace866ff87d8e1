import Testing
@testable import DNSWire

@Suite("QueryParser")
struct QueryParserTests {
    @Test("reads id, flags, lower-cased name, type, class and the echo range")
    func basicQuery() throws {
        let packet = queryMessage("WwW.Example.COM", type: .aaaa, id: 0x4242, flags: Header.rdBit | Header.cdBit)
        let parsed = parseQuery(packet)
        let view = try #require(parsed.view)
        #expect(parsed.canaryIntact)
        #expect(view.id == 0x4242)
        #expect(view.flags == Header.rdBit | Header.cdBit)
        #expect(view.recursionDesired)
        #expect(view.checkingDisabled)
        #expect(view.opcode == .query)
        #expect(parsed.name == name("www.example.com").wire)
        #expect(view.nameLength == 17)
        #expect(view.type == .aaaa)
        #expect(view.recordClass == .in)
        #expect(view.questionEnd == 12 + 17 + 4)
        #expect(view.questionEnd == packet.count)
        // The echo range holds the question exactly as the client sent it, case included.
        #expect(Array(packet[12..<view.questionEnd]) == name("WwW.Example.COM").wire + [0, 28, 0, 1])
        #expect(view.edns == nil)
        #expect(view.udpLimit == 512)
    }

    @Test("root, class CH and unknown types pass through", arguments: [
        (".", RecordType.soa, RecordClass.in),
        ("version.bind", RecordType.txt, RecordClass.chaos),
        ("x.skydns.local", RecordType(65000), RecordClass.any),
    ])
    func unusualQuestions(qname: String, type: RecordType, recordClass: RecordClass) throws {
        let packet = Message(header: Header(id: 1), questions: [Question(name: name(qname), type: type, recordClass: recordClass)])
            .encode()
        let parsed = parseQuery(packet)
        let view = try #require(parsed.view)
        #expect(parsed.name == name(qname).lowercased().wire)
        #expect(view.type == type)
        #expect(view.recordClass == recordClass)
    }

    @Test("EDNS fields and the UDP limit", arguments: [
        (nil, 512, nil),
        (EDNS(udpPayloadSize: 0), 512, EDNSView(udpPayloadSize: 0, version: 0, dnssecOK: false)),
        (EDNS(udpPayloadSize: 100), 512, EDNSView(udpPayloadSize: 100, version: 0, dnssecOK: false)),
        (EDNS(udpPayloadSize: 511, dnssecOK: true), 512, EDNSView(udpPayloadSize: 511, version: 0, dnssecOK: true)),
        (EDNS(udpPayloadSize: 512), 512, EDNSView(udpPayloadSize: 512, version: 0, dnssecOK: false)),
        (EDNS(udpPayloadSize: 1232, version: 1), 1232, EDNSView(udpPayloadSize: 1232, version: 1, dnssecOK: false)),
        (EDNS(udpPayloadSize: 4096, dnssecOK: true), 4096, EDNSView(udpPayloadSize: 4096, version: 0, dnssecOK: true)),
        (EDNS(udpPayloadSize: 65535, extendedRCode: 0xFF, version: 0xFE, dnssecOK: true,
              options: [EDNS.Option(code: 10, data: [1, 2, 3, 4, 5, 6, 7, 8])]),
         65535, EDNSView(udpPayloadSize: 65535, version: 0xFE, dnssecOK: true)),
    ] as [(EDNS?, Int, EDNSView?)])
    func ednsAndLimit(edns: EDNS?, limit: Int, expected: EDNSView?) throws {
        let packet = queryMessage("skydns.local", edns: edns)
        let view = try #require(parseQuery(packet).view)
        #expect(view.edns.map { EDNSView(udpPayloadSize: $0.udpPayloadSize, version: $0.version, dnssecOK: $0.dnssecOK) }
                == expected)
        // The options are located, and read back only on request.
        if let edns, let found = view.edns {
            #expect(packet.withUnsafeBytes { found.readOptions(in: $0) } == edns.options)
        }
        #expect(view.udpLimit == limit)
        #expect(view.questionEnd == 12 + 14 + 4)
    }

    @Test("OPT found after other records; OPT outside the additional section is ignored")
    func optPlacement() throws {
        let glue = [0xC0, 12] + recordFixed(type: 1, rdlength: 4) + [10, 0, 0, 1]
        let question = name("a.b").wire + [0, 1, 0, 1]
        let afterGlue = headerBytes(an: 1, ns: 1, ar: 2) + question + glue + glue + glue + optRecord(payload: 2048)
        #expect(try #require(parseQuery(afterGlue).view).udpLimit == 2048)

        let optInAnswer = headerBytes(an: 1) + question + optRecord(payload: 2048)
        let view = try #require(parseQuery(optInAnswer).view)
        #expect(view.edns == nil)
        #expect(view.udpLimit == 512)
    }

    @Test("responses and runts are dropped", arguments: [
        [],
        [0x12],
        Array(headerBytes().prefix(11)),
        headerBytes(flags: 0x8000) + questionA,
        headerBytes(flags: 0x8400, qd: 0),
        headerBytes(flags: 0xA000, qd: 2), // QR wins over opcode and counts
    ] as [[UInt8]])
    func dropped(packet: [UInt8]) {
        let parsed = parseQuery(packet)
        #expect(parsed.isDrop)
        #expect(parsed.canaryIntact)
    }

    @Test("malformed queries are rejected with FORMERR, echoing id and flags", arguments: [
        ("QDCOUNT 0", headerBytes(qd: 0)),
        ("QDCOUNT 0 with a question", headerBytes(qd: 0) + questionA),
        ("QDCOUNT 2", headerBytes(qd: 2) + questionA + questionA),
        ("header only", headerBytes()),
        ("name cut", headerBytes() + [3, 0x61, 0x62]),
        ("name without terminator", headerBytes() + [1, 0x61]),
        ("type and class missing", headerBytes() + [1, 0x61, 0]),
        ("class cut", headerBytes() + [1, 0x61, 0, 0, 1, 0]),
        ("compressed question name", headerBytes() + [1, 0x61, 0xC0, 12, 0, 1, 0, 1]),
        ("question name is a pointer", headerBytes() + [0xC0, 12, 0, 1, 0, 1]),
        ("label type 0x40", headerBytes() + [0x40] + [UInt8](repeating: 0x61, count: 64) + [0, 0, 1, 0, 1]),
        ("label type 0x80", headerBytes() + [0x80, 0x61, 0, 0, 1, 0, 1]),
        ("256-byte name", headerBytes() + label63a + label63a + label63a + label63a + [0, 0, 1, 0, 1]),
        ("257-byte name of 1-byte labels",
         headerBytes() + Array([[UInt8]](repeating: [1, 0x61], count: 128).joined()) + [0, 0, 1, 0, 1]),
        ("ARCOUNT beyond data", headerBytes(ar: 1) + questionA),
        ("record RDATA beyond data", headerBytes(an: 1) + questionA + [0xC0, 12] + recordFixed(type: 1, rdlength: 4) + [1]),
        ("record name with bad label", headerBytes(ar: 1) + questionA + [0x41, 0] + recordFixed(type: 1, rdlength: 0)),
        ("two OPT records", headerBytes(ar: 2) + questionA + optRecord() + optRecord()),
        ("OPT with non-root owner", headerBytes(ar: 1) + questionA + optRecord(owner: [0xC0, 12])),
        ("OPT owned by a.", headerBytes(ar: 1) + questionA + optRecord(owner: [1, 0x61, 0])),
        ("record owner points forward", headerBytes(ar: 1) + questionA + [0xC0, 40] + recordFixed(type: 1, rdlength: 0)),
        ("record owner points into itself", headerBytes(ar: 1) + questionA + [1, 0x61, 0xC0, 19] + recordFixed(type: 1, rdlength: 0)),
        ("record owner points at itself", headerBytes(ar: 1) + questionA + [0xC0, 19] + recordFixed(type: 1, rdlength: 0)),
        ("record owner over 255 bytes through pointers",
         headerBytes(an: 1, ar: 1) + questionA + label63a + label63a + label63a + [0xC0, 12] + recordFixed(type: 1, rdlength: 0)
            + label63a + [0xC0, 19] + recordFixed(type: 1, rdlength: 0)),
        ("record owner through 128 pointers", pointerChainQuery(chain: 127)),
        ("a byte after the question", headerBytes() + questionA + [0]),
        ("bytes after the OPT record", headerBytes(ar: 1) + questionA + optRecord() + [0, 0, 0, 0]),
    ] as [(String, [UInt8])])
    func formErr(label: String, packet: [UInt8]) throws {
        let parsed = parseQuery(packet)
        let reject = try #require(parsed.reject, "\(label)")
        #expect(reject.rcode == .formErr)
        #expect(reject.id == 0x1234)
        #expect(reject.flags == 0x0100)
        #expect(parsed.canaryIntact)
    }

    @Test("an owner reached through 127 pointers is read; the OPT after it is found")
    func longestPointerChain() throws {
        let view = try #require(parseQuery(pointerChainQuery(chain: 126, opt: optRecord(payload: 1400))).view)
        #expect(view.udpLimit == 1400)
    }

    @Test("opcodes other than QUERY are rejected with NOTIMP", arguments: [UInt8(1), 2, 4, 5, 6, 15])
    func notImplemented(opcode: UInt8) throws {
        var header = Header(id: 0x7777, flags: Header.rdBit, questionCount: 1)
        header.opcode = Opcode(rawValue: opcode)
        var writer = WireWriter()
        header.write(to: &writer)
        let reject = try #require(parseQuery(writer.bytes + questionA).reject)
        #expect(reject.rcode == .notImp)
        #expect(reject.id == 0x7777)
        #expect(reject.flags == header.flags)
        // Even without a question, a NOTIFY or UPDATE is NOTIMP rather than FORMERR.
        #expect(parseQuery(writer.bytes).reject?.rcode == .notImp)
    }

    @Test("the longest legal name fills the buffer exactly")
    func longestName() throws {
        let label61: [UInt8] = [61] + [UInt8](repeating: 0x43, count: 61)
        let wire = label63a + label63b + label63a + label61 + [0]
        let parsed = parseQuery(headerBytes() + wire + [0, 16, 0, 1])
        let view = try #require(parsed.view)
        #expect(view.nameLength == 255)
        #expect(parsed.name == wire.map(asciiLowercase))
        #expect(parsed.canaryIntact)
        #expect(view.type == .txt)
    }

    @Test("agrees with Message(parsing:) on valid queries")
    func agreesWithMessage() throws {
        for packet in [queryMessage("A.B.C"), queryMessage("skydns.local", type: .srv, edns: EDNS(udpPayloadSize: 1400, dnssecOK: true))] {
            let message = try Message(parsing: packet)
            let parsed = parseQuery(packet)
            let view = try #require(parsed.view)
            #expect(parsed.name == message.questions[0].name.lowercased().wire)
            #expect(view.type == message.questions[0].type)
            #expect(view.edns?.udpPayloadSize == message.edns?.udpPayloadSize)
            #expect(view.edns?.dnssecOK == message.edns?.dnssecOK)
        }
    }
}

/// A query whose first additional record's RDATA is `chain` compression pointers, each naming
/// the one before it (the first names the question), and whose second record is owned by a
/// pointer to the last: that owner is reached through `chain + 1` pointers. `opt`, if given,
/// is a third additional record.
private func pointerChainQuery(chain: Int, opt: [UInt8] = []) -> [UInt8] {
    let start = 12 + questionA.count + 11
    var pointers: [UInt8] = []
    for index in 0..<chain {
        pointers += be16(0xC000 | UInt16(index == 0 ? 12 : start + 2 * index - 2))
    }
    return headerBytes(ar: opt.isEmpty ? 2 : 3) + questionA + [0] + recordFixed(type: 0xFF00, rdlength: UInt16(pointers.count)) + pointers
        + be16(0xC000 | UInt16(start + 2 * chain - 2)) + recordFixed(type: 0xFF00, rdlength: 0) + opt
}
