import DNSWire

/// Maps etcd keys to names: `/skydns/sohu/domeos/kafka-1-wkfa1/19d074a1` is the record
/// `19d074a1` below `kafka-1-wkfa1.domeos.sohu.`. The trie walks labels in key order
/// (top-level domain first), so a key's path is its labels as written.
public struct RecordKeyMapper: Sendable {
    /// The key prefix with slashes on both sides, e.g. `/skydns/`.
    public let prefix: String

    public init(pathPrefix: String) {
        let trimmed = pathPrefix.split(separator: "/").joined(separator: "/")
        // An empty prefix is the root of the keyspace, as in SkyDNS.
        prefix = trimmed.isEmpty ? "/" : "/" + trimmed + "/"
    }

    /// Whether `key` is the prefix itself (deleting it deletes every record).
    public func isPrefix(_ key: String) -> Bool {
        key == prefix || key + "/" == prefix
    }

    /// SkyDNS keeps its own settings here; it is not a record.
    public var configKey: String { prefix + "config" }

    /// Lower-cased labels of the key below the prefix, top-level first. Throws for keys outside
    /// the prefix and for labels DNS cannot carry.
    public func path(forKey key: String) throws(RecordError) -> [String] {
        guard key.hasPrefix(prefix) else { throw .invalidKey("\(key) is not under \(prefix)") }
        let labels = key.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
        var path: [String] = []
        path.reserveCapacity(labels.count)
        var total = 1
        for label in labels {
            // A trailing slash is harmless; an empty label in the middle is not a name.
            if label.isEmpty {
                if path.count == labels.count - 1 && !path.isEmpty { continue }
                throw .invalidKey("empty label")
            }
            guard label.utf8.count <= DomainName.maxLabelLength else { throw .invalidKey("label over 63 bytes") }
            total += label.utf8.count + 1
            // ASCII only, exactly as the query path lower-cases names.
            path.append(String(decoding: label.utf8.map(asciiLowercase), as: UTF8.self))
        }
        guard total <= DomainName.maxLength else { throw .invalidKey("name over 255 bytes") }
        return path
    }

    /// The DNS name of a trie path (`["sohu","domeos","kafka"]` → `kafka.domeos.sohu.`).
    public static func name(forPath path: some BidirectionalCollection<String>) -> DomainName {
        (try? DomainName(labels: path.reversed().map { Array($0.utf8) })) ?? .root
    }
}
