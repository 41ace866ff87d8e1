#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSWire
import Testing
@testable import DNSSEC

/// RFC 8080 §6.1's first Ed25519 key and RFC 6605 §6.1's P-256 key, as BIND writes them.
enum Vectors {
    static let ed25519Key = "example.com. 3600 IN DNSKEY 257 3 15 ( l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4= )"
    static let ed25519Private = """
        Private-key-format: v1.2
        Algorithm: 15 (ED25519)
        PrivateKey: ODIyNjAzODQ2MjgwODAxMjI2NDUxOTAyMDQxNDIyNjI=
        """
    /// RFC 8080 §6.1's second Ed25519 private key: not the half of `ed25519Key`.
    static let otherEd25519Private = """
        Private-key-format: v1.2
        Algorithm: 15 (ED25519)
        PrivateKey: DSSF3o0s0f+ElWzj9E/Osxw8hLpk55chkmx0LYN5WiY=
        """
    static let p256Key = """
        example.net. 3600 IN DNSKEY 257 3 13 (
                GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edb
                krSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA== ) ; key id = 55648
        """
    static let p256Private = """
        Private-key-format: v1.2
        Algorithm: 13 (ECDSAP256SHA256)
        PrivateKey: GU6SnQ/Ou+xC5RumuIUIuJZteXT2z0O/ok1s38Et6mQ=
        """

    static func key(_ text: String, _ privateText: String) throws -> SigningKey {
        let dnskey = try KeyFiles.parseKey(text, path: "K.key")
        return try KeyFiles.parsePrivate(privateText, path: "K.private", dnskey: dnskey)
    }
}

@Suite struct KeyFilesTests {
    @Test("good key files of each algorithm parse, with the key tag BIND gives them",
          arguments: [
              (Vectors.ed25519Key, Vectors.ed25519Private, SigningAlgorithm.ed25519, UInt16(3613), "example.com."),
              (Vectors.p256Key, Vectors.p256Private, .ecdsaP256SHA256, 55648, "example.net."),
              (RSAFixture.key, RSAFixture.privateKey, .rsaSHA256, RSAFixture.keyTag, "example.test."),
          ])
    func goodKeys(key: String, privateKey: String, algorithm: SigningAlgorithm, tag: UInt16, owner: String) throws {
        let signing = try Vectors.key(key, privateKey)
        #expect(signing.dnskey.algorithm == algorithm)
        #expect(signing.keyTag == tag)
        #expect(signing.dnskey.owner == (try DomainName(owner)))
        let data: [UInt8] = Array("data".utf8)
        #expect(signing.verify(try signing.sign(data), over: data))
        #expect(!signing.verify(try signing.sign(data), over: data + [0]))
    }

    static let malformedKeys: [(String, String, KeyFileError)] = [
        ("empty", "", .noSingleDNSKEY(path: "K.key", count: 0)),
        ("comment only", "; example.com. IN DNSKEY 257 3 15 AAAA", .noSingleDNSKEY(path: "K.key", count: 0)),
        ("two records", Vectors.ed25519Key + "\n" + Vectors.ed25519Key, .noSingleDNSKEY(path: "K.key", count: 2)),
        ("relative owner", "example.com IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=",
         .badOwner(path: "K.key", owner: "example.com")),
        ("no owner", "DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=",
         .malformedDNSKEY(path: "K.key", reason: "no owner name")),
        ("missing key", "example.com. IN DNSKEY 257 3 15", .malformedDNSKEY(
            path: "K.key", reason: "flags, protocol, algorithm and key are needed")),
        ("flags not a number", "example.com. IN DNSKEY x 3 15 AAAA", .malformedDNSKEY(path: "K.key", reason: "flags x")),
        ("flags out of range", "example.com. IN DNSKEY 70000 3 15 AAAA", .malformedDNSKEY(path: "K.key", reason: "flags 70000")),
        ("not a zone key", "example.com. IN DNSKEY 1 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=",
         .badFlags(path: "K.key", flags: 1)),
        ("protocol 4", "example.com. IN DNSKEY 256 4 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=",
         .badProtocol(path: "K.key", protocolNumber: 4)),
        ("RSASHA1", "example.com. IN DNSKEY 256 3 5 AwEAAQ==", .unsupportedAlgorithm(path: "K.key", algorithm: "5")),
        ("algorithm by name", "example.com. IN DNSKEY 256 3 ED25519 AAAA", .unsupportedAlgorithm(path: "K.key", algorithm: "ED25519")),
        ("bad base64", "example.com. IN DNSKEY 256 3 15 l02W*i0iS8Aa", .badBase64(path: "K.key", field: "the public key")),
        ("short Ed25519 key", "example.com. IN DNSKEY 256 3 15 AAAA",
         .badKeyMaterial(path: "K.key", reason: "an Ed25519 public key is 32 bytes")),
        ("P-256 point off the curve", "example.com. IN DNSKEY 256 3 13 " + String(repeating: "A", count: 84) + "BB==",
         .badKeyMaterial(path: "K.key", reason: "an ECDSA P-256 public key is a 64-byte point on the curve")),
        ("RSA exponent overruns", "example.com. IN DNSKEY 256 3 8 /wEA",
         .badKeyMaterial(path: "K.key", reason: "an RSA public key whose exponent overruns it")),
        ("RSA too small", "example.com. IN DNSKEY 256 3 8 AwEAAc" + String(repeating: "A", count: 170),
         .badKeyMaterial(path: "K.key", reason: "an RSA key of 1024 bits; 2048 to 4096 are accepted")),
    ]

