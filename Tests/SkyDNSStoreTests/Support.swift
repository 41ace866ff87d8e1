import DNSWire
import Foundation
import Synchronization
import Testing
@testable import SkyDNSStore

// Helpers shared by the SkyDNSStore tests: literals for names and values, a store loaded the
// way the etcd watcher loads it, and a driver that runs a query through `QueryResponder`.

/// A name from presentation form; test literals are always valid.
func dname(_ text: String) -> DomainName {
    do { return try DomainName(text) } catch { fatalError("bad test name \(text): \(error)") }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// An etcd key/value pair with a JSON value given as text.
func kv(_ key: String, _ json: String, ttl: UInt32? = nil) -> KeyValue {
    KeyValue(key: key, value: bytes(json), ttl: ttl)
}

/// A value with just a host (and a TTL when given), as kube2sky writes them.
func hostValue(_ host: String, ttl: UInt32? = nil) -> String {
    if let ttl { return #"{"host":"\#(host)","ttl":\#(ttl)}"# }
    return #"{"host":"\#(host)"}"#
}

/// A record as the store builds it from an etcd key and value. Records are made through
/// `RecordStore.apply` rather than `StoredRecord.init`, so these tests follow the store's own
/// loading path and do not depend on the initializer's parameters.
func storedRecord(key: String = "/skydns/sohu/domeos/x", host: String, ttl: UInt32 = 0, keyTTL: UInt32? = nil,
                  defaultTTL: UInt32 = 3600, text: String = "") throws -> StoredRecord {
    let zone = try Zone(domain: "domeos.sohu.", defaultTTL: defaultTTL)
    let store = RecordStore(zone: zone, pathPrefix: "skydns")
    let value = try JSONEncoder().encode(ServiceRecord(host: host, text: text, ttl: ttl))
    let rejected = store.apply([.put(KeyValue(key: key, value: Array(value), ttl: keyTTL))])
    if let first = rejected.first { throw first.error }
    let path = try store.keys.path(forKey: key)
    return try #require(store.publisher.current.root.node(at: path)?.record)
}

/// The zone every query test serves.
func domeosZone(defaultTTL: UInt32 = 3600, minTTL: UInt32 = 60, roundRobin: Bool = true) throws -> Zone {
    try Zone(domain: "domeos.sohu.", defaultTTL: defaultTTL, negativeTTL: minTTL, roundRobin: roundRobin)
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let now: Mutex<UInt32>
    init(_ start: UInt32) { now = Mutex(start) }
    func set(_ value: UInt32) { now.withLock { $0 = value } }
    var read: @Sendable () -> UInt32 { { [self] in now.withLock { $0 } } }
}

/// A synced store holding `records` (key, JSON value), loaded with one `replaceAll`.
func loadedStore(_ records: [(String, String)], zone: Zone, clock: UInt32 = 1_000) throws -> RecordStore {
    let store = RecordStore(zone: zone, pathPrefix: "skydns", clock: { clock })
    let rejected = store.apply([.replaceAll(records.map { kv($0.0, $0.1) })])
    try #require(rejected.isEmpty, "fixture records rejected: \(rejected)")
    return store
}

/// A query built through the general encoder, RD set.
func query(_ name: String, _ type: RecordType = .a, id: UInt16 = 0x4242, edns: EDNS? = nil,
           recordClass: RecordClass = .in) -> [UInt8] {
    Message(header: Header(id: id, flags: Header.rdBit),
            questions: [Question(name: dname(name), type: type, recordClass: recordClass)], edns: edns).encode()
}

/// A raw 12-byte header followed by `rest`.
func rawPacket(id: UInt16, flags: UInt16, qd: UInt16, an: UInt16 = 0, ns: UInt16 = 0, ar: UInt16 = 0,
               rest: [UInt8] = []) -> [UInt8] {
    [id, flags, qd, an, ns, ar].flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } + rest
}

/// One worker's responder and buffer, as the server keeps them.
final class Asker {
    let responder = QueryResponder()
    var writer = WireWriter(capacity: 4096)

    /// Runs `packet` and returns the outcome with the bytes written.
    func ask(_ packet: [UInt8], snapshot: Snapshot, maxUDPSize: Int? = 4096) -> (outcome: QueryResponder.Outcome, bytes: [UInt8]) {
        writer.reset()
        let outcome = packet.withUnsafeBytes { responder.respond(to: $0, snapshot: snapshot, maxUDPSize: maxUDPSize, into: &writer) }
        return (outcome, writer.bytes)
    }

    /// Runs `packet`, requires an answer and parses it.
    func response(_ packet: [UInt8], snapshot: Snapshot, maxUDPSize: Int? = 4096,
                  sourceLocation: SourceLocation = #_sourceLocation) throws -> Response {
        let (outcome, bytes) = ask(packet, snapshot: snapshot, maxUDPSize: maxUDPSize)
        let rcode: ResponseCode
        switch outcome {
        case .answered(let answered, _): rcode = answered
        // The REFUSED reply is written; a server may read the name from etcd instead.
        case .notLoaded: rcode = .refused
        default:
            Issue.record("expected an answer, got \(outcome)", sourceLocation: sourceLocation)
            throw ResponseMissing()
        }
        return Response(rcode: rcode, bytes: bytes, message: try Message(parsing: bytes))
    }
}

struct ResponseMissing: Error {}

struct Response {
    /// What `respond` returned (it includes the extended RCODE).
    var rcode: ResponseCode
    var bytes: [UInt8]
    var message: Message

    var header: Header { message.header }
    var answers: [ResourceRecord] { message.answers }

    /// The A and AAAA answers in order, in presentation form.
    var addresses: [String] {
        message.answers.compactMap { record in
            switch record.data {
            case .a(let a): a.description
            case .aaaa(let aaaa): aaaa.description
            default: nil
            }
        }
    }

    var soa: (record: ResourceRecord, data: SOARecord)? {
        for record in message.authorities {
            if case .soa(let soa) = record.data { return (record, soa) }
        }
        return nil
    }
}
