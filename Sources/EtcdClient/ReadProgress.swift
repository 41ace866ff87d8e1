/// How far the first read of the prefix has come, for the log and `/readyz`.
public struct FirstReadProgress: Sendable, Equatable {
    public var api: EtcdAPI
    /// v3: keys read; v2: nodes (keys and directories) received so far.
    public var keys: Int
    /// The number of keys under the prefix, when etcd says (v3's range count).
    public var total: Int?
    public var bytes: Int
    /// Seconds since the read started.
    public var elapsed: Double

    /// Keys a second so far (0 in the first instant).
    public var rate: Int { elapsed > 0.05 ? Int((Double(keys) / elapsed).rounded()) : 0 }

    /// "10000 of 30000 keys, 12000 keys/s" (v2: "nodes", and bytes).
    public var summary: String {
        switch api {
        case .v3: return "\(keys)\(total.map { " of \($0)" } ?? "") keys, \(rate) keys/s"
        case .v2: return "\(keys) nodes (\(bytes / 1024) KiB) received, \(rate) nodes/s; etcd v2 gives no total"
        }
    }
}

/// Counts the JSON members named "key" in a v2 listing as it streams in, across chunk borders:
/// one per node. Inside a value (a JSON string in the listing) the quotes are escaped, so a
/// record's own text never matches.
struct V2NodeCounter {
    private static let pattern = Array(#""key":"#.utf8)
    private var matched = 0
    private(set) var count = 0

    mutating func scan(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            if byte == Self.pattern[matched] {
                matched += 1
                if matched == Self.pattern.count {
                    count += 1
                    matched = 0
                }
            } else {
                // The pattern's first byte occurs nowhere else in it, so a restart is exact.
                matched = byte == Self.pattern[0] ? 1 : 0
            }
        }
    }
}

/// Logs at most once per `interval` seconds, the first time no earlier than one second in (a
/// short read says nothing until it completes).
struct RateLimitedLog {
    static let interval = 2.0
    private var last: Double

    init(start: Double) { last = start - Self.interval + 1 }

    mutating func due(at now: Double) -> Bool {
        guard now - last >= Self.interval else { return false }
        last = now
        return true
    }
}
