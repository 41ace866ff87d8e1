import DNSWire
import Testing
@testable import SkyDNSStore

/// Values from etcd are fitted to the wire once, when the store takes them in: out-of-range
/// fields are skipped or clamped (with a line naming the key), and no answer built from what is
/// stored can trap or loop on it.
@Suite struct RecordBoundsTests {
    private static let key = "/skydns/sohu/domeos/svc/web/x"

    /// Loads one value under `key` and says what the store reported for it.
    private func load(_ json: String) throws -> (store: RecordStore, rejected: [RejectedRecord]) {
        let store = RecordStore(zone: try domeosZone(), pathPrefix: "skydns")
        let rejected = store.apply([.put(kv(Self.key, json))])
        return (store, rejected)
    }

    private func stored(_ store: RecordStore) -> StoredRecord? {
        store.publisher.current.root.node(at: ["sohu", "domeos", "svc", "web", "x"])?.record
    }

    /// Values the store leaves out, each named in one rejection for its key.
    @Test(arguments: [
        #"{"host":"10.0.0.1","port":80,"targetstrip":-1}"#,
        #"{"host":"10.0.0.1","port":80,"targetstrip":9223372036854775807}"#,
        #"{"host":"10.0.0.1","port":80,"targetstrip":5}"#,           // the key has 5 labels: nothing would be left
        #"{"host":"web.domeos.sohu","port":80,"targetstrip":3}"#,    // the host has 3
        #"{"host":"web.domeos.sohu","targetstrip":-9223372036854775808}"#,
        #"{"host":"10.0.0.1","port":-1}"#,
        #"{"host":"10.0.0.1","port":65536}"#,
        #"{"host":"10.0.0.1","port":9223372036854775807}"#,
        #"{"text":"\#(String(repeating: "x", count: 70_000))"}"#,
        #"{"text":"\#(String(repeating: "x", count: StoredRecord.maxTextBytes + 1))"}"#,
        #"{"host":"10.0.0.1","ttl":-1}"#,
        #"{"host":"10.0.0.1","ttl":4294967296}"#,
        #"{"host":"10.0.0.1","port":1e3}"#,
        #"{"host":"\#(String(repeating: "a", count: 64)).example"}"#,
    ])
    func skipped(json: String) throws {
        let (store, rejected) = try load(json)
        #expect(rejected.count == 1)
        #expect(rejected.first?.key == Self.key)
        #expect(rejected.first?.kept == false)
        #expect(stored(store) == nil)
        #expect(store.recordCount == 0)
    }

