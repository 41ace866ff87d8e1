import Foundation

/// The range_end that selects every key starting with `prefix`: the prefix with its last
/// byte below 0xff incremented and the rest dropped; [0] (no upper bound) if there is none.
func v3RangeEnd(forPrefix prefix: [UInt8]) -> [UInt8] {
    var end = prefix
    while let last = end.last {
        if last < 0xff {
            end[end.count - 1] = last + 1
            return end
        }
        end.removeLast()
    }
    return [0]
}

/// One page of a /v3/kv/range answer.
struct V3RangePage: Equatable {
    var revision: Int64
    /// The cluster that answered: a different one (a restored or replaced etcd) invalidates
    /// every revision we hold.
    var clusterID: String?
    var kvs: [EtcdKeyValue]
    var more: Bool
    var count: Int64

    static func parse(_ body: [UInt8]) throws -> V3RangePage {
        guard let object = decodeJSONObject(body) else {
            throw EtcdError.malformed("range: not a JSON object: \(bodySummary(body))")
        }
        if object["error"] != nil {
            throw EtcdError.server(status: 200, message: bodySummary(body))
        }
        guard let header = object["header"] as? [String: Any], let revision = jsonInt64(header["revision"]) else {
            throw EtcdError.malformed("range: no header revision: \(bodySummary(body))")
        }
        let kvs = try (object["kvs"] as? [Any] ?? []).map { try v3KeyValue($0) }
        return V3RangePage(
            revision: revision, clusterID: jsonString(header["cluster_id"]), kvs: kvs, more: jsonBool(object["more"]), count: jsonInt64(object["count"]) ?? 0)
    }
}

/// One JSON object of the /v3/watch stream.
enum V3WatchMessage: Equatable {
    case created
    /// `revision` is the highest mod_revision among the events: everything up to it is applied;
    /// `current` is etcd's revision when it sent them (the header's).
    case events([EtcdEvent], revision: Int64, current: Int64)
    /// Nothing under the watched range changed up to `revision`.
    case progress(revision: Int64)
    /// The start revision was compacted away: only a full re-read can catch up.
    case compacted(revision: Int64)
    case canceled(reason: String)

    static func parse(_ bytes: [UInt8]) throws -> V3WatchMessage {
        guard let object = decodeJSONObject(bytes) else {
            throw EtcdError.malformed("watch: not a JSON object: \(bodySummary(bytes))")
        }
        guard let result = object["result"] as? [String: Any] else {
            throw EtcdError.server(status: 200, message: "watch: \(bodySummary(bytes))")
        }
        if let compact = jsonInt64(result["compact_revision"]), compact > 0 {
            return .compacted(revision: compact)
        }
        if jsonBool(result["canceled"]) {
            return .canceled(reason: result["cancel_reason"] as? String ?? "no reason given")
        }
        if let rawEvents = result["events"] as? [Any], !rawEvents.isEmpty {
            var events: [EtcdEvent] = []
            var revision: Int64 = 0
            for raw in rawEvents {
                guard let event = raw as? [String: Any], let kvObject = event["kv"] as? [String: Any] else {
                    throw EtcdError.malformed("watch: event without kv: \(bodySummary(bytes))")
                }
                let kv = try v3KeyValue(kvObject)
                revision = max(revision, jsonInt64(kvObject["mod_revision"]) ?? 0)
                switch event["type"] as? String ?? "PUT" {
                case "DELETE": events.append(.delete(key: kv.key))
                default: events.append(.put(kv))
                }
            }
            let current = jsonInt64((result["header"] as? [String: Any])?["revision"]) ?? revision
            return .events(events, revision: revision, current: current)
        }
        if jsonBool(result["created"]) {
            return .created
        }
        let header = result["header"] as? [String: Any]
        return .progress(revision: jsonInt64(header?["revision"]) ?? 0)
    }
}

private func v3KeyValue(_ raw: Any) throws -> EtcdKeyValue {
    guard let object = raw as? [String: Any],
        let keyBase64 = object["key"] as? String,
        let key = Data(base64Encoded: keyBase64)
    else {
        throw EtcdError.malformed("kv without a base64 key")
    }
    var value: [UInt8] = []
    if let valueBase64 = object["value"] as? String {
        guard let decoded = Data(base64Encoded: valueBase64) else {
            throw EtcdError.malformed("kv \(String(decoding: key, as: UTF8.self)) has a value that is not base64")
        }
        value = [UInt8](decoded)
    }
    var kv = EtcdKeyValue(key: String(decoding: key, as: UTF8.self), value: value, ttl: nil)
    kv.lease = jsonInt64(object["lease"]) ?? 0
    return kv
}

private func jsonString(_ value: Any?) -> String? {
    if let text = value as? String { return text }
    return jsonInt64(value).map(String.init)
}