    @Test("each malformed .key file is refused with its own error", arguments: malformedKeys)
    func malformedKey(name: String, text: String, expected: KeyFileError) {
        #expect(throws: expected) { try KeyFiles.parseKey(text, path: "K.key") }
    }

    static let malformedPrivate: [(String, String, String, KeyFileError)] = [
        ("no format line", Vectors.ed25519Key, "Algorithm: 15 (ED25519)\nPrivateKey: ODIyNjAzODQ2MjgwODAxMjI2NDUxOTAyMDQxNDIyNjI=",
         .missingField(path: "K.private", field: "Private-key-format: v1.x")),
        ("not BIND's format", Vectors.ed25519Key, "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n",
         .missingField(path: "K.private", field: "Private-key-format: v1.x")),
        ("no algorithm", Vectors.ed25519Key, "Private-key-format: v1.3\nPrivateKey: AAAA",
         .missingField(path: "K.private", field: "Algorithm")),
        ("other algorithm", Vectors.ed25519Key, Vectors.p256Private,
         .algorithmMismatch(keyAlgorithm: 15, privateAlgorithm: 13)),
        ("unsupported algorithm", Vectors.ed25519Key, "Private-key-format: v1.3\nAlgorithm: 16 (ED448)\nPrivateKey: AAAA",
         .unsupportedAlgorithm(path: "K.private", algorithm: "16")),
        ("no private key", Vectors.ed25519Key, "Private-key-format: v1.3\nAlgorithm: 15 (ED25519)",
         .missingField(path: "K.private", field: "PrivateKey")),
        ("bad base64", Vectors.ed25519Key, "Private-key-format: v1.3\nAlgorithm: 15 (ED25519)\nPrivateKey: !!",
         .badBase64(path: "K.private", field: "PrivateKey")),
        ("short private key", Vectors.ed25519Key, "Private-key-format: v1.3\nAlgorithm: 15 (ED25519)\nPrivateKey: AAAA",
         .badKeyMaterial(path: "K.private", reason: "an Ed25519 private key is 32 bytes")),
        ("another key's private half", Vectors.ed25519Key, Vectors.otherEd25519Private, .keyMismatch(path: "K.private")),
        ("P-256 scalar out of range", Vectors.p256Key,
         "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: " + String(repeating: "/", count: 42) + "8=",
         .badKeyMaterial(path: "K.private", reason: "an ECDSA P-256 private key is 32 bytes in range")),
        ("RSA without primes", RSAFixture.key,
         RSAFixture.privateKey.split(separator: "\n").filter { !$0.hasPrefix("Prime") }.joined(separator: "\n"),
         .missingField(path: "K.private", field: "Prime1")),
        ("RSA of another modulus", RSAFixture.key,
         RSAFixture.privateKey.replacingFirst("Modulus: x", with: "Modulus: y"), .keyMismatch(path: "K.private")),
    ]

    @Test("each malformed .private file is refused with its own error", arguments: malformedPrivate)
    func malformedPrivateKey(name: String, key: String, text: String, expected: KeyFileError) throws {
        let dnskey = try KeyFiles.parseKey(key, path: "K.key")
        #expect(throws: expected) { try KeyFiles.parsePrivate(text, path: "K.private", dnskey: dnskey) }
    }

    @Test("files that cannot be read: missing, not regular, too large")
    func unreadableFiles() {
        #expect(throws: KeyFileError.unreadable(path: "/nonexistent/K.key", reason: "No such file or directory")) {
            try KeyFiles.load(basename: "/nonexistent/K")
        }
        #expect(throws: KeyFileError.unreadable(path: "/dev/zero", reason: "not a regular file")) {
            try KeyFiles.read("/dev/zero")
        }
        let path = "/tmp/dnssec-keyfiles-test-\(getpid()).key"
        let big = [UInt8](repeating: 0x20, count: KeyFiles.maxFileBytes + 1)
        let file = fopen(path, "w")
        _ = big.withUnsafeBytes { fwrite($0.baseAddress, 1, big.count, file) }
        fclose(file)
        defer { unlink(path) }
        #expect(throws: KeyFileError.unreadable(path: path, reason: "larger than 65536 bytes")) { try KeyFiles.read(path) }
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        var characters = Array(self)
        let wanted = Array(target)
        for start in 0...max(0, characters.count - wanted.count)
        where Array(characters[start..<min(characters.count, start + wanted.count)]) == wanted {
            characters.replaceSubrange(start..<start + wanted.count, with: Array(replacement))
            return String(characters)
        }
        return self
    }
}
