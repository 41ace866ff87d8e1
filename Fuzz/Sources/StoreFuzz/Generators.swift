/// Reads the fuzzer's bytes as a stream of choices; past the end every choice is the first.
struct Entropy {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    var isExhausted: Bool { index >= bytes.count }

    mutating func byte() -> UInt8 {
        guard index < bytes.count else { return 0 }
        defer { index += 1 }
        return bytes[index]
    }

    mutating func below(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(byte()) % bound }

    mutating func pick<T>(_ options: [T]) -> T { options[below(options.count)] }

    mutating func chance(_ outOf256: UInt8) -> Bool { byte() < outOf256 }

    mutating func int64() -> Int64 {
        (0..<8).reduce(Int64(0)) { value, _ in value << 8 | Int64(byte()) }
    }

    /// Up to `limit` raw bytes taken from the input.
    mutating func rawBytes(limit: Int) -> [UInt8] {
        (0..<below(limit + 1)).map { _ in byte() }
    }
}

/// etcd values as writers and attackers make them: SkyDNS JSON with every field inside, at the
/// edge of and beyond its range, of the wrong type, duplicated, in odd case; and values that are
/// not JSON objects at all. Written straight into the value's bytes: building Strings piece by
/// piece cost more than the store spent on them.
enum ValueGenerator {
    static let numbers = [
        "0", "1", "-1", "2", "3", "5", "10", "80", "127", "128", "255", "256", "32767", "32768", "65535", "65536",
        "-65536", "2147483647", "2147483648", "4294967295", "4294967296", "-2147483649", "9223372036854775807",
        "-9223372036854775808", "9223372036854775808", "18446744073709551616", "99999999999999999999999",
        "1e3", "1.5", "-0", "0.0", "1E400", "00", "-", "+1", "0x10",
    ].map { Array($0.utf8) }
    static let hosts = [
        "", "10.0.0.1", "10.0.0.2", "127.0.0.1", "255.255.255.255", "0.0.0.0", "2001:db8::1", "::1", "::ffff:10.0.0.1",
        "fe80::1%eth0", "1.2.3", "1.2.3.4.5", "256.1.1.1", "a.skydns.test", "svc.skydns.test", "x.svc.skydns.test",
        "loop.skydns.test", "www.example.org", "web", "*.skydns.test", "_http._tcp.svc.skydns.test", "a..b", ".", "..",
        "10.0.0.1:53", "host name", "UPPER.Skydns.Test", "ns.dns.skydns.test", "h\u{e9}llo.test",
        String(repeating: "a", count: 63) + ".test", String(repeating: "a", count: 64) + ".test",
        Array(repeating: String(repeating: "b", count: 63), count: 4).joined(separator: "."),
        Array(repeating: "c", count: 127).joined(separator: "."),
    ].map(quoted)
    static let fields = ["host", "port", "priority", "weight", "text", "mail", "ttl", "targetstrip", "group",
                         "HOST", "Port", "TargetStrip", "target_strip", "key", "other"]
    static let quotedFields = fields.map(quoted)
    static let lowercasedFields = fields.map { $0.lowercased() }
    static let groups = ["", "g1", "g2", "G1", "x"].map(quoted)
    static let booleans = ["true", "false"].map { Array($0.utf8) }
    static let notObjects = ["null", "[]", "\"10.0.0.1\"", "12", "{", "{\"host\":", "{}", "{\"host\":\"10.0.0.1\"}x",
                             "[{\"host\":\"10.0.0.1\"}]", " {\"host\" : \"10.0.0.3\" } "].map { Array($0.utf8) }
    /// Texts at the edges of what a record (`StoredRecord.maxTextBytes`, 64,000 bytes), a
    /// character string (255) and a 16-bit RDATA length hold, counted in bytes, in one- and
    /// two-byte characters (a two-byte one then straddles the 255-byte splits): JSON string
    /// literals made once.
    static let longTexts: [[UInt8]] = [254, 255, 256, 511, 4000, 63_999, 64_000, 64_001, 65_535, 65_536, 70_000].flatMap { bytes in
        [String(repeating: "t", count: bytes),
         String(repeating: "\u{e9}", count: bytes / 2) + String(repeating: "t", count: bytes % 2)].map(quoted)
    }

    static func value(_ entropy: inout Entropy) -> [UInt8] {
        switch entropy.below(16) {
        case 0: return entropy.rawBytes(limit: 48)
        case 1: return entropy.pick(notObjects)
        default:
            var json: [UInt8] = []
            json.reserveCapacity(128)
            object(&entropy, depth: 0, into: &json)
            return json
        }
    }

    static func object(_ entropy: inout Entropy, depth: Int, into json: inout [UInt8]) {
        json.append(UInt8(ascii: "{"))
        for index in 0..<entropy.below(7) {
            if index > 0 { json.append(UInt8(ascii: ",")) }
            let field = entropy.below(fields.count)
            json += quotedFields[field]
            json.append(UInt8(ascii: ":"))
            fieldValue(lowercasedFields[field], &entropy, depth: depth, into: &json)
        }
        json.append(UInt8(ascii: "}"))
    }

