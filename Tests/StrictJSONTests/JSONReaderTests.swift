import StrictJSON
import Testing

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite struct JSONReaderTests {
    /// An etcd v3 watch response, walked the way the etcd client walks it.
    @Test func walksNestedObjectsAndArrays() throws {
        let document = #"""
            {"result":{"header":{"revision":"42"},"events":[{"type":"DELETE","kv":{"key":"L2E=","mod_revision":"41"}},
            {"kv":{"key":"L2I=","value":"e30=","lease":"7"}}],"extra":[1,{"x":null},true]}}
            """#
        var reader = JSONReader(bytes(document))
        var revision: Int64?
        var events: [(type: String, key: String)] = []
        try reader.beginObject()
        while let key = try reader.nextKey() {
            #expect(key == "result")
            try reader.beginObject()
            while let field = try reader.nextKey() {
                switch field {
                case "header":
                    try reader.beginObject()
                    while try reader.nextKey() != nil { revision = try reader.readInt64() }
                case "events":
                    try reader.beginArray()
                    while try reader.nextElement() {
                        var type = "PUT", key = ""
                        try reader.beginObject()
                        while let name = try reader.nextKey() {
                            if name == "type" {
                                type = try reader.readString()
                            } else {
                                try reader.beginObject()
                                while let kvField = try reader.nextKey() {
                                    if kvField == "key" { key = String(decoding: try reader.readStringBytes(), as: UTF8.self) } else { try reader.skipValue() }
                                }
                            }
                        }
                        events.append((type, key))
                    }
                default: try reader.skipValue()
                }
            }
        }
        try reader.finish()
        #expect(revision == 42)
        #expect(events.map(\.type) == ["DELETE", "PUT"])
        #expect(events.map(\.key) == ["L2E=", "L2I="])
    }

    @Test(arguments: [
        (#""plain""#, "plain"),
        (#""q\"\\\/\b\f\n\r\t""#, "q\"\\/\u{8}\u{c}\n\r\t"),
        (#""\u00e9\ud83d\ude00""#, "\u{e9}\u{1F600}"),
        (#""\ud83d""#, "\u{FFFD}"),  // a lone high surrogate
        (#""\ud83dx""#, "\u{FFFD}x"),
        (#""\ude00""#, "\u{FFFD}"),  // a lone low surrogate
        (#""\ud83d\u0041""#, "\u{FFFD}A"),
    ])
    func unescapesStrings(json: String, expected: String) throws {
        var reader = JSONReader(bytes(json))
        #expect(try reader.readString() == expected)
        try reader.finish()
    }

    @Test(arguments: [
        ("42", Int64(42)), ("-7", -7), (#""9223372036854775807""#, Int64.max), ("1.5", nil), ("1e3", nil),
        (#""x""#, nil), ("true", nil), ("null", nil), ("[1]", nil),
    ])
    func readsIntegersAsNumbersOrStrings(json: String, expected: Int64?) throws {
        var reader = JSONReader(bytes(json))
        #expect(try reader.readInt64() == expected)
        try reader.finish()  // the value was consumed whatever it was
    }

    /// Every way a document can be malformed, worded as Go's encoding/json words it.
    @Test(arguments: [
        ("", "unexpected end of JSON input"),
        ("   ", "unexpected end of JSON input"),
        ("{", "unexpected end of JSON input"),
        (#"{"a""#, "unexpected end of JSON input"),
        (#"{"a":"#, "unexpected end of JSON input"),
        (#""abc"#, "unexpected end of JSON input"),
        ("x", "invalid character 'x' looking for beginning of value"),
        (#"{"a":1,}"#, "invalid character '}' looking for beginning of object key string"),
        ("{'a':1}", #"invalid character '\'' looking for beginning of object key string"#),
        (#"{"a" 1}"#, "invalid character '1' after object key"),
        (#"{"a":1 "b":2}"#, #"invalid character '"' after object key:value pair"#),
        (#"{"a":1]"#, "invalid character ']' after object key:value pair"),
        ("[1 2]", "invalid character '2' after array element"),
        ("[1,]", "invalid character ']' looking for beginning of value"),
        (#"{"a":01}"#, "invalid character '1' after object key:value pair"),
        ("-", "unexpected end of JSON input"),
        ("-x", "invalid character 'x' in numeric literal"),
        ("1.", "unexpected end of JSON input"),
        ("1.e5", "invalid character 'e' after decimal point in numeric literal"),
        ("1e+", "unexpected end of JSON input"),
        ("1ex", "invalid character 'x' in exponent of numeric literal"),
        ("tru", "unexpected end of JSON input"),
        ("trux", "invalid character 'x' in literal true (expecting 'e')"),
        ("nul1", "invalid character '1' in literal null (expecting 'l')"),
        (#""\x""#, "invalid character 'x' in string escape code"),
        (#""\u12g4""#, "invalid character 'g' in \\u hexadecimal character escape"),
        ("\"a\u{1}\"", #"invalid character '\x01' in string literal"#),
        ("\"a\n\"", #"invalid character '\n' in string literal"#),
        ("\u{7F}", #"invalid character '\x7f' looking for beginning of value"#),
        ("\\", #"invalid character '\\' looking for beginning of value"#),
        ("\"", "unexpected end of JSON input"),
        ("{} x", "invalid character 'x' after top-level value"),
    ])
    func rejectsMalformedDocuments(json: String, message: String) {
        #expect(throws: JSONSyntaxError(message)) { _ = try JSONValue.parse(bytes(json)) }
    }

    @Test func skipValueChecksWhatItSkips() throws {
        var good = JSONReader(bytes(#"{"a":[1,{"b":"}"},[[]],null,false,-0.5e-3],"c":2}"#))
        try good.skipValue()
        try good.finish()
        var bad = JSONReader(bytes(#"{"a":[1,{"b" 2}]}"#))
        #expect(throws: JSONSyntaxError("invalid character '2' after object key")) { try bad.skipValue() }
    }

    @Test func nestingIsLimited() throws {
        let deep = String(repeating: "[", count: JSONReader.maxDepth) + String(repeating: "]", count: JSONReader.maxDepth)
        var reader = JSONReader(bytes(deep))
        try reader.skipValue()
        try reader.finish()
        let tooDeep = "[" + deep + "]"
        #expect(throws: JSONSyntaxError("invalid character '[' exceeded max depth")) { _ = try JSONValue.parse(bytes(tooDeep)) }
    }

    /// Bytes that are not valid UTF-8 (JSON text must be) are read as Go reads them: each bad
    /// byte becomes U+FFFD.
    @Test func invalidUTF8BecomesReplacementCharacters() throws {
        var reader = JSONReader([0x22, 0x61, 0xFF, 0x62, 0x22])
        #expect(try reader.readString() == "a\u{FFFD}b")
    }

    /// A string without escapes is handed back as a slice of the document, not a copy.
    @Test func unescapedStringBytesAreASliceOfTheDocument() throws {
        var reader = JSONReader(bytes(#"["abc","a\nb"]"#))
        try reader.beginArray()
        #expect(try reader.nextElement())
        let plain = try reader.readStringBytes()
        #expect(Array(plain) == bytes("abc") && plain.startIndex == 2)
        #expect(try reader.nextElement())
        #expect(Array(try reader.readStringBytes()) == bytes("a\nb"))
        #expect(try !reader.nextElement())
    }
}

@Suite struct JSONValueTests {
    @Test func parsesAWholeDocument() throws {
        let value = try JSONValue.parse(bytes(#" {"a":[1,"x",true,null],"b":{"c":-2.5e3},"a":0} "#))
        #expect(value == .object([
            ("a", .array([.number("1"), .string("x"), .bool(true), .null])),
            ("b", .object([("c", .number("-2.5e3"))])),
            ("a", .number("0")),
        ]))
        #expect(value["a"] == .number("0"))  // the last duplicate, as encoding/json takes it
        #expect(value["missing"] == nil)
    }

    @Test(arguments: [
        JSONValue.object([("key", .string("L3NreWRucw==")), ("limit", .integer(10)), ("keys_only", .bool(true))]),
        .object([("create_request", .object([("start_revision", .string("5")), ("x", .null)]))]),
        .array([.string("q\"\\\n\r\t\u{1}é"), .number("-1"), .array([])]),
    ])
    func serializesWhatItParses(value: JSONValue) throws {
        #expect(try JSONValue.parse(value.serialized) == value)
    }

    @Test func serializesCompactly() {
        let value = JSONValue.object([("a", .integer(1)), ("b", .array([.string("x\u{1}"), .null]))])
        #expect(String(decoding: value.serialized, as: UTF8.self) == #"{"a":1,"b":["x\u0001",null]}"#)
    }
}
