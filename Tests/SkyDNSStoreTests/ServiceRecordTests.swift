import Testing
@testable import SkyDNSStore

/// The SkyDNS JSON value as writers (kube2sky above all) put it in etcd.
@Suite struct ServiceRecordTests {
    @Test func decodesEveryField() throws {
        let value = #"""
            {"host":"10.0.0.1","port":8080,"priority":20,"weight":30,"text":"hello","mail":true,
             "ttl":45,"targetstrip":2,"group":"g1"}
            """#
        let decoded = try ServiceRecord.decode(bytes(value))
        #expect(decoded == ServiceRecord(host: "10.0.0.1", port: 8080, priority: 20, weight: 30, text: "hello",
                                         mail: true, ttl: 45, targetStrip: 2, group: "g1"))
    }

    @Test func decodesKube2skyValue() throws {
        let decoded = try ServiceRecord.decode(bytes(#"{"host":"172.28.0.12","priority":10,"weight":10,"ttl":30}"#))
        #expect(decoded == ServiceRecord(host: "172.28.0.12", priority: 10, weight: 10, ttl: 30))
    }

    /// Every field is optional; missing and null fields take the zero value, as Go leaves them.
    @Test(arguments: [
        #"{}"#,
        #"{"host":null,"port":null,"priority":null,"weight":null,"text":null,"mail":null,"ttl":null,"targetstrip":null,"group":null}"#,
        #"{"unknown":"ignored","nested":{"a":[1,2]}}"#,
    ])
    func missingFieldsDefault(value: String) throws {
        #expect(try ServiceRecord.decode(bytes(value)) == ServiceRecord())
    }

    @Test func partialValueKeepsDefaultsForTheRest() throws {
        let decoded = try ServiceRecord.decode(bytes(#"{"text":"only text","mail":true}"#))
        #expect(decoded == ServiceRecord(text: "only text", mail: true))
        #expect(decoded.host.isEmpty && decoded.port == 0 && decoded.ttl == 0)
    }

    /// The JSON name is `targetstrip`; as in Go, keys match whatever their case.
    @Test func targetStripUsesSkyDNSName() throws {
        #expect(try ServiceRecord.decode(bytes(#"{"targetstrip":3}"#)).targetStrip == 3)
        #expect(try ServiceRecord.decode(bytes(#"{"targetStrip":3}"#)).targetStrip == 3)
        #expect(try ServiceRecord.decode(bytes(#"{"target_strip":3}"#)).targetStrip == 0)
    }

    /// Go's encoding/json, which SkyDNS used: case-insensitive keys, null and unknown keys of any
    /// shape ignored, the last duplicate wins, escapes decoded; anything else malformed rejected.
    @Test func goJSONRules() throws {
        #expect(try ServiceRecord.decode(bytes(#"{"Host":"10.0.0.1","TTL":5}"#)) == ServiceRecord(host: "10.0.0.1", ttl: 5))
        #expect(try ServiceRecord.decode(bytes(#"{"host":null,"port":null,"mail":null}"#)) == ServiceRecord())
        #expect(try ServiceRecord.decode(bytes(#"{"x":{"y":[1,{"z":"}"}]},"host":"a.b"}"#)).host == "a.b")
        #expect(try ServiceRecord.decode(bytes(#"{"host":"a","host":"b"}"#)).host == "b")
        #expect(try ServiceRecord.decode(bytes(#"{"text":"q\"\u00e9\ud83d\ude00\n"}"#)).text == "q\"\u{e9}\u{1F600}\n")
        #expect(throws: RecordError.self) { try ServiceRecord.decode(bytes(#"{"host":"a"} x"#)) }
        #expect(throws: RecordError.self) { try ServiceRecord.decode(bytes(#"{"host":"a",}"#)) }
        #expect(throws: RecordError.self) { try ServiceRecord.decode(bytes(#"{"port":01}"#)) }
    }

    /// A field of the wrong type rejects the value, and the error names the field for the log.
    @Test(arguments: [
        (#"{"port":"80"}"#, "port"),
        (#"{"host":12}"#, "host"),
        (#"{"priority":"10"}"#, "priority"),
        (#"{"weight":true}"#, "weight"),
        (#"{"text":["a"]}"#, "text"),
        (#"{"mail":"yes"}"#, "mail"),
        (#"{"ttl":"30"}"#, "ttl"),
        (#"{"targetstrip":"1"}"#, "targetstrip"),
        (#"{"group":5}"#, "group"),
        (#"{"host":"10.0.0.1","port":{"n":1}}"#, "port"),
    ])
    func wrongTypeNamesField(value: String, field: String) throws {
        let error = #expect(throws: RecordError.self) { try ServiceRecord.decode(bytes(value)) }
        guard case .invalidJSON(let why) = error else {
            Issue.record("expected invalidJSON, got \(String(describing: error))")
            return
        }
        #expect(why.contains("\"\(field)\""), "message \(why) does not name \(field)")
    }

    /// Numbers that are JSON but do not fit the field are rejected too. (Only the rejection is
    /// checked: Foundation on Linux reports these without naming the field.)
    @Test(arguments: [#"{"ttl":-1}"#, #"{"ttl":4294967296}"#, #"{"ttl":1.5}"#, #"{"port":1e30}"#, #"{"targetstrip":-0.5}"#])
    func outOfRangeNumbersRejected(value: String) {
        #expect(throws: RecordError.self) { try ServiceRecord.decode(bytes(value)) }
    }

    @Test(arguments: ["", "not json", "{", #"{"host":"10.0.0.1""#, "[1,2]", #""10.0.0.1""#, "42", "null", "\u{FF}"])
    func nonObjectRejected(value: String) {
        let error = #expect(throws: RecordError.self) { try ServiceRecord.decode(bytes(value)) }
        guard case .invalidJSON = error else {
            Issue.record("expected invalidJSON, got \(String(describing: error))")
            return
        }
    }

    @Test func invalidUTF8Rejected() {
        let error = #expect(throws: RecordError.self) { try ServiceRecord.decode([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D]) }
        guard case .invalidJSON = error else {
            Issue.record("expected invalidJSON, got \(String(describing: error))")
            return
        }
    }

    @Test func errorDescriptionsSayWhatIsWrong() {
        #expect(RecordError.invalidJSON("x").description.contains("not SkyDNS JSON"))
        #expect(RecordError.invalidHost("a..b").description.contains("a..b"))
        #expect(RecordError.invalidKey("empty label").description.contains("empty label"))
    }
}
