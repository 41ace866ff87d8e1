import Testing
@testable import DNSWire

@Suite("DomainName")
struct DomainNameTests {
    static let label63 = String(repeating: "a", count: 63)

    @Test("presentation form parses to labels", arguments: [
        ("example.com", ["example", "com"]),
        ("example.com.", ["example", "com"]),
        (".", []),
        ("", []),
        ("a\\.b.c", ["a.b", "c"]),
        ("a\\032b.c", ["a b", "c"]),
        ("\\\\x.y", ["\\x", "y"]),
        ("\\065bc", ["Abc"]),
        ("\\000", ["\u{0}"]),
        ("Mixed.CASE.Org", ["Mixed", "CASE", "Org"]),
    ])
    func parsesPresentation(text: String, labels: [String]) throws {
        let parsed = try DomainName(text)
        #expect(parsed.labels.map { String(decoding: $0, as: UTF8.self) } == labels)
        #expect(parsed.labelCount == labels.count)
        #expect(parsed.isRoot == labels.isEmpty)
        var wire: [UInt8] = []
        for label in labels {
            wire.append(UInt8(label.utf8.count))
            wire.append(contentsOf: label.utf8)
        }
        wire.append(0)
        #expect(parsed.wire == wire)
    }

    @Test("invalid presentation form is rejected", arguments: [
        ("a..b", WireError.emptyLabel),
        (".a", WireError.emptyLabel),
        ("a.b..", WireError.emptyLabel),
        ("a\\", WireError.invalidText("a\\")),
        ("a\\25", WireError.invalidText("a\\25")),
        ("a\\256", WireError.invalidText("a\\256")),
        ("a\\2x5", WireError.invalidText("a\\2x5")),
        (String(repeating: "b", count: 64) + ".com", WireError.labelTooLong),
        ([label63, label63, label63, label63].joined(separator: "."), WireError.nameTooLong),
        (Array(repeating: "a", count: 128).joined(separator: "."), WireError.nameTooLong),
    ])
    func rejectsInvalid(text: String, error: WireError) {
        #expect(throws: error) { try DomainName(text) }
    }

    @Test("limits: 63-byte label and 255-byte name are accepted")
    func limits() throws {
        #expect(try DomainName(Self.label63 + ".com").labels.first?.count == 63)
        // 3 × (1 + 63) + (1 + 61) + 1 = 255
        let longest = try DomainName([Self.label63, Self.label63, Self.label63, String(repeating: "c", count: 61)]
            .joined(separator: "."))
        #expect(longest.wire.count == DomainName.maxLength)
        #expect(throws: WireError.nameTooLong) {
            try DomainName([Self.label63, Self.label63, Self.label63, String(repeating: "c", count: 62)]
                .joined(separator: "."))
        }
    }

    @Test("init(labels:) validates labels")
    func fromLabels() throws {
        #expect(try DomainName(labels: [ascii("www"), ascii("example")]) == name("www.example"))
        #expect(try DomainName(labels: [[UInt8]]()) == .root)
        #expect(throws: WireError.emptyLabel) { try DomainName(labels: [ascii("a"), []]) }
        #expect(throws: WireError.labelTooLong) { try DomainName(labels: [[UInt8](repeating: 0x61, count: 64)]) }
    }

    @Test("description escapes and round-trips byte for byte", arguments: [
        ("Example.COM", "Example.COM."),
        ("example.com.", "example.com."),
        (".", "."),
        ("a\\.b.c", "a\\.b.c."),
        ("a\\032b", "a\\032b."),
        ("back\\\\slash", "back\\\\slash."),
        ("\\127\\255\\000x", "\\127\\255\\000x."),
        ("_srv._tcp.skydns.local", "_srv._tcp.skydns.local."),
    ])
    func descriptionRoundTrip(text: String, expected: String) throws {
        let parsed = try DomainName(text)
        #expect(parsed.description == expected)
        let reparsed = try DomainName(parsed.description)
        #expect(reparsed.wire == parsed.wire)
    }

    @Test("description round-trips every byte value")
    func descriptionAllBytes() throws {
        for half in [0..<128, 128..<256] {
            let bytes = half.map { UInt8($0) }
            let labels = stride(from: 0, to: 128, by: 32).map { Array(bytes[$0..<($0 + 32)]) }
            let original = try DomainName(labels: labels)
            #expect(try DomainName(original.description).wire == original.wire)
        }
    }

    @Test("equality and hashing ignore ASCII case only", arguments: [
        ("EXAMPLE.com", "example.COM", true),
        ("WwW.Example.Org.", "www.example.org", true),
        ("example.com", "example.org", false),
        ("a.b", "ab", false),
        ("a.bc", "ab.c", false),
        (".", ".", true),
        ("[", "{", false),   // 0x5B vs 0x7B: differ by 0x20 but are not letters
        ("@", "`", false),   // 0x40 vs 0x60
        ("\\193", "\\225", false), // Latin-1 Á/á are not folded
    ])
    func caseInsensitiveEquality(lhs: String, rhs: String, equal: Bool) {
        let left = name(lhs), right = name(rhs)
        #expect((left == right) == equal)
        if equal {
            #expect(left.hashValue == right.hashValue)
            #expect(Set([left, right]).count == 1)
        }
    }

    @Test("lowercased keeps structure and folds letters")
    func lowercased() {
        let mixed = name("WwW.ExAmple-Z.COM")
        #expect(mixed.lowercased().wire == name("www.example-z.com").wire)
        #expect(mixed.wire != mixed.lowercased().wire)
        #expect(mixed == mixed.lowercased())
        #expect(asciiLowercase(UInt8(ascii: "A")) == UInt8(ascii: "a"))
        #expect(asciiLowercase(UInt8(ascii: "Z")) == UInt8(ascii: "z"))
        #expect(asciiLowercase(UInt8(ascii: "@")) == UInt8(ascii: "@"))
        #expect(asciiLowercase(UInt8(ascii: "[")) == UInt8(ascii: "["))
        #expect(asciiLowercase(0xC1) == 0xC1)
    }

    @Test("isSubdomain(of:) respects label boundaries", arguments: [
        ("a.b", "a.b", true),
        ("x.a.b", "a.b", true),
        ("X.A.B", "a.b", true),
        ("a.b", ".", true),
        (".", ".", true),
        (".", "a.b", false),
        ("xa.b", "a.b", false),
        ("ab.c", "b.c", false),
        ("b", "a.b", false),
        ("a.bb.c", "b.c", false),
        ("a\\001b.c", "b.c", false),  // wire 03 61 01 62 01 63 00 ends in b.c's bytes, not its labels
        ("skydns.local", "local", true),
        ("1.2.skydns.local", "skydns.local", true),
    ])
    func subdomain(child: String, parent: String, expected: Bool) {
        #expect(name(child).isSubdomain(of: name(parent)) == expected)
    }
}
