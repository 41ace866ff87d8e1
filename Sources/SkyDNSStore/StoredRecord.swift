import DNSWire

/// A record as the answer path uses it: the decoded value with its host classified once, at
/// load time, so queries never parse text. A class, so that walking the trie moves one
/// reference per record instead of retaining each of its strings.
public final class StoredRecord: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        case ipv4([UInt8])
        case ipv6([UInt8])
        case name(DomainName)
        /// No host: only `text` (TXT) can come of it.
        case none
    }

    public let key: String
    public let service: ServiceRecord
    public let target: Target
    /// The TTL this record is answered with, before the per-answer minimum is taken.
    public let ttl: UInt32
    /// How many labels the key has below the prefix (the depth SkyDNS's groups compare).
    public let depth: Int

    /// - Parameters:
    ///   - keyTTL: the etcd v2 node TTL or v3 lease TTL, when the key has one.
    ///   - path: the key's labels below the prefix, top-level first.
    public init(key: String, path: [String], service: ServiceRecord, keyTTL: UInt32?, defaultTTL: UInt32) throws(RecordError) {
        self.key = key
        depth = path.count
        self.service = service
        if service.host.isEmpty {
            target = .none
        } else if let bytes = parseIPv4(service.host) {
            target = .ipv4(bytes)
        } else if let bytes = parseIPv6(service.host) {
            target = .ipv6(bytes)
        } else if let name = Self.hostName(service.host) {
            target = .name(name)
        } else {
            throw .invalidHost(service.host)
        }
        let valueTTL = service.ttl == 0 ? defaultTTL : service.ttl
        ttl = min(valueTTL, keyTTL ?? UInt32.max)
    }

    public static func == (lhs: StoredRecord, rhs: StoredRecord) -> Bool {
        lhs === rhs || (lhs.key == rhs.key && lhs.service == rhs.service && lhs.target == rhs.target && lhs.ttl == rhs.ttl)
    }

    /// The record's own name, from its key: `/skydns/sohu/domeos/kafka/19d074a1` is
    /// `19d074a1.kafka.domeos.sohu.` (the SRV/MX/NS target for records whose host is an IP).
    public var name: DomainName {
        RecordKeyMapper.name(forPath: key.split(separator: "/").suffix(depth).map { label in
            String(decoding: label.utf8.map(asciiLowercase), as: UTF8.self)
        })
    }

    /// A host that is a name must be one: letters, digits, `-`, `_`, `*` labels of 1 to 63 bytes.
    private static func hostName(_ host: String) -> DomainName? {
        guard let name = try? DomainName(host) else { return nil }
        let valid = name.labels.allSatisfy { label in
            label.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "*")
            }
        }
        return valid && !name.isRoot ? name : nil
    }
}
