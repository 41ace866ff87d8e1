import SkyDNSStore
import StrictJSON

/// v2 error codes the watcher reacts to (etcd's Documentation/v2/errorcode.md).
enum V2ErrorCode {
    static let keyNotFound = 100
    static let eventIndexCleared = 401
}

/// Every leaf (a node with a value) at or below `node`; directory nodes themselves are skipped.
func v2Leaves(of node: JSONValue) -> [EtcdKey] {
    if node["dir"]?.bool == true || node["nodes"] != nil {
        return (node["nodes"]?.array ?? []).flatMap(v2Leaves)
    }
    guard let key = node["key"]?.string, let value = node["value"]?.string else { return [] }
    return [EtcdKey(keyValue: KeyValue(key: key, value: Array(value.utf8), ttl: v2TTL(node["ttl"])), history: v2History(node))]
}

/// A v2 node's modified and created index.
func v2History(_ node: JSONValue) -> KeyHistory {
    KeyHistory(modified: node["modifiedIndex"]?.int64 ?? 0, created: node["createdIndex"]?.int64 ?? 0)
}

private func v2TTL(_ raw: JSONValue?) -> UInt32? {
    guard let ttl = raw?.int64, ttl >= 0 else { return nil }
    return UInt32(clamping: ttl)
}

/// The event a v2 watch action means for the record store; nil for changes to directories
/// themselves (creating an empty directory adds no record).
func v2Event(action: String, node: JSONValue) -> WatchedChange? {
    guard let key = node["key"]?.string else { return nil }
    let isDir = node["dir"]?.bool == true
    switch action {
    case "set", "create", "update", "compareAndSwap":
        guard !isDir, let value = node["value"]?.string else { return nil }
        return .put(EtcdKey(keyValue: KeyValue(key: key, value: Array(value.utf8), ttl: v2TTL(node["ttl"])),
                            history: v2History(node)))
    case "delete", "expire", "compareAndDelete":
        return isDir ? .deleteTree(key: key) : .delete(key: key)
    default:
        return nil
    }
}

/// A v2 answer's JSON object; what is wrong with it otherwise (etcd, or a proxy before it, may
/// answer with something else entirely).
private func v2Document(status: Int, body: [UInt8], what: String) throws -> JSONValue {
    let object: JSONValue
    do {
        object = try JSONValue.parse(body)
    } catch {
        throw EtcdError.server(status: status, message: "\(what): \(error): \(bodySummary(body))")
    }
    guard case .object = object else { throw EtcdError.server(status: status, message: "\(what): \(bodySummary(body))") }
    return object
}

/// The answer to a recursive GET of one key.
struct V2Tree: Equatable {
    var kvs: [EtcdKey]
    /// X-Etcd-Index: the store index the read reflects; a watch from index + 1 misses nothing.
    var index: Int64
    var exists: Bool

    static func parse(status: Int, body: [UInt8], etcdIndex: Int64?) throws -> V2Tree {
        let object = try v2Document(status: status, body: body, what: "v2 read")
        if let code = object["errorCode"]?.int64 {
            if code == V2ErrorCode.keyNotFound {
                return V2Tree(kvs: [], index: etcdIndex ?? object["index"]?.int64 ?? 0, exists: false)
            }
            throw EtcdError.server(status: status, message: "v2 read: \(bodySummary(body))")
        }
        guard let node = object["node"], case .object = node else {
            throw EtcdError.malformed("v2 read without node: \(bodySummary(body))")
        }
        let kvs = v2Leaves(of: node)
        guard let index = etcdIndex ?? maxModifiedIndex(node) else {
            throw EtcdError.malformed("v2 read without X-Etcd-Index")
        }
        return V2Tree(kvs: kvs, index: index, exists: true)
    }

    private static func maxModifiedIndex(_ node: JSONValue) -> Int64? {
        let children = (node["nodes"]?.array ?? []).compactMap(maxModifiedIndex)
        return (children + [node["modifiedIndex"]?.int64].compactMap { $0 }).max()
    }
}

/// How one v2 long-poll ended.
enum V2WaitResult: Equatable {
    /// A change at `index`; `event` is nil when it does not touch any record.
    case change(WatchedChange?, index: Int64)
    /// The wait index fell out of etcd's 1000-event history: only a full re-read can catch up.
    case outdated
    /// No change before the long-poll ended. Nothing under the key changed up to `etcdIndex`
    /// (etcd's index when the wait started), if etcd sent it.
    case idle(etcdIndex: Int64?)

    static func parse(status: Int, body: [UInt8]) throws -> V2WaitResult {
        let object = try v2Document(status: status, body: body, what: "v2 watch")
        if let code = object["errorCode"]?.int64 {
            if code == V2ErrorCode.eventIndexCleared { return .outdated }
            throw EtcdError.server(status: status, message: "v2 watch: \(bodySummary(body))")
        }
        guard let action = object["action"]?.string, let node = object["node"], case .object = node,
            let index = node["modifiedIndex"]?.int64
        else {
            throw EtcdError.malformed("v2 watch: \(bodySummary(body))")
        }
        return .change(v2Event(action: action, node: node), index: index)
    }
}

