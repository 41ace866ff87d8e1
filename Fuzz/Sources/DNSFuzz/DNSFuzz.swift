import DNSWire
import SkyDNSStore
import StrictJSON

/// A store with every kind of record the answer path handles, built once.
let snapshot: Snapshot = {
    let store = RecordStore(zone: try! Zone(domain: "skydns.test.", local: "a.svc.skydns.test.", stubZonesEnabled: true),
                            pathPrefix: "skydns")
    let values: [(String, String)] = [
        ("/skydns/test/skydns/svc/a", #"{"host":"10.0.0.1","port":80,"weight":130}"#),
        ("/skydns/test/skydns/svc/b", #"{"host":"2001:db8::1","port":80,"priority":5}"#),
        ("/skydns/test/skydns/svc/c", #"{"host":"svc.skydns.test","port":81}"#),
        ("/skydns/test/skydns/cn/x", #"{"host":"svc.skydns.test"}"#),
        ("/skydns/test/skydns/loop1/x", #"{"host":"loop2.skydns.test"}"#),
        ("/skydns/test/skydns/loop2/x", #"{"host":"loop1.skydns.test"}"#),
        ("/skydns/test/skydns/out/x", #"{"host":"www.example.org"}"#),
        ("/skydns/test/skydns/txt/x", #"{"text":"hello"}"#),
        ("/skydns/test/skydns/mail/x", #"{"host":"10.0.0.9","mail":true,"targetstrip":1}"#),
        ("/skydns/test/skydns/g/a", #"{"host":"10.1.0.1","group":"g1"}"#),
        ("/skydns/test/skydns/g/sub/b", #"{"host":"10.1.0.2","group":"g2"}"#),
        ("/skydns/test/skydns/dns/ns/a", #"{"host":"10.0.0.53"}"#),
        ("/skydns/test/skydns/dns/stub/org/example/a", #"{"host":"127.0.0.1","port":5300}"#),
        ("/skydns/arpa/in-addr/10/0/0/1", #"{"host":"a.svc.skydns.test"}"#),
    ]
    store.apply([.replaceAll(values.map { KeyValue(key: $0.0, value: Array($0.1.utf8)) })])
    return store.publisher.current
}()

// libFuzzer calls the target from one thread.
nonisolated(unsafe) let responder = QueryResponder(recursionAvailable: true)
nonisolated(unsafe) var writer = WireWriter(capacity: 65535)

/// Every input must either parse or be rejected with an error; whatever parses must encode and
/// parse back to the same message; the responder must answer or drop without trapping, and its
/// answer must itself be a valid message. The same bytes go through the JSON reader, as an etcd
/// value would: a document that parses must serialize and parse back to itself.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    if let message = try? Message(parsing: bytes) {
        let encoded = message.encode()
        guard let again = try? Message(parsing: encoded) else { fatalError("re-encoded message does not parse") }
        precondition(again.questions == message.questions, "questions changed in a round trip")
    }
    if let name = try? DomainName(wire: bytes) {
        precondition((try? DomainName(name.description)) == name, "name presentation round trip")
    }
    if let document = try? JSONValue.parse(bytes) {
        guard let again = try? JSONValue.parse(document.serialized) else { fatalError("serialized JSON does not parse") }
        precondition(again == document, "JSON round trip changed the document")
    }
    _ = try? ServiceRecord.decode(bytes)
    for maxUDPSize in [512, nil] as [Int?] {
        let outcome = bytes.withUnsafeBytes { responder.respond(to: $0, snapshot: snapshot, maxUDPSize: maxUDPSize, into: &writer) }
        if case .answered = outcome {
            precondition(writer.count <= (maxUDPSize.map { max($0, 4096) } ?? 65535), "response over the limit")
            guard (try? Message(parsing: writer.bytes)) != nil else { fatalError("response does not parse: \(writer.bytes)") }
        }
    }
    return 0
}

/// SwiftPM links an executable's entry point as `<module>_main`; hand control to libFuzzer's
/// driver from there (its own `main` is not linked in).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32

@_cdecl("DNSFuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return runFuzzerDriver(&argc, &argv) { data, count in fuzz(data, count) }
}