private func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

/// Cuts a byte stream into complete top-level JSON objects, whatever the chunking and
/// whether or not objects are separated by newlines.
struct JSONObjectSplitter {
    private var buffer: [UInt8] = []
    private var depth = 0
    private var inString = false
    private var escaped = false

    /// Calls `emit` for each object completed by `chunk`; stops and returns false as soon as
    /// `emit` does.
    mutating func append(_ chunk: UnsafeRawBufferPointer, emit: ([UInt8]) -> Bool) -> Bool {
        for byte in chunk {
            if depth == 0 {
                guard byte == UInt8(ascii: "{") else { continue }  // whitespace between objects
            }
            buffer.append(byte)
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 {
                    let object = buffer
                    buffer.removeAll(keepingCapacity: true)
                    if !emit(object) { return false }
                }
            default: break
            }
        }
        return true
    }
}

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

    /// Whether any key starts with `prefix`.
    func hasKeys(prefix: String) throws -> Bool {
        let start = Array(prefix.utf8)
        let body: [String: Any] = [
            "key": base64(start), "range_end": base64(v3RangeEnd(forPrefix: start)), "limit": 1, "keys_only": true,
        ]
        return try !rangePage(body).kvs.isEmpty
    }

    /// All keys starting with `prefix` at one revision, read page by page. `timeout` limits
    /// each page; nil for none (a stalled page is still cut off by the idle timeout).
    func readPrefix(_ prefix: String, timeout: Double? = nil) throws -> (kvs: [EtcdKeyValue], revision: Int64) {
        var kvs: [EtcdKeyValue] = []
        let revision = try readPrefix(prefix, timeout: timeout) { page, _ in kvs += page }
        return (kvs, revision)
    }

    /// The same read, handing each page to `onPage` (with whether it is the last) as it arrives;
    /// returns the revision every page was read at. Pages are fetched and decoded on a thread
    /// of their own, one page ahead of `onPage`, so etcd producing pages and the store taking
    /// them in overlap (on a million keys each takes tens of seconds).
    func readPrefix(_ prefix: String, timeout: Double? = nil,
                    onPage: ([EtcdKeyValue], _ last: Bool) -> Void) throws -> Int64 {
        let reader = PageReader(connection: connection, prefix: Array(prefix.utf8), pageSize: pageSize, timeout: timeout)
        while true {
            let page = try reader.next()
            let last = !page.more || page.kvs.isEmpty
            onPage(page.kvs, last)
            if last { return page.revision }
        }
    }

    /// Where etcd is now: its cluster and current revision (a one-key read of the prefix).
    func position(prefix: String) throws -> EtcdPosition {
        let start = Array(prefix.utf8)
        let page = try rangePage([
            "key": base64(start), "range_end": base64(v3RangeEnd(forPrefix: start)), "limit": 1, "keys_only": true,
        ])
        return EtcdPosition(clusterID: page.clusterID, index: page.revision)
    }

    /// The TTL a lease was granted with; nil when the lease is gone.
    func grantedTTL(lease: Int64) throws -> UInt32? {
        let response = try connection.send(
            method: "POST", path: "/v3/lease/timetolive", json: ["ID": String(lease)],
            totalTimeout: nil, idleTimeout: connection.config.requestTimeout)
        guard response.status == 200, let object = decodeJSONObject(response.body),
              let granted = jsonInt64(object["grantedTTL"]), granted > 0 else { return nil }
        return UInt32(clamping: granted)
    }

    /// `key` itself and every key below `key + "/"`.
    func readTree(_ key: String, timeout: Double) throws -> [EtcdKeyValue] {
        let exact = try rangePage(["key": base64(Array(key.utf8))], timeout: timeout).kvs
        return try exact + readPrefix(key + "/", timeout: timeout).kvs
    }

    /// `key` itself and at most `limit` keys below it, in one request each; nil when there are
    /// more below.
    func readSmallTree(_ key: String, limit: Int, timeout: Double) throws -> [EtcdKeyValue]? {
        let exact = try rangePage(["key": base64(Array(key.utf8))], timeout: timeout).kvs
        let start = Array((key + "/").utf8)
        let below = try rangePage(["key": base64(start), "range_end": base64(v3RangeEnd(forPrefix: start)), "limit": limit],
                                  timeout: timeout)
        return below.more ? nil : exact + below.kvs
    }

    /// Streams changes under `prefix` from `startRevision` to `onMessage` (one call per
    /// response, in order) until compaction, `maxDuration`, `idleTimeout` or an error.
    func watch(
        prefix: String, from startRevision: Int64, maxDuration: Double?, idleTimeout: Double,
        onMessage: @escaping (V3WatchMessage) -> Void
    ) throws -> WatchEnd {
        let start = Array(prefix.utf8)
        let create: [String: Any] = [
            "key": base64(start), "range_end": base64(v3RangeEnd(forPrefix: start)),
            "start_revision": String(startRevision), "progress_notify": true,
        ]
        var splitter = JSONObjectSplitter()
        var failure: Error?
        var compacted = false
        var firstBytes: [UInt8] = []
        let response = try connection.send(
            method: "POST", path: "/v3/watch", json: ["create_request": create],
            totalTimeout: maxDuration, idleTimeout: idleTimeout
        ) { chunk in
            if firstBytes.count < 300 { firstBytes += chunk.prefix(300 - firstBytes.count) }
            // The events of every message in one chunk go out as one batch: under a stream of
            // changes the store then publishes once per read instead of once per revision, and a
            // lone change is not held back at all.
            var batch: (events: [EtcdEvent], revision: Int64, current: Int64)?
            func flush() {
                if let pending = batch { onMessage(.events(pending.events, revision: pending.revision, current: pending.current)) }
                batch = nil
            }
            defer { flush() }
            return splitter.append(chunk) { object in
                do {
                    let message = try V3WatchMessage.parse(object)
                    switch message {
                    case .events(let events, let revision, let current):
                        batch = ((batch?.events ?? []) + events, max(batch?.revision ?? 0, revision),
                                 max(batch?.current ?? 0, current))
                        return true
                    case .compacted:
                        compacted = true
                        return false
                    case .canceled(let reason):
                        failure = EtcdError.server(status: 200, message: "watch canceled: \(reason)")
                        return false
                    default:
                        flush()
                        onMessage(message)
                        return true
                    }
                } catch {
                    failure = error
                    return false
                }
            }
        }
        if response.status != 200 {
            throw EtcdError.server(status: response.status, message: bodySummary(firstBytes))
        }
        if compacted { return .compacted }
        if let failure { throw failure }
        if response.ending == .complete {
            // etcd never ends a healthy watch; a closed stream means the member went away.
            throw EtcdError.transport("watch stream closed by etcd")
        }
        return .idle
    }

    private func rangePage(_ body: [String: Any], timeout: Double? = nil) throws -> V3RangePage {
        try Self.rangePage(connection, body, timeout: timeout)
    }

    fileprivate static func rangePage(_ connection: EtcdConnection, _ body: [String: Any], timeout: Double?) throws -> V3RangePage {
        let response = try connection.send(
            method: "POST", path: "/v3/kv/range", json: body,
            totalTimeout: timeout, idleTimeout: connection.config.requestTimeout)
        guard response.status == 200 else {
            throw EtcdError.server(status: response.status, message: bodySummary(response.body))
        }
        return try V3RangePage.parse(response.body)
    }
}

