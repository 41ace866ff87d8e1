import DNSWire

/// DNSSEC algorithm numbers this server signs with (RFC 8624 §3.1: the ones validators must
/// support).
public enum SigningAlgorithm: UInt8, Sendable, CaseIterable {
    /// RSA/SHA-256, PKCS #1 v1.5 (RFC 5702).
    case rsaSHA256 = 8
    /// ECDSA P-256 with SHA-256, signature r‖s (RFC 6605).
    case ecdsaP256SHA256 = 13
    /// Ed25519, PureEdDSA (RFC 8080).
    case ed25519 = 15

    /// BIND's mnemonic, as in a key file's `Algorithm: 13 (ECDSAP256SHA256)` line.
    public var mnemonic: String {
        switch self {
        case .rsaSHA256: "RSASHA256"
        case .ecdsaP256SHA256: "ECDSAP256SHA256"
        case .ed25519: "ED25519"
        }
    }
}

/// DNSSEC record types (RFC 4034 §2-§4; NXNAME: RFC 9824 §2); RRSIG is the codec's, which
/// keeps a signature with its RRset.
extension RecordType {
    public static let nsec = RecordType(47)
    public static let dnskey = RecordType(48)
    public static let nxname = RecordType(128)
}

/// A zone key's public half: the DNSKEY record (RFC 4034 §2).
public struct DNSKEYRecord: Sendable, Equatable {
    /// The zone apex the key signs for (the key file's owner name), lower-cased.
    public var owner: DomainName
    /// 256 (zone key) or 257 (zone key, secure entry point).
    public var flags: UInt16
    public var algorithm: SigningAlgorithm
    /// The public key in the algorithm's DNSKEY form (RFC 3110 §2, RFC 6605 §4, RFC 8080 §3).
    public var publicKey: [UInt8]

    /// RDATA: flags, protocol 3, algorithm, key (RFC 4034 §2.1).
    public var rdata: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4 + publicKey.count)
        bytes.appendBigEndian(flags)
        bytes += [3, algorithm.rawValue]
        bytes += publicKey
        return bytes
    }

    /// The key tag RRSIGs name the key by (RFC 4034 appendix B: a 16-bit ones'-complement-like
    /// sum over the RDATA; algorithm 1's special case does not apply to the algorithms here).
    public var keyTag: UInt16 {
        var sum: UInt32 = 0
        for (index, byte) in rdata.enumerated() {
            sum &+= index & 1 == 0 ? UInt32(byte) << 8 : UInt32(byte)
        }
        sum &+= (sum >> 16) & 0xFFFF
        return UInt16(truncatingIfNeeded: sum)
    }
}
