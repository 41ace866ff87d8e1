import DNSWire
import SkyDNSStore

// libFuzzer target for the store's boundary: generated etcd values (SkyDNS JSON inside and beyond
// every field's range, random keys and depths) are applied to a store as the etcd watcher applies
// them, then random queries are answered from what it holds. Nothing may trap, hang or grow; the
// store's counts must match its records; every record must already fit the wire; every answer
// must be a valid message within its size limit.

let zone = try! Zone(domain: "skydns.test.", local: "a.svc.skydns.test.", stubZonesEnabled: true)

// libFuzzer calls the target from one thread.
nonisolated(unsafe) let responder = QueryResponder(recursionAvailable: true)
nonisolated(unsafe) var writer = WireWriter(capacity: 65535)

let queryTypes: [RecordType] = [.a, .aaaa, .srv, .mx, .txt, .cname, .ptr, .ns, .soa, .any, RecordType(99), .a, .srv]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    var entropy = Entropy(UnsafeBufferPointer(start: data, count: count))
    let store = RecordStore(zone: zone, pathPrefix: "skydns", clock: { 1_000 })
    // A publication between batches is rarer than the watcher's (one a batch): it is what makes
    // later changes copy the paths a snapshot shares, and one in eight batches reaches that as
    // surely as every batch did, at a fraction of the cost.
    for _ in 0..<(1 + entropy.below(4)) {
        store.apply(changes(&entropy), publish: entropy.chance(32))
    }
    store.publish()
    let snapshot = store.publisher.current
    checkRecords(snapshot)
    for _ in 0..<(1 + entropy.below(6)) {
        ask(&entropy, snapshot: snapshot)
    }
    return 0
}

func keyValue(_ entropy: inout Entropy) -> KeyValue {
    KeyValue(key: KeyGenerator.key(&entropy), value: ValueGenerator.value(&entropy),
             ttl: entropy.chance(32) ? UInt32(entropy.byte()) : nil)
}

func changes(_ entropy: inout Entropy) -> [StoreChange] {
    (0..<(1 + entropy.below(4))).map { _ in
        switch entropy.below(16) {
        case 0: .delete(key: KeyGenerator.key(&entropy))
        case 1: .deleteTree(key: entropy.chance(16) ? "/skydns/" : KeyGenerator.key(&entropy))
        case 2: .replaceAll((0..<entropy.below(6)).map { _ in keyValue(&entropy) })
        case 3: .firstReadPage((0..<entropy.below(6)).map { _ in keyValue(&entropy) }.sorted { $0.key < $1.key },
                               first: entropy.chance(128), complete: entropy.chance(96))
        default: .put(keyValue(&entropy))
        }
    }
}

/// What the store holds is what it counts, and each record is already in the wire's ranges.
func checkRecords(_ snapshot: Snapshot) {
    var walked = 0
    snapshot.root.forEachNamedRecord(name: .root) { record, name in
        walked += 1
        precondition((0...65535).contains(record.port) && (0...65535).contains(record.priority)
                     && (0...65535).contains(record.weight), "16-bit field out of range")
        precondition(record.ttl <= StoredRecord.maxTTL, "TTL over 2^31 - 1")
        // The character strings as stored, without joining them back into one text.
        let strings = record.txt?.strings ?? []
        precondition(strings.allSatisfy { $0.count <= 255 }, "character string over 255 bytes")
        precondition(strings.reduce(0) { $0 + $1.count } <= StoredRecord.maxTextBytes, "text over the limit")
        let strippable = if case .name(let host) = record.target { host.labelCount } else { name.labelCount }
        precondition(record.targetStrip >= 0 && record.targetStrip < strippable, "targetstrip strips every label")
        return true
    }
    precondition(walked == snapshot.recordCount, "record count \(snapshot.recordCount) but \(walked) records")
}

func ask(_ entropy: inout Entropy, snapshot: Snapshot) {
    var labels = (0..<entropy.below(6)).map { _ in Array(KeyGenerator.label(&entropy).utf8) }.filter { !$0.isEmpty && $0.count <= 63 }
    labels += entropy.pick([["skydns", "test"], ["skydns", "test"], ["0", "10", "in-addr", "arpa"], ["example", "org"], []])
        .map { Array($0.utf8) }
    guard let name = try? DomainName(labels: labels) else { return }
    let type = entropy.pick(queryTypes)
    let edns: EDNS? = entropy.chance(128) ? EDNS(udpPayloadSize: entropy.pick([0, 512, 1232, 4096, 65535])) : nil
    let packet = Message(header: Header(id: 7, flags: Header.rdBit), questions: [Question(name: name, type: type)], edns: edns).encode()
    let maxUDPSize: Int? = entropy.pick([512, 1232, 4096, nil])
    let outcome = packet.withUnsafeBytes { responder.respond(to: $0, snapshot: snapshot, maxUDPSize: maxUDPSize, into: &writer) }
    guard case .answered = outcome else { return }
    precondition(writer.count <= (maxUDPSize.map { max($0, 4096) } ?? 65535), "response over the limit")
    guard let response = try? Message(parsing: writer.bytes) else { fatalError("response does not parse: \(writer.bytes)") }
    precondition(response.header.id == 7 && response.questions.count == 1, "response does not echo the query")
}

/// SwiftPM links an executable's entry point as `<module>_main`; hand control to libFuzzer's
/// driver from there (its own `main` is not linked in).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32

@_cdecl("StoreFuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return runFuzzerDriver(&argc, &argv) { data, count in fuzz(data, count) }
}
