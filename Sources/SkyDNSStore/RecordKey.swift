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
        // Bytes, not Characters: every change from etcd comes through here.
        guard key.utf8.starts(with: prefix.utf8) else { throw .invalidKey("\(key) is not under \(prefix)") }
        // ASCII only, exactly as the query path lower-cases names.
        let bytes = key.utf8.dropFirst(prefix.utf8.count).map(asciiLowercase)
        var path: [String] = []
        var total = 1
        var start = 0
        while true {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "/")) ?? bytes.endIndex
            if start == end {
                // A trailing slash is harmless; an empty label in the middle is not a name.
                if end == bytes.endIndex && !path.isEmpty { break }
                throw .invalidKey("empty label")
            }
            guard end - start <= DomainName.maxLabelLength else { throw .invalidKey("label over 63 bytes") }
            total += end - start + 1
            path.append(String(decoding: bytes[start..<end], as: UTF8.self))
            if end == bytes.endIndex { break }
            start = end + 1
        }
        guard total <= DomainName.maxLength else { throw .invalidKey("name over 255 bytes") }
        return path
    }

    /// The DNS name of a trie path (`["sohu","domeos","kafka"]` → `kafka.domeos.sohu.`).
    public static func name(forPath path: some BidirectionalCollection<String>) -> DomainName {
        (try? DomainName(labels: path.reversed().map { Array($0.utf8) })) ?? .root
    }
}
