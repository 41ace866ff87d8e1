import DNSWire
import Foundation
import SkyDNSTestSupport
import Testing

// The record-semantics table end to end: its representative cases asked of real servers reading a
// real etcd, over real UDP and TCP sockets (the whole table runs in process in SkyDNSStoreTests),
// and what only the real path shows: a put reaching the answers, replies cut to the socket's size.

@Suite("Record semantics against a real etcd and the real server",
       .enabled(if: EtcdTestServer.isInstalled, "etcd is not installed (apt-get install etcd-server): skipping"))
struct RecordSemanticsTests {
    @Test(arguments: semanticsCases.filter(\.endToEnd))
    func answers(_ c: SemanticsCase) async throws {
        let world = try await world()
        let reply = try query(c.qname, c.qtype, class: c.qclass, port: world.port(c.server), transport: c.transport)
        c.check(reply.message)
    }

    @Test("SOA serial changes after a put, and never goes back")
    func serialChangesAfterPut() async throws {
        let world = try await world()
        func serial() throws -> UInt32 {
            let reply = try query("other.test.", .soa, port: world.other.port)
            guard case .soa(let soa)? = reply.message.answers.first?.data else {
                Issue.record("no SOA in \(reply.message.answers.map(presentation))")
                return 0
            }
            return soa.serial
        }
        let before = try serial()
        try world.etcd.v3Put(otherKey("serial/r"), #"{"host":"10.3.2.1"}"#)
        let answered = try waitUntil {
            try query("serial.other.test.", .a, port: world.other.port).message.answers.map(presentation)
                == ["serial.other.test. 3600 IN A 10.3.2.1"]
        }
        #expect(answered, "the put reached the server")
        let after = try serial()
        #expect(after > before, "serial \(before) → \(after)")
    }

    @Test("100 A records over UDP without EDNS: TC, at most 512 bytes, as many whole records as fit")
    func udpWithoutEDNS() async throws {
        let world = try await world()
        let reply = try query("big.skydns.test.", .a, port: world.main.port)
        #expect(reply.bytes.count <= 512, "\(reply.bytes.count) bytes")
        #expect(reply.message.header.isTruncated)
        #expect(reply.message.header.isAuthoritative)
        let answers = reply.message.answers.map(presentation)
        #expect(Set(answers).isSubset(of: Set((0..<bigCount).map { "big.skydns.test. 300 IN A 10.1.0.\($0)" })))
        // 12 header + 21 question + 16 per A record (owner compressed): 29 fit in 512.
        #expect(answers.count == 29)
    }

    @Test("3000 A records over TCP: one valid message within 65535 bytes holding all of them")
    func tcpHugeA() async throws {
        let world = try await world()
        let reply = try query("huge.skydns.test.", .a, port: world.main.port, transport: .tcp, timeout: .seconds(20))
        #expect(reply.bytes.count <= 65535)
        #expect(!reply.message.header.isTruncated)
        #expect(reply.message.answers.count == hugeCount)
        #expect(Set(reply.message.answers.map(presentation)).count == hugeCount)
    }
}
