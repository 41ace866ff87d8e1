import SkyDNSStore

/// Which etcd keyspace SkyDNS records live in: the v2 store or the v3 MVCC store.
public enum EtcdAPI: String, Sendable {
    case v2, v3
}

/// A key as etcd reports it: the store's key and value, with what the watcher needs besides.
struct EtcdKey: Sendable, Equatable {
    var keyValue: KeyValue
    /// The v3 lease the key is attached to (0: none); the watcher turns it into the TTL.
    var lease: Int64 = 0
    /// Where the key stands in etcd's history; the watcher checks a reconnect against it.
    var history = KeyHistory()

    var key: String { keyValue.key }
}

/// A key's place in etcd's history: v3 mod_revision, create_revision and version; v2
/// modifiedIndex and createdIndex (version 0). Zero when unknown.
struct KeyHistory: Sendable, Equatable {
    var modified: Int64 = 0
    var created: Int64 = 0
    var version: Int64 = 0
}

/// One change a watch reported: the store's change, and for a put the key as etcd reported it
/// (its lease and history).
struct WatchedChange: Sendable, Equatable {
    var change: StoreChange
    var lease: Int64 = 0
    var history = KeyHistory()

    static func put(_ key: EtcdKey) -> WatchedChange {
        WatchedChange(change: .put(key.keyValue), lease: key.lease, history: key.history)
    }

    static func delete(key: String) -> WatchedChange { WatchedChange(change: .delete(key: key)) }

    static func deleteTree(key: String) -> WatchedChange { WatchedChange(change: .deleteTree(key: key)) }
}

public struct EtcdClientConfig: Sendable {
    /// e.g. ["http://127.0.0.1:2379"], from SkyDNS's -machines.
    public var endpoints: [String]
    /// "/skydns" (no trailing slash).
    public var prefix: String
    /// nil = detect which keyspace holds the records.
    public var api: EtcdAPI?
    public var caCertPath: String?
    public var tlsCertPath: String?
    public var tlsKeyPath: String?
    public var username: String?
    public var password: String?
    /// The limit for connecting, and for a non-watch request going without a byte.
    public var requestTimeout: Duration
    /// How long a watch may go without receiving a byte before it is re-issued from the last
    /// applied revision/index; this is also the v2 long-poll length.
    public var watchIdleTimeout: Duration
    /// Deliver the first v3 read page by page (`.firstReadPage`) rather than as one full read.
    public var progressiveFirstRead: Bool
    /// Keys in the first v3 range page; later pages double, up to four times this. etcd 3.4
    /// counts every remaining key of the range for each page, so large pages keep a
    /// million-key read from spending most of its time counting.
    public var pageSize: Int

    public init(
        endpoints: [String] = ["http://127.0.0.1:2379"],
        prefix: String = "/skydns",
        api: EtcdAPI? = nil,
        caCertPath: String? = nil,
        tlsCertPath: String? = nil,
        tlsKeyPath: String? = nil,
        username: String? = nil,
        password: String? = nil,
        requestTimeout: Duration = .seconds(5),
        watchIdleTimeout: Duration = .seconds(60),
        progressiveFirstRead: Bool = false,
        pageSize: Int = 10_000
    ) {
        self.progressiveFirstRead = progressiveFirstRead
        self.pageSize = pageSize
        self.endpoints = endpoints
        self.prefix = prefix
        self.api = api
        self.caCertPath = caCertPath
        self.tlsCertPath = tlsCertPath
        self.tlsKeyPath = tlsKeyPath
        self.username = username
        self.password = password
        self.requestTimeout = requestTimeout
        self.watchIdleTimeout = watchIdleTimeout
    }
}

public enum EtcdConnectionState: Sendable, Equatable {
    case connecting
    case connected(EtcdAPI)
    case disconnected(reason: String)
}

/// Why a request to etcd failed; every case leads to a retry on the next endpoint.
enum EtcdError: Error, CustomStringConvertible {
    /// No HTTP exchange happened (refused, DNS, TLS, timeout before the response).
    case transport(String)
    /// etcd answered with a status or error body this client cannot use.
    case server(status: Int, message: String)
    /// etcd answered 200 with a body of an unexpected shape.
    case malformed(String)
    /// The answer grew past the bytes allowed for it (`HTTPRequest.maxBody`).
    case tooLarge(String)
    /// stop() was called while the request ran.
    case cancelled

    var description: String {
        switch self {
        case .transport(let m): return "transport error: \(m)"
        case .server(let status, let m): return "HTTP \(status): \(m)"
        case .malformed(let m): return "unexpected response: \(m)"
        case .tooLarge(let m): return "answer too large: \(m)"
        case .cancelled: return "cancelled"
        }
    }
}

/// A point in an etcd cluster's history: the v3 revision or v2 index, which cluster, and the
/// raft term (which never goes back within one cluster's history).
struct EtcdPosition: Equatable {
    var clusterID: String?
    var index: Int64
    var raftTerm: Int64? = nil
}

extension EtcdClientConfig {
    /// `requestTimeout` in seconds, as libcurl's limits take it.
    var requestSeconds: Double { requestTimeout.asSeconds }
    /// `watchIdleTimeout` in seconds.
    var watchIdleSeconds: Double { watchIdleTimeout.asSeconds }
}

extension Duration {
    /// The duration in seconds, for libcurl's limits and the monotonic-clock deadlines.
    var asSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
