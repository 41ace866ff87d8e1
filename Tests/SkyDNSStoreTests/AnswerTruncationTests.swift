import DNSWire
import Foundation
import SkyDNSTestSupport
import Testing

// Replies cut to the client's size, in process, from the record-semantics table's records
// (RFC 1035 §4.2.1, RFC 6891 §7, RFC 2181 §9): whole records only, additional dropped first,
// TC set whenever anything is left out.

@Suite("Answer truncation: the table's big names in process")
struct AnswerTruncationTests {
    let bigAnswers = (0..<bigCount).map { "big.skydns.test. 300 IN A 10.1.0.\($0)" }

    /// The reply is a well-formed message, within `limit`, made of whole records of `expected`.
    func checkPart(_ reply: Reply, limit: Int, expected: [String]) {
        #expect(reply.bytes.count <= limit, "\(reply.bytes.count) bytes")
        #expect(reply.message.header.responseCode == .noError)
        #expect(reply.message.header.isAuthoritative)
        let answers = reply.message.answers.map(presentation)
        #expect(Set(answers).isSubset(of: Set(expected)))
        #expect(Set(answers).count == answers.count, "no duplicates")
    }

    @Test("100 A records over UDP without EDNS: TC, at most 512 bytes, as many whole records as fit")
    func udpWithoutEDNS() throws {
        let reply = try #require(try TableServer(.main).ask("big.skydns.test.", .a))
        checkPart(reply, limit: 512, expected: bigAnswers)
        #expect(reply.message.header.isTruncated)
        // 12 header + 21 question + 16 per A record (owner compressed): 29 fit in 512.
        #expect(reply.message.answers.count == 29)
    }

    @Test("100 A records over UDP with EDNS 1232: TC, at most 1232 bytes, OPT echoed")
    func udpWithSmallEDNS() throws {
        let reply = try #require(try TableServer(.main).ask("big.skydns.test.", .a, ednsSize: 1232))
        checkPart(reply, limit: 1232, expected: bigAnswers)
        #expect(reply.message.header.isTruncated)
        #expect(reply.message.edns != nil)
        // 12 header + 21 question + 11 OPT + 16 per A record.
        let fitting: Int = (1232 - 12 - 21 - 11) / 16
        #expect(reply.message.answers.count == fitting)
    }

    @Test("100 A records over UDP with EDNS 4096: all of them, no TC")
    func udpWithLargeEDNS() throws {
        let reply = try #require(try TableServer(.main).ask("big.skydns.test.", .a, ednsSize: 4096))
        #expect(!reply.message.header.isTruncated)
        #expect(reply.message.answers.map(presentation).sorted() == bigAnswers.sorted())
    }

    @Test("100 A records over TCP: all of them, no TC")
    func tcpAll() throws {
        let reply = try #require(try TableServer(.main).ask("big.skydns.test.", .a, transport: .tcp))
        #expect(!reply.message.header.isTruncated)
        #expect(reply.message.answers.map(presentation).sorted() == bigAnswers.sorted())
    }

    @Test("100 SRV records over UDP without EDNS: additional dropped first, TC, whole SRV records")
    func udpSRV() throws {
        let reply = try #require(try TableServer(.main).ask("big.skydns.test.", .srv))
        let expected = (0..<bigCount).map { String(format: "big.skydns.test. 300 IN SRV 10 1 0 r%03d.big.skydns.test.", $0) }
        checkPart(reply, limit: 512, expected: expected)
        #expect(reply.message.header.isTruncated)
        #expect(reply.message.additionals.isEmpty)
        #expect(reply.message.answers.count > 0)
    }

    @Test("100 SRV records over TCP: every SRV and every glue record")
    func tcpSRV() throws {
        let reply = try #require(try TableServer(.main).ask("big.skydns.test.", .srv, transport: .tcp))
        #expect(!reply.message.header.isTruncated)
        #expect(reply.message.answers.count == bigCount)
        #expect(reply.message.additionals.map(presentation).sorted()
            == (0..<bigCount).map { String(format: "r%03d.big.skydns.test. 300 IN A 10.1.0.%d", $0, $0) }.sorted())
    }

    @Test("3000 A records over TCP: one valid message within 65535 bytes holding all of them")
    func tcpHugeA() throws {
        let reply = try #require(try TableServer(.main).ask("huge.skydns.test.", .a, transport: .tcp))
        #expect(reply.bytes.count <= 65535)
        #expect(!reply.message.header.isTruncated)
        #expect(reply.message.answers.count == hugeCount)
        #expect(Set(reply.message.answers.map(presentation)).count == hugeCount)
    }

    @Test("80 TXT records of 1000 bytes over TCP (≈80 KB): TC, within 65535 bytes, as many whole records as fit")
    func tcpOver64KiB() throws {
        let reply = try #require(try TableServer(.main).ask("bigtxt.skydns.test.", .txt, transport: .tcp))
        let expected = (0..<bigTextCount).map { "bigtxt.skydns.test. 300 IN TXT \"\(bigText($0).prefix(255))\" "
            + "\"\(bigText($0).dropFirst(255).prefix(255))\" \"\(bigText($0).dropFirst(510).prefix(255))\" "
            + "\"\(bigText($0).dropFirst(765))\"" }
        checkPart(reply, limit: 65535, expected: expected)
        #expect(reply.message.header.isTruncated)
        // 12 header + 24 question; each record 2 (owner) + 10 + 1000 text + 4 string lengths.
        let fitting: Int = (65535 - 12 - 24) / 1016
        #expect(reply.message.answers.count == fitting)
    }
}
