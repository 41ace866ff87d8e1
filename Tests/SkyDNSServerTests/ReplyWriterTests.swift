#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSWire
import Testing
@testable import SkyDNSServer

/// A query parsed as a worker parses it, handed over as a slow path receives it.
func parsedQuery(_ packet: [UInt8], received: Int64 = 0) -> ParsedQuery {
    let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: QueryParser.nameBufferSize)
    defer { buffer.deallocate() }
    return packet.withUnsafeBytes { raw in
        ParsedQuery(packet: raw, view: try! QueryParser.parse(raw, lowercasedName: buffer), received: received)
    }
}

private func query(_ text: String, _ type: RecordType, id: UInt16 = 7, edns: EDNS? = nil) -> [UInt8] {
    var header = Header(id: id, questionCount: 1)
    header.recursionDesired = true
    return Message(header: header, questions: [Question(name: try! DomainName(text), type: type)], edns: edns).encode()
}

@Suite("ParsedQuery: what a slow path receives")
struct ParsedQueryTests {
    @Test("the question keeps the client's casing; the name and path are lower-cased")
    func names() throws {
        let parsed = parsedQuery(query("Kafka-1.DomeOS.sohu", .srv))
        #expect(parsed.question == Question(name: try DomainName("Kafka-1.DomeOS.sohu"), type: .srv))
        #expect(parsed.question.name.description == "Kafka-1.DomeOS.sohu.")
        #expect(try parsed.lowercasedName == DomainName("kafka-1.domeos.sohu").wire)
        #expect(parsed.path == ["sohu", "domeos", "kafka-1"])
        #expect(parsed.view.labelCount == 3)
        #expect(parsedQuery(query(".", .ns)).view.labelCount == 0)
    }

    @Test("the message is built from the parse: header, question, the options read here; nothing else")
    func message() throws {
        let options = [EDNS.Option(code: 65012, data: [0, 0, 0, 9]), EDNS.Option(code: 10, data: Array(repeating: 1, count: 8))]
        var packet = query("example.org", .aaaa, id: 0xBEEF, edns: EDNS(udpPayloadSize: 1400, dnssecOK: true, options: options))
        let parsed = parsedQuery(packet)
        let message = try #require(parsed.message)
        #expect(message.header.id == 0xBEEF && message.header.recursionDesired && !message.header.isResponse)
        #expect(message.questions == [Question(name: try DomainName("example.org"), type: .aaaa)])
        // The loop mark is kept; a cookie (code 10) is read by no slow path.
        #expect(message.edns == EDNS(udpPayloadSize: 1400, dnssecOK: true, options: [options[0]]))
        #expect(message.answers.isEmpty && message.additionals.isEmpty)

        // An option that claims more bytes than the OPT record holds: no message (FORMERR upstream-bound).
        let optionLength = packet.count - 20 + 2   // the first option's length field (options: 8 + 12 bytes)
        packet[optionLength] = 0
        packet[optionLength + 1] = 200
        let broken = parsedQuery(packet)
        #expect(broken.ednsOptions == nil)
        #expect(broken.message == nil)
        #expect(parsedQuery(query("example.org", .a)).ednsOptions == [])
    }
}

