import SkyDNSStore
import StrictJSON

/// The v3 JSON gateway operations the watcher needs, for the keys under one prefix.
struct EtcdV3 {
    enum WatchEnd {
        /// The watch needs a full re-read before it can go on.
        case compacted
        /// Time limit or idle timeout: re-issue from the last applied revision.
        case idle
    }

    let connection: EtcdConnection
    var pageSize = 10_000
    /// The bytes a range page should hold: the next page asks for as many keys as fit at the
    /// last page's bytes per key. A page of several keys that grows past four times this is cut
    /// off and asked again with a quarter of the keys; a lone key may be as large as etcd holds.
    /// So a read of large values holds a bounded number of bytes at a time, whatever the keys
    /// per page.
    var pageBytes = 16 << 20

    /// Whether any key starts with `prefix`.
    func hasKeys(prefix: String) throws -> Bool {
        try !firstKeyPage(prefix).kvs.isEmpty
    }

    /// Where etcd is now: its cluster and current revision (a one-key read of the prefix).
    func position(prefix: String) throws -> EtcdPosition {
        let page = try firstKeyPage(prefix)
        return EtcdPosition(clusterID: page.clusterID, index: page.revision, raftTerm: page.raftTerm)
    }

    /// How many keys started with `prefix` at `revision` (nil: that revision is compacted or not
    /// reached, so it cannot be compared).
    func count(prefix: String, at revision: Int64) throws -> Int64? {
        do {
            return try rangePage(prefixRange(Array(prefix.utf8), [
                ("revision", .string(String(revision))), ("count_only", true),
            ]), maxBody: HTTPRequest.smallBody).count
        } catch EtcdError.server(let status, _) where status < 500 && status != 200 {
            return nil
        }
    }

    /// Exactly `key` as it stood at `revision`: its history, or nil when absent then (or the
    /// revision cannot be read).
    func history(of key: String, at revision: Int64) throws -> KeyHistory? {
        do {
            return try rangePage(["key": base64(Array(key.utf8)), "revision": .string(String(revision))],
                                 maxBody: HTTPRequest.smallBody).kvs.first?.history
        } catch EtcdError.server(let status, _) where status < 500 && status != 200 {
            return nil
        }
    }

    /// The TTL a lease was granted with; nil when the lease is gone.
    func grantedTTL(lease: Int64) throws -> UInt32? {
        let response = try connection.send(
            method: "POST", path: "/v3/lease/timetolive", json: ["ID": .string(String(lease))],
            totalTimeout: nil, idleTimeout: connection.config.requestSeconds, maxBody: HTTPRequest.smallBody)
        guard response.status == 200, let granted = (try? JSONValue.parse(response.body))?["grantedTTL"]?.int64,
              granted > 0 else { return nil }
        return UInt32(clamping: granted)
    }

    /// The value of exactly `key`; nil when it is absent.
    func readKey(_ key: String, timeout: Double) throws -> [UInt8]? {
        try rangePage(["key": base64(Array(key.utf8))], timeout: timeout, maxBody: HTTPRequest.smallBody).kvs.first?.keyValue.value
    }

    /// `key` itself and every key below `key + "/"`.
    func readTree(_ key: String, timeout: Double) throws -> [EtcdKey] {
        let exact = try rangePage(["key": base64(Array(key.utf8))], timeout: timeout).kvs
        return try exact + readPrefix(key + "/", timeout: timeout).kvs
    }

    /// `key` itself and at most `limit` keys below it, in one request each; nil when there are
    /// more below.
    func readSmallTree(_ key: String, limit: Int, timeout: Double) throws -> [EtcdKey]? {
        let exact = try rangePage(["key": base64(Array(key.utf8))], timeout: timeout).kvs
        let below = try rangePage(prefixRange(Array((key + "/").utf8), [("limit", .integer(limit))]), timeout: timeout)
        return below.more ? nil : exact + below.kvs
    }

    /// The first key starting with `prefix` (its name only), with the header etcd answers with.
    func firstKeyPage(_ prefix: String) throws -> V3RangePage {
        try rangePage(prefixRange(Array(prefix.utf8), [("limit", 1), ("keys_only", true)]), maxBody: HTTPRequest.smallBody)
    }

    /// A range request for every key starting with `prefix`, with `options` after.
    func prefixRange(_ prefix: [UInt8], _ options: [(String, JSONValue)]) -> JSONValue {
        .object([("key", base64(prefix)), ("range_end", base64(v3RangeEnd(forPrefix: prefix)))] + options)
    }

    func rangePage(_ body: JSONValue, timeout: Double? = nil,
                           maxBody: Int = HTTPRequest.largestBody) throws -> V3RangePage {
        try Self.rangePage(connection, body, timeout: timeout, maxBody: maxBody)
    }

    static func rangePage(_ connection: EtcdConnection, _ body: JSONValue, timeout: Double?,
                                      maxBody: Int = HTTPRequest.largestBody) throws -> V3RangePage {
        let response = try connection.send(
            method: "POST", path: "/v3/kv/range", json: body,
            totalTimeout: timeout, idleTimeout: connection.config.requestSeconds, maxBody: maxBody)
        guard response.status == 200 else {
            throw EtcdError.server(status: response.status, message: bodySummary(response.body))
        }
        var page = try V3RangePage.parse(response.body)
        page.bytes = response.body.count
        return page
    }
}