    static func fieldValue(_ field: String, _ entropy: inout Entropy, depth: Int, into json: inout [UInt8]) {
        // One field in eight gets a value of some other kind.
        if entropy.chance(32) { return anyValue(&entropy, depth: depth, into: &json) }
        switch field {
        case "host":
            if entropy.chance(40) { appendQuoted(randomHost(&entropy), to: &json) } else { json += entropy.pick(hosts) }
        case "text": text(&entropy, into: &json)
        case "group": json += entropy.pick(groups)
        case "mail": json += entropy.pick(booleans)
        case "port", "priority", "weight", "ttl", "targetstrip", "target_strip":
            if entropy.chance(48) { json += String(entropy.int64()).utf8 } else { json += entropy.pick(numbers) }
        default: anyValue(&entropy, depth: depth, into: &json)
        }
    }

    static func anyValue(_ entropy: inout Entropy, depth: Int, into json: inout [UInt8]) {
        switch entropy.below(depth > 3 ? 5 : 7) {
        case 0: json += "null".utf8
        case 1: json += entropy.pick(booleans)
        case 2: json += entropy.pick(numbers)
        case 3: json += entropy.pick(hosts)
        case 4: appendQuoted(String(decoding: entropy.rawBytes(limit: 16), as: UTF8.self), to: &json)
        case 5:
            json.append(UInt8(ascii: "["))
            for index in 0..<entropy.below(4) {
                if index > 0 { json.append(UInt8(ascii: ",")) }
                anyValue(&entropy, depth: depth + 1, into: &json)
            }
            json.append(UInt8(ascii: "]"))
        default: object(&entropy, depth: depth + 1, into: &json)
        }
    }

    /// A `text` value as a JSON string literal: short ones from the input, long ones at the edges.
    static func text(_ entropy: inout Entropy, into json: inout [UInt8]) {
        if entropy.chance(224) { return appendQuoted(String(decoding: entropy.rawBytes(limit: 24), as: UTF8.self), to: &json) }
        json += entropy.pick(longTexts)
    }

    static func randomHost(_ entropy: inout Entropy) -> String {
        switch entropy.below(3) {
        case 0: return (0..<4).map { _ in String(entropy.byte()) }.joined(separator: ".")
        case 1: return (0..<8).map { _ in String(UInt16(entropy.byte()) << 8 | UInt16(entropy.byte()), radix: 16) }.joined(separator: ":")
        default: return (0..<(1 + entropy.below(6))).map { _ in KeyGenerator.label(&entropy) }.joined(separator: ".")
        }
    }

    static func quoted(_ text: String) -> [UInt8] {
        var json: [UInt8] = []
        appendQuoted(text, to: &json)
        return json
    }

    /// Appends `text` as a JSON string literal; invalid UTF-8 was already replaced when the
    /// String was made, and bytes of multi-byte characters never need escaping.
    static func appendQuoted(_ text: String, to json: inout [UInt8]) {
        json.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                json.append(UInt8(ascii: "\\"))
                json.append(byte)
            case 0..<0x20:
                json += "\\u00".utf8
                json.append(hexDigits[Int(byte >> 4)])
                json.append(hexDigits[Int(byte & 0xF)])
            default: json.append(byte)
            }
        }
        json.append(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}

/// Keys below the prefix at random depths, mostly under the served domain (`skydns.test.`), some
/// in the reverse zones, the stub zones, outside the prefix, or malformed.
enum KeyGenerator {
    static let labels = [
        "a", "b", "c", "x", "web", "svc", "loop", "*", "any", "_tcp", "_http", "dns", "ns", "stub", "local", "A", "Web",
        "10", "0", "1", "h1", "-", "_", String(repeating: "l", count: 63), String(repeating: "m", count: 64),
    ]

    static func label(_ entropy: inout Entropy) -> String {
        if entropy.chance(24) {
            return String(decoding: entropy.rawBytes(limit: 8).map { $0 == UInt8(ascii: "/") ? UInt8(ascii: "s") : $0 }, as: UTF8.self)
        }
        return entropy.pick(labels)
    }

    /// A path below the domain (top-level label first), `count` labels deep.
    static func path(_ entropy: inout Entropy) -> [String] {
        let base: [String] = switch entropy.below(10) {
        case 0: ["arpa", "in-addr", "10", "0"]
        case 1: ["test", "skydns", "dns", "stub", entropy.pick(["org", "test"]), "example"]
        case 2: ["test", "skydns", "dns", "ns"]
        case 3: []
        default: ["test", "skydns"]
        }
        return base + (0..<entropy.below(8)).map { _ in label(&entropy) }
    }

    static func key(_ entropy: inout Entropy) -> String {
        switch entropy.below(32) {
        case 0: return "/skydns/config"
        case 1: return "/other/test/skydns/x"
        case 2: return "/skydns/" + path(&entropy).joined(separator: "/") + "/"
        case 3: return "/skydns//" + path(&entropy).joined(separator: "/")
        case 4: return "/skydns/" + Array(repeating: "deep", count: 70).joined(separator: "/")
        default: return "/skydns/" + path(&entropy).joined(separator: "/")
        }
    }
}