@Suite("ParsedQuery holds what slow paths read, not the client's whole message")
struct ParsedQueryBoundTests {
    @Test("a 64 KiB query keeps its header, question and loop mark; its size is the client's")
    func compact() throws {
        var header = Header(id: 3, questionCount: 1)
        header.recursionDesired = true
        let junk = Array(repeating: ResourceRecord(name: .root, ttl: 0, data: .unknown(RecordType(0xFF00), [])),
                         count: 5800)
        let loopIDs = Array(repeating: UInt8(7), count: 4 * ForwardingLoop.maxHops + 400)
        let edns = EDNS(udpPayloadSize: 1232, options: [EDNS.Option(code: 12, data: Array(repeating: 0, count: 300)),
                                                        EDNS.Option(code: ForwardingLoop.optionCode, data: loopIDs),
                                                        EDNS.Option(code: stubForwardMarker, data: [1])])
        let packet = Message(header: header, questions: [Question(name: try DomainName("big.example.org"), type: .a)],
                             additionals: junk, edns: edns).encode()
        #expect(packet.count > 60000)
        let parsed = parsedQuery(packet)
        #expect(parsed.size == packet.count)
        #expect(parsed.packet.count < 150)
        #expect(Array(parsed.packet[..<parsed.view.questionEnd]) == Array(packet[..<parsed.view.questionEnd]))
        // As many IDs as make a loop, so it still counts as one; the marker's presence stays.
        #expect(parsed.ednsOptions == [EDNS.Option(code: ForwardingLoop.optionCode, data: Array(loopIDs.prefix(4 * ForwardingLoop.maxHops))),
                                       EDNS.Option(code: stubForwardMarker, data: [])])
        #expect(ForwardingLoop().hasLooped(try #require(parsed.message)))
    }

    @Test("a client's loop option of part of an ID keeps its whole IDs: a server still finds its own when the query returns",
          arguments: [1, 3, 5, 30, 33])
    func partialLoopIDs(length: Int) throws {
        var header = Header(id: 3, questionCount: 1)
        header.recursionDesired = true
        let stray = (0..<length).map { UInt8(truncatingIfNeeded: $0 &+ 1) }
        let asked = Message(header: header, questions: [Question(name: try DomainName("w.example.org"), type: .a)],
                            edns: EDNS(udpPayloadSize: 1232, options: [EDNS.Option(code: ForwardingLoop.optionCode, data: stray)]))
        let kept = Array(stray.prefix(min(length / 4, ForwardingLoop.maxHops) * 4))
        let parsed = parsedQuery(asked.encode())
        #expect(parsed.ednsOptions == [EDNS.Option(code: ForwardingLoop.optionCode, data: kept)])
        // This server forwards it; it comes back: looped, whatever the client put before the IDs.
        let me = ForwardingLoop(serverID: 0x0A0B_0C0D)
        let returned = parsedQuery(me.marked(try #require(parsed.message), advertising: 1232).encode())
        #expect(me.hasLooped(try #require(returned.message)))
    }
}

@Suite("ReplyWriter over UDP: one reply, sized for the client")
struct UDPReplyWriterTests {
    /// A loopback socket pair: the writer sends from `server` to `client`.
    private func sockets() throws -> (server: Int32, client: Int32, peer: sockaddr_storage, length: socklen_t) {
        func bound() -> Int32 {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            return fd
        }
        let server = bound(), client = bound()
        var peer = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(client, $0, &length) }
        }
        return (server, client, peer, length)
    }

    private func receive(_ fd: Int32, nonBlocking: Bool = false) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 70000)
        let count = recv(fd, &buffer, buffer.count, nonBlocking ? Int32(MSG_DONTWAIT) : 0)
        return count < 0 ? nil : Array(buffer[..<count])
    }

    @Test("maxSize: 512 without OPT, the client's size with it (at least 512), at most the server's 4096")
    func sizes() {
        for (edns, expected) in [(nil, 512), (EDNS(udpPayloadSize: 100), 512), (EDNS(udpPayloadSize: 1232), 1232),
                                 (EDNS(udpPayloadSize: 65000), 4096)] as [(EDNS?, Int)] {
            let parsed = parsedQuery(query("a.example.org", .a, edns: edns))
            let writer = UDPReplyWriter(query: parsed, fd: -1, peer: sockaddr_storage(), peerLength: 0,
                                        recursionAvailable: true, metrics: nil)
            #expect(writer.maxSize == expected)
            #expect(writer.transport == .udp)
            #expect(writer.edns == parsed.view.edns)
        }
    }

    @Test("refuse: header, the client's question, our OPT; RA as configured; a second reply is not sent")
    func refuseOnce() throws {
        let (server, client, peer, length) = try sockets()
        defer { close(server); close(client) }
        let packet = query("Outside.Example.org", .mx, id: 0x1234, edns: EDNS(udpPayloadSize: 1400, dnssecOK: true))
        let writer = UDPReplyWriter(query: parsedQuery(packet), fd: server, peer: peer, peerLength: length,
                                    recursionAvailable: false, metrics: nil)
        writer.refuse(.servFail)
        writer.write([1, 2, 3])
        writer.drop()
        let reply = try Message(parsing: try #require(receive(client)))
        #expect(reply.header.id == 0x1234 && reply.header.isResponse && reply.header.responseCode == .servFail)
        #expect(reply.header.recursionDesired && !reply.header.recursionAvailable && !reply.header.isAuthoritative)
        #expect(reply.questions.first?.name.description == "Outside.Example.org.")
        #expect(reply.edns?.dnssecOK == true && reply.answers.isEmpty)
        #expect(receive(client, nonBlocking: true) == nil)
    }

    @Test("a reply longer than the client takes is not sent")
    func oversized() throws {
        let (server, client, peer, length) = try sockets()
        defer { close(server); close(client) }
        let writer = UDPReplyWriter(query: parsedQuery(query("a.example.org", .txt)), fd: server, peer: peer,
                                    peerLength: length, recursionAvailable: true, metrics: nil)
        writer.write([UInt8](repeating: 0, count: 513))
        writer.refuse(.servFail)
        #expect(receive(client, nonBlocking: true) == nil)
    }
}
