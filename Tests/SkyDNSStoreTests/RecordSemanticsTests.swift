import DNSWire
import SkyDNSTestSupport
import Testing
@testable import SkyDNSStore

// The record-semantics table (SkyDNSTestSupport/SemanticsCases.swift), every case answered in
// process from stores loaded with the table's records, as each of its servers would load them
// from etcd; SkyDNSServerTests asks its representative cases of real servers over real sockets.

/// The largest UDP reply the server sends (`UDPWorker.maxResponseSize`): the cap the responder
/// gets for UDP queries.
let serverUDPLimit = 4096

/// One store per server of the table, each holding every record under the prefix (those of the
/// other domain and the reverse zones too), loaded with one `replaceAll` as a first read does.
private let semanticsSnapshots = Result { () throws -> [ServerName: Snapshot] in
    let all = seedRecords.map { KeyValue(key: $0.key, value: Array($0.value.utf8)) }
    var snapshots: [ServerName: Snapshot] = [:]
    for server in [ServerName.main, .other] {
        let settings = server.settings
        let zone = try Zone(domain: settings.domain, defaultTTL: settings.ttl, negativeTTL: settings.minTTL,
                            roundRobin: settings.roundRobin, local: settings.local)
        let store = RecordStore(zone: zone, pathPrefix: "skydns")
        // The fixture's bad values are skipped here as the server skips them (and logs them).
        _ = store.apply([.replaceAll(all)])
        snapshots[server] = store.publisher.current
    }
    return snapshots
}

/// Answers queries as one worker of a table server does with `-no-rec`: targets outside the
/// domain resolve to nothing, names outside it are refused.
final class TableServer {
    let snapshot: Snapshot
    private let responder = QueryResponder(recursionAvailable: false)
    private var writer = WireWriter(capacity: 65535)

    init(_ server: ServerName) throws {
        snapshot = try #require(try semanticsSnapshots.get()[server])
        responder.external = { _, _ in [] }
    }

    /// The reply to `name`/`type` as bytes and parsed; nil (with an issue recorded) when the
    /// responder gives none.
    func ask(_ name: String, _ type: RecordType, class recordClass: RecordClass = .in,
             transport: QueryTransport = .udp, ednsSize: UInt16? = nil,
             sourceLocation: SourceLocation = #_sourceLocation) throws -> Reply? {
        let question = Question(name: try DomainName(name), type: type, recordClass: recordClass)
        let packet = Message(header: Header(id: 0x5150, flags: Header.rdBit), questions: [question],
                             edns: ednsSize.map { EDNS(udpPayloadSize: $0) }).encode()
        writer.reset()
        let outcome = packet.withUnsafeBytes {
            responder.respond(to: $0, snapshot: snapshot, maxUDPSize: transport == .udp ? serverUDPLimit : nil,
                              into: &writer)
        }
        switch outcome {
        case .answered:
            break
        case .outsideZone(let query):
            packet.withUnsafeBytes { responder.reply(to: query, packet: $0, rcode: .refused, into: &writer) }
        default:
            Issue.record("no reply: \(outcome)", sourceLocation: sourceLocation)
            return nil
        }
        let message = try Message(parsing: writer.bytes)
        #expect(message.header.id == 0x5150, sourceLocation: sourceLocation)
        #expect(message.questions.first?.name.wire == question.name.wire, "the question echoed with its casing",
                sourceLocation: sourceLocation)
        return Reply(bytes: writer.bytes, message: message)
    }
}

@Suite("Record semantics: the table answered in process")
struct RecordSemanticsTests {
    @Test(arguments: semanticsCases)
    func answers(_ c: SemanticsCase) throws {
        let server = try TableServer(c.server)
        c.check(try #require(try server.ask(c.qname, c.qtype, class: c.qclass, transport: c.transport)).message)
    }

    @Test("Round robin: several A records rotate across queries")
    func roundRobinRotates() throws {
        let server = try TableServer(.main)
        var firsts: Set<String> = []
        for _ in 0..<12 {
            let answers = try #require(try server.ask("rr.skydns.test.", .a)).message.answers.map(presentation)
            #expect(answers.sorted() == (1...4).map { "rr.skydns.test. 300 IN A 10.0.11.\($0)" })
            if let first = answers.first { firsts.insert(first) }
        }
        #expect(firsts.count > 1, "the first answer changed over 12 queries: \(firsts)")
    }

    @Test("Round robin off (-round-robin=false): the same order every time")
    func roundRobinOff() throws {
        let server = try TableServer(.other)
        var orders: Set<[String]> = []
        for _ in 0..<12 {
            let answers = try #require(try server.ask("rr.other.test.", .a)).message.answers.map(presentation)
            #expect(answers.sorted() == (1...4).map { "rr.other.test. 3600 IN A 10.3.0.\($0)" })
            orders.insert(answers)
        }
        #expect(orders.count == 1, "orders seen: \(orders)")
    }
}
