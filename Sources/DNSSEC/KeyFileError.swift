/// Why a `-dnssec` key pair could not be loaded. Each names the file and what is wrong with it,
/// for the message the server exits 2 with.
public enum KeyFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file is missing, unreadable, not a regular file or larger than `KeyFiles.maxFileBytes`.
    case unreadable(path: String, reason: String)
    /// The `.key` file holds no DNSKEY record, or more than one.
    case noSingleDNSKEY(path: String, count: Int)
    /// The DNSKEY line lacks a field or has a field that is not a number in range.
    case malformedDNSKEY(path: String, reason: String)
    /// The owner name of the DNSKEY is not a domain name.
    case badOwner(path: String, owner: String)
    /// Flags other than 256 (zone key) or 257 (zone key, SEP): a key that cannot sign a zone.
    case badFlags(path: String, flags: Int)
    /// Protocol other than 3 (RFC 4034 §2.1.2).
    case badProtocol(path: String, protocolNumber: Int)
    /// An algorithm other than 8, 13 or 15.
    case unsupportedAlgorithm(path: String, algorithm: String)
    /// A field that should be base64 is not.
    case badBase64(path: String, field: String)
    /// The public or private key has the wrong size or form for its algorithm.
    case badKeyMaterial(path: String, reason: String)
    /// The `.private` file lacks a line it needs, or is not BIND's private-key format.
    case missingField(path: String, field: String)
    /// The `.key` and `.private` files name different algorithms.
    case algorithmMismatch(keyAlgorithm: UInt8, privateAlgorithm: UInt8)
    /// The private key is not the one the DNSKEY publishes.
    case keyMismatch(path: String)
    /// The key's owner is not the served domain: validators would reject every signature.
    case wrongZone(owner: String, domain: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
        case .noSingleDNSKEY(let path, let count):
            count == 0 ? "\(path) holds no DNSKEY record" : "\(path) holds \(count) DNSKEY records; one is needed"
        case .malformedDNSKEY(let path, let reason): "\(path): malformed DNSKEY record: \(reason)"
        case .badOwner(let path, let owner): "\(path): the DNSKEY owner \(owner) is not a domain name"
        case .badFlags(let path, let flags): "\(path): DNSKEY flags \(flags) are not a zone key (256 or 257)"
        case .badProtocol(let path, let number): "\(path): DNSKEY protocol \(number) is not 3"
        case .unsupportedAlgorithm(let path, let algorithm):
            "\(path): algorithm \(algorithm) is not supported (8 RSASHA256, 13 ECDSAP256SHA256, 15 ED25519)"
        case .badBase64(let path, let field): "\(path): \(field) is not base64"
        case .badKeyMaterial(let path, let reason): "\(path): \(reason)"
        case .missingField(let path, let field): "\(path): no \(field) line"
        case .algorithmMismatch(let key, let privateAlgorithm):
            "the .key file is algorithm \(key) but the .private file is algorithm \(privateAlgorithm)"
        case .keyMismatch(let path): "\(path) is not the private half of the DNSKEY in the .key file"
        case .wrongZone(let owner, let domain): "the key is for \(owner), not the served domain \(domain)"
        }
    }
}