/// Percent-encodes a key for a /v2/keys URL, keeping "/" as the path separator.
func v2KeyPath(_ key: String) -> String {
    let hex = Array("0123456789ABCDEF".utf8)
    var encoded: [UInt8] = []
    encoded.reserveCapacity(key.utf8.count)
    for byte in key.utf8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "/"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            encoded.append(byte)
        default:
            encoded += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
        }
    }
    return String(decoding: encoded, as: UTF8.self)
}

/// The v2 keys API operations the watcher needs.
struct EtcdV2 {
    let connection: EtcdConnection

    /// - Parameter timeout: limit for the whole read; nil for none, so that a large tree that
    ///   keeps arriving is not cut off (a stalled one still is, by the idle timeout).
    func readTree(_ key: String, timeout: Double? = nil) throws -> V2Tree {
        let response = try connection.send(
            path: "/v2/keys" + v2KeyPath(key) + "?recursive=true",
            totalTimeout: timeout, idleTimeout: connection.config.requestSeconds)
        return try V2Tree.parse(
            status: response.status, body: response.body, etcdIndex: response.header("X-Etcd-Index").flatMap { Int64($0) })
    }

    /// readTree, telling `onProgress` the nodes and bytes received after each chunk.
    func readTree(_ key: String, onProgress: (_ nodes: Int, _ bytes: Int) -> Void) throws -> V2Tree {
        var body: [UInt8] = []
        var counter = V2NodeCounter()
        let response = try withoutActuallyEscaping(onProgress) { onProgress in
            try connection.send(
                path: "/v2/keys" + v2KeyPath(key) + "?recursive=true",
                totalTimeout: nil, idleTimeout: connection.config.requestSeconds
            ) { chunk in
                body.append(contentsOf: chunk)
                counter.scan(chunk)
                onProgress(counter.count, body.count)
                return true
            }
        }
        if response.ending != .complete {
            throw EtcdError.transport("v2 read of \(key) stalled after \(body.count) bytes")
        }
        return try V2Tree.parse(
            status: response.status, body: body, etcdIndex: response.header("X-Etcd-Index").flatMap { Int64($0) })
    }

    /// Where etcd is now: its cluster and current store index.
    func position(_ key: String) throws -> EtcdPosition {
        let response = try connection.send(
            path: "/v2/keys" + v2KeyPath(key), totalTimeout: nil, idleTimeout: connection.config.requestSeconds)
        guard response.status < 500 else {
            throw EtcdError.server(status: response.status, message: bodySummary(response.body))
        }
        return EtcdPosition(clusterID: response.header("X-Etcd-Cluster-Id"),
                            index: response.header("X-Etcd-Index").flatMap { Int64($0) } ?? 0,
                            raftTerm: response.header("X-Raft-Term").flatMap { Int64($0) })
    }

    /// Exactly `key` now: its modified and created index; nil when absent.
    func history(of key: String) throws -> KeyHistory? {
        let response = try connection.send(
            path: "/v2/keys" + v2KeyPath(key), totalTimeout: nil, idleTimeout: connection.config.requestSeconds,
            maxBody: HTTPRequest.smallBody)
        guard response.status == 200 else {
            if response.status == 404 { return nil }
            throw EtcdError.server(status: response.status, message: bodySummary(response.body))
        }
        guard let node = (try? JSONValue.parse(response.body))?["node"] else { return nil }
        return v2History(node)
    }

    /// Long-polls for the first change at or below `key` with index >= `waitIndex`.
    func wait(_ key: String, waitIndex: Int64, timeout: Double) throws -> V2WaitResult {
        var body: [UInt8] = []
        var tooLarge = false
        let response = try connection.send(
            path: "/v2/keys" + v2KeyPath(key) + "?wait=true&recursive=true&waitIndex=\(waitIndex)",
            totalTimeout: timeout
        ) { chunk in
            // One event: a value of etcd's largest request size, and then some; never without end.
            guard body.count + chunk.count <= JSONObjectSplitter.maxObject else {
                tooLarge = true
                return false
            }
            body += chunk
            return true
        }
        if tooLarge { throw EtcdError.malformed("v2 watch: an event longer than \(JSONObjectSplitter.maxObject) bytes") }
        let nothingReceived = body.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") }
        if response.ending == .timedOut || nothingReceived {
            // A half-received event may be older than the start index, so only an empty
            // wait proves nothing changed up to it.
            let etcdIndex = response.header("X-Etcd-Index").flatMap { Int64($0) }
            return .idle(etcdIndex: response.status == 200 && nothingReceived ? etcdIndex : nil)
        }
        return try V2WaitResult.parse(status: response.status, body: body)
    }
}
