import Crypto
import CryptoExtras

/// The operator's zone key: the DNSKEY it publishes and the private key that signs, parsed and
/// checked once at start (the private key must be the DNSKEY's other half).
public struct SigningKey: Sendable {
    public let dnskey: DNSKEYRecord
    /// `dnskey.keyTag`, computed once.
    public let keyTag: UInt16
    private let signer: Signer

    private enum Signer: @unchecked Sendable {
        // The swift-crypto key types are immutable values; signing with one from several
        // threads at once is what they are for.
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    /// The private key fields of a BIND `.private` file.
    public enum PrivateMaterial: Sendable {
        /// RSA: modulus, public and private exponents, the two primes (big-endian).
        case rsa(n: [UInt8], e: [UInt8], d: [UInt8], p: [UInt8], q: [UInt8])
        /// ECDSA P-256: the 32-byte scalar; Ed25519: the 32-byte seed.
        case raw([UInt8])
    }

    /// - Throws: `KeyFileError.badKeyMaterial` for key material of the wrong size or form,
    ///   `.keyMismatch` when the private key does not belong to `dnskey`.
    public init(dnskey: DNSKEYRecord, material: PrivateMaterial, path: String) throws(KeyFileError) {
        self.dnskey = dnskey
        keyTag = dnskey.keyTag
        switch (dnskey.algorithm, material) {
        case (.rsaSHA256, .rsa(let n, let e, let d, let p, let q)):
            let (publicExponent, modulus) = try Self.rsaPublicKey(dnskey.publicKey, path: path)
            guard stripped(n) == stripped(modulus), stripped(e) == stripped(publicExponent) else {
                throw .keyMismatch(path: path)
            }
            guard let key = try? _RSA.Signing.PrivateKey(n: n, e: e, d: d, p: p, q: q) else {
                throw .badKeyMaterial(path: path, reason: "not a valid RSA private key of 2048 to 4096 bits")
            }
            signer = .rsa(key)
        case (.ecdsaP256SHA256, .raw(let scalar)):
            guard scalar.count == 32, let key = try? P256.Signing.PrivateKey(rawRepresentation: scalar) else {
                throw .badKeyMaterial(path: path, reason: "an ECDSA P-256 private key is 32 bytes in range")
            }
            guard Array(key.publicKey.rawRepresentation) == dnskey.publicKey else { throw .keyMismatch(path: path) }
            signer = .p256(key)
        case (.ed25519, .raw(let seed)):
            guard seed.count == 32, let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed) else {
                throw .badKeyMaterial(path: path, reason: "an Ed25519 private key is 32 bytes")
            }
            guard Array(key.publicKey.rawRepresentation) == dnskey.publicKey else { throw .keyMismatch(path: path) }
            signer = .ed25519(key)
        default:
            throw .badKeyMaterial(path: path, reason: "the private key fields do not match algorithm \(dnskey.algorithm.rawValue)")
        }
        // A key that cannot produce a signature its own public key accepts is refused at start,
        // not discovered by validators.
        let probe: [UInt8] = Array("swift-skydns key check".utf8)
        guard let signature = try? sign(probe), verify(signature, over: probe) else { throw .keyMismatch(path: path) }
    }

    /// The signature of `data` in RRSIG form: RSA PKCS #1 v1.5 over SHA-256 (RFC 5702 §3),
    /// ECDSA r‖s, 64 bytes (RFC 6605 §4), Ed25519, 64 bytes (RFC 8080 §4).
    public func sign(_ data: [UInt8]) throws -> [UInt8] {
        switch signer {
        case .rsa(let key): Array(try key.signature(for: data, padding: .insecurePKCS1v1_5).rawRepresentation)
        case .p256(let key): Array(try key.signature(for: data).rawRepresentation)
        case .ed25519(let key): Array(try key.signature(for: data))
        }
    }

    /// Whether `signature` over `data` verifies with this key's public half.
    public func verify(_ signature: [UInt8], over data: [UInt8]) -> Bool {
        switch signer {
        case .rsa(let key):
            key.publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: data,
                                           padding: .insecurePKCS1v1_5)
        case .p256(let key):
            (try? P256.Signing.ECDSASignature(rawRepresentation: signature)).map {
                key.publicKey.isValidSignature($0, for: data)
            } ?? false
        case .ed25519(let key):
            key.publicKey.isValidSignature(signature, for: data)
        }
    }

    /// Checks a DNSKEY's public key has its algorithm's size and form.
    static func checkPublicKey(_ dnskey: DNSKEYRecord, path: String) throws(KeyFileError) {
        switch dnskey.algorithm {
        case .rsaSHA256:
            let (exponent, modulus) = try rsaPublicKey(dnskey.publicKey, path: path)
            let bits = stripped(modulus).count * 8
            guard !stripped(exponent).isEmpty, (2048...4096).contains(bits) else {
                throw .badKeyMaterial(path: path, reason: "an RSA key of \(bits) bits; 2048 to 4096 are accepted")
            }
        case .ecdsaP256SHA256:
            guard dnskey.publicKey.count == 64, (try? P256.Signing.PublicKey(rawRepresentation: dnskey.publicKey)) != nil else {
                throw .badKeyMaterial(path: path, reason: "an ECDSA P-256 public key is a 64-byte point on the curve")
            }
        case .ed25519:
            guard dnskey.publicKey.count == 32 else {
                throw .badKeyMaterial(path: path, reason: "an Ed25519 public key is 32 bytes")
            }
        }
    }

    /// The exponent and modulus of an RSA DNSKEY (RFC 3110 §2: a one-byte exponent length, or 0
    /// and two bytes of it, then the exponent, then the modulus).
    static func rsaPublicKey(_ key: [UInt8], path: String) throws(KeyFileError) -> (exponent: [UInt8], modulus: [UInt8]) {
        guard let first = key.first else { throw .badKeyMaterial(path: path, reason: "an empty RSA public key") }
        var offset = 1
        var length = Int(first)
        if first == 0 {
            guard key.count >= 3 else { throw .badKeyMaterial(path: path, reason: "a truncated RSA public key") }
            length = Int(key[1]) << 8 | Int(key[2])
            offset = 3
        }
        guard length > 0, key.count > offset + length else {
            throw .badKeyMaterial(path: path, reason: "an RSA public key whose exponent overruns it")
        }
        return (Array(key[offset..<offset + length]), Array(key[(offset + length)...]))
    }
}

/// A big-endian number without leading zero bytes.
private func stripped(_ bytes: [UInt8]) -> ArraySlice<UInt8> {
    bytes.drop { $0 == 0 }
}