    /// Values served with a field clamped into range, each named in one line for its key.
    @Test(arguments: [
        // (value, priority, weight, ttl, what the line names)
        (#"{"host":"10.0.0.1","priority":-1}"#, 0, 0, UInt32(3600), "priority"),
        (#"{"host":"10.0.0.1","priority":65536,"weight":-5}"#, 65535, 0, 3600, "priority"),
        (#"{"host":"10.0.0.1","weight":9223372036854775807}"#, 0, 65535, 3600, "weight"),
        (#"{"host":"10.0.0.1","priority":8589934592}"#, 65535, 0, 3600, "priority"),
        (#"{"host":"10.0.0.1","ttl":4294967295}"#, 0, 0, 2_147_483_647, "ttl"),
        (#"{"host":"10.0.0.1","ttl":2147483648}"#, 0, 0, 2_147_483_647, "ttl"),
    ])
    func clamped(json: String, priority: Int, weight: Int, ttl: UInt32, field: String) throws {
        let (store, rejected) = try load(json)
        #expect(rejected.count == 1)
        #expect(rejected.first?.key == Self.key)
        #expect(rejected.first?.kept == true)
        #expect(rejected.first.map { "\($0.error)".contains("\"\(field)\"") } == true)
        let record = try #require(stored(store))
        #expect((record.priority, record.weight, record.ttl) == (priority, weight, ttl))
    }

    /// The edges of every range are accepted as they are, with nothing to report.
    @Test(arguments: [
        #"{"host":"10.0.0.1","port":65535,"priority":65535,"weight":65535,"ttl":2147483647}"#,
        #"{"host":"10.0.0.1","port":0,"priority":0,"weight":0,"ttl":0}"#,
        #"{"host":"10.0.0.1","port":80,"targetstrip":4}"#,
        #"{"host":"web.domeos.sohu","port":80,"targetstrip":2}"#,
        #"{"text":"\#(String(repeating: "x", count: StoredRecord.maxTextBytes))"}"#,
    ])
    func accepted(json: String) throws {
        let (store, rejected) = try load(json)
        #expect(rejected.isEmpty)
        #expect(stored(store) != nil)
    }

    /// A text is split into 255-byte character strings once, at load.
    @Test func textSplitAtLoad() throws {
        let (store, _) = try load(#"{"text":"\#(String(repeating: "y", count: 600))"}"#)
        let record = try #require(stored(store))
        #expect(record.txt?.strings.map(\.count) == [255, 255, 90])
    }

    /// The issue's three values under a name, then every query that covers them: each is
    /// answered (the bad record simply absent), the good neighbour still served.
    @Test(arguments: [
        #"{"host":"10.0.0.9","port":80,"targetstrip":-1}"#,
        #"{"host":"10.0.0.9","port":80,"targetstrip":9223372036854775807}"#,
        #"{"text":"\#(String(repeating: "z", count: 70_000))"}"#,
    ])
    func hostileValueAnswered(json: String) throws {
        let store = RecordStore(zone: try domeosZone(), pathPrefix: "skydns")
        store.apply([.replaceAll([kv(Self.key, json), kv("/skydns/sohu/domeos/svc/web/y", #"{"host":"10.0.0.2","port":81,"text":"ok"}"#)])])
        let snapshot = store.publisher.current
        let asker = Asker()
        for name in ["x.web.svc.domeos.sohu.", "web.svc.domeos.sohu.", "domeos.sohu.", "*.svc.domeos.sohu."] {
            for type in [RecordType.srv, .mx, .txt, .a] {
                for maxUDPSize in [512, nil] as [Int?] {
                    let response = try asker.response(query(name, type), snapshot: snapshot, maxUDPSize: maxUDPSize)
                    #expect(response.rcode == (name.hasPrefix("x.") ? .nxDomain : .noError), "\(name) \(type)")
                }
            }
        }
        let srv = try asker.response(query("web.svc.domeos.sohu.", .srv), snapshot: snapshot, maxUDPSize: nil)
        #expect(srv.answers.map(\.data) == [.srv(SRVRecord(priority: 10, weight: 100, port: 81, target: dname("y.web.svc.domeos.sohu.")))])
        let txt = try asker.response(query("web.svc.domeos.sohu.", .txt), snapshot: snapshot, maxUDPSize: nil)
        #expect(txt.answers.map(\.data) == [.txt(TXTRecord(strings: [Array("ok".utf8)]))])
    }

    /// The largest text the store takes is answered over TCP whole, in one message.
    @Test func largestTextFitsOneMessage() throws {
        let store = RecordStore(zone: try domeosZone(), pathPrefix: "skydns")
        let longest = String(repeating: "w", count: StoredRecord.maxTextBytes)
        store.apply([.replaceAll([kv(Self.key, #"{"text":"\#(longest)"}"#)])])
        // The longest question name there is, so the echoed question takes the most room.
        let labels = [String](repeating: String(repeating: "q", count: 61), count: 3) + ["x", "web", "svc", "domeos", "sohu"]
        let name = labels.joined(separator: ".") + "."
        let response = try Asker().response(query(name, .txt, edns: EDNS(udpPayloadSize: 4096)), snapshot: store.publisher.current,
                                            maxUDPSize: nil)
        #expect(response.rcode == .nxDomain, "a name below the record is not it")
        let direct = try Asker().response(query("x.web.svc.domeos.sohu.", .txt, edns: EDNS(udpPayloadSize: 4096)),
                                          snapshot: store.publisher.current, maxUDPSize: nil)
        #expect(!direct.header.isTruncated)
        #expect(direct.answers.first.map { if case .txt(let t) = $0.data { t.strings.joined().count } else { 0 } } == StoredRecord.maxTextBytes)
    }

    /// Stripping labels never traps or loops, whatever the count.
    @Test(arguments: [
        (Int.min, "a.b.c."), (-1, "a.b.c."), (0, "a.b.c."), (1, "b.c."), (3, "."), (4, "."), (Int.max, "."),
    ])
    func droppingLabels(count: Int, expected: String) {
        #expect(dname("a.b.c.").droppingFirstLabels(count) == dname(expected))
    }

    /// A record whose RDATA cannot be stated in 16 bits is not written, and the writer says so.
    @Test func oversizedRDataNotWritten() {
        var writer = WireWriter(capacity: 70_000)
        let huge = ResourceRecord(name: dname("a."), ttl: 1, data: .unknown(RecordType(99), [UInt8](repeating: 1, count: 70_000)))
        #expect(huge.write(to: &writer) == false)
        #expect(writer.count == 0)
        #expect(writer.writeRecords([huge], limit: 100_000) == (written: 0, complete: false))
        let long = ResourceRecord(name: dname("a."), ttl: 1, data: .txt(TXTRecord(strings: [[UInt8](repeating: 2, count: 300)])))
        #expect(long.write(to: &writer))
        #expect(writer.count == 3 + 10 + 1 + 255)
    }
}

/// TXT answers stop collecting once they hold more text than the message can carry: 200 texts
/// of 64,000 bytes under one name give one whole record over TCP, the rest cut with TC.
@Suite struct TextVolumeTests {
    @Test func manyLongTextsCutAtTheMessage() throws {
        let text = String(repeating: "v", count: StoredRecord.maxTextBytes)
        let records = (0..<200).map { ("/skydns/sohu/domeos/notes/n\($0)", #"{"text":"\#(text)\#($0)"}"#) }
        let store = RecordStore(zone: try domeosZone(), pathPrefix: "skydns")
        let rejected = store.apply([.replaceAll(records.map { kv($0.0, $0.1) })])
        #expect(rejected.count == 200, "each text is one byte over the limit")
        let shorter = (0..<200).map { ("/skydns/sohu/domeos/notes/n\($0)", #"{"text":"\#(text.dropFirst(3))\#($0)"}"#) }
        #expect(store.apply([.replaceAll(shorter.map { kv($0.0, $0.1) })]).isEmpty)
        let builder = AnswerBuilder(snapshot: store.publisher.current, external: nil, rotation: 0, limit: 65535)
        let answer = builder.answer(qname: dname("notes.domeos.sohu."), lookupName: dname("notes.domeos.sohu."), type: .txt)
        #expect(answer.answers.count == 2, "one text fits, the second is past the limit and ends the collection")
        let response = try Asker().response(query("notes.domeos.sohu.", .txt), snapshot: store.publisher.current, maxUDPSize: nil)
        #expect(response.answers.count == 1)
        #expect(response.header.isTruncated)
    }
}