/// Reads a prefix page by page on a thread of its own, at most one page ahead of the reader.
private final class PageReader: @unchecked Sendable {
    // @unchecked: the connection is used by the reading thread alone until the last page (or an
    // error) has been handed over; `ready` holds at most one page, under `lock`.
    private let connection: EtcdConnection
    private let lock = NSLock()
    private var ready: Result<V3RangePage, any Error>?
    private let filled = DispatchSemaphore(value: 0)
    private let emptied = DispatchSemaphore(value: 0)

    init(connection: EtcdConnection, prefix: [UInt8], pageSize: Int, timeout: Double?) {
        self.connection = connection
        Thread.detachNewThread { [self] in read(prefix: prefix, pageSize: pageSize, timeout: timeout) }
    }

    private func read(prefix: [UInt8], pageSize: Int, timeout: Double?) {
        let end = v3RangeEnd(forPrefix: prefix)
        var pageStart = prefix
        var revision: Int64?
        // The first page is small so that the first names answer soon; then pages double (up
        // to four times the first), since etcd 3.4 recounts the rest of the range for each page.
        var limit = pageSize
        while true {
            var body: [String: Any] = ["key": base64(pageStart), "range_end": base64(end), "limit": limit]
            limit = min(limit * 2, pageSize * 4)
            if let revision { body["revision"] = String(revision) }
            let result = Result { try EtcdV3.rangePage(connection, body, timeout: timeout) }
            hand(result)
            guard case .success(let page) = result, page.more, let lastKey = page.kvs.last?.key else { return }
            revision = revision ?? page.revision
            pageStart = Array(lastKey.utf8) + [0]
            emptied.wait()
        }
    }

    private func hand(_ result: Result<V3RangePage, any Error>) {
        lock.withLock { ready = result }
        filled.signal()
    }

    /// The next page; after the last one (or a failure) there is none, so do not ask again.
    func next() throws -> V3RangePage {
        filled.wait()
        let result = lock.withLock {
            defer { ready = nil }
            return ready!
        }
        emptied.signal()
        return try result.get()
    }
}
