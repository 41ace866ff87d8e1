import Dispatch
import ExtrasBase64
import SkyDNSStore
import StrictJSON
import Synchronization

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
    var kvs: [EtcdKey]
    var more: Bool
    var count: Int64
    var raftTerm: Int64? = nil

    static func parse(_ body: [UInt8]) throws -> V3RangePage {
        var reader = JSONReader(body)
        var header = V3Header()
        var kvs: [EtcdKey] = []
        var more = false, count: Int64 = 0, failed = false
        do {
            try reader.beginObject()
            while let field = try reader.nextKey() {
                switch field {
                case "header": header = try V3Header(&reader)
                case "kvs":
                    if try reader.readNull() { continue }
                    try reader.beginArray()
                    while try reader.nextElement() { kvs.append(try V3KeyValue(&reader).kv) }
                case "more": more = try reader.readFlag()
                case "count": count = try reader.readInt64() ?? 0
                case "error":
                    failed = true
                    try reader.skipValue()
                default: try reader.skipValue()
                }
            }
            try reader.finish()
        } catch let error as JSONSyntaxError {
            throw EtcdError.malformed("range: \(error): \(bodySummary(body))")
        }
        if failed { throw EtcdError.server(status: 200, message: bodySummary(body)) }
        guard let revision = header.revision else {
            throw EtcdError.malformed("range: no header revision: \(bodySummary(body))")
        }
        return V3RangePage(revision: revision, clusterID: header.clusterID, kvs: kvs, more: more, count: count,
                           raftTerm: header.raftTerm)
    }
}

/// One JSON object of the /v3/watch stream.
enum V3WatchMessage: Equatable {
    case created
    /// `revision` is the highest mod_revision among the events: everything up to it is applied;
    /// `current` is etcd's revision when it sent them (the header's).
    case events([WatchedChange], revision: Int64, current: Int64)
    /// Nothing under the watched range changed up to `revision`.
    case progress(revision: Int64)
    /// The start revision was compacted away: only a full re-read can catch up.
    case compacted(revision: Int64)
    case canceled(reason: String)

    /// Read with the JSON reader rather than into a tree: under a stream of changes every
    /// event passes through here, and only the key, value, lease and revision are kept.
    static func parse(_ bytes: [UInt8]) throws -> V3WatchMessage {
        var reader = JSONReader(bytes)
        var header = V3Header()
        var events: [WatchedChange] = []
        var revision: Int64 = 0, compactRevision: Int64 = 0
        var sawResult = false, created = false, canceled = false
        var cancelReason = "no reason given"
        do {
            try reader.beginObject()
            while let field = try reader.nextKey() {
                guard field == "result" else {
                    try reader.skipValue()
                    continue
                }
                if try reader.readNull() { continue }
                sawResult = true
                try reader.beginObject()
                while let field = try reader.nextKey() {
                    switch field {
                    case "header": header = try V3Header(&reader)
                    case "created": created = try reader.readFlag()
                    case "canceled": canceled = try reader.readFlag()
                    case "cancel_reason": cancelReason = try reader.readStringOrSkip() ?? cancelReason
                    case "compact_revision": compactRevision = try reader.readInt64() ?? 0
                    case "events":
                        if try reader.readNull() { continue }
                        try reader.beginArray()
                        while try reader.nextElement() {
                            let event = try readEvent(&reader, in: bytes)
                            revision = max(revision, event.modRevision)
                            events.append(event.event)
                        }
                    default: try reader.skipValue()
                    }
                }
            }
            try reader.finish()
        } catch let error as JSONSyntaxError {
            throw EtcdError.malformed("watch: \(error): \(bodySummary(bytes))")
        }
        guard sawResult else { throw EtcdError.server(status: 200, message: "watch: \(bodySummary(bytes))") }
        if compactRevision > 0 { return .compacted(revision: compactRevision) }
        if canceled { return .canceled(reason: cancelReason) }
        if !events.isEmpty { return .events(events, revision: revision, current: header.revision ?? revision) }
        if created { return .created }
        return .progress(revision: header.revision ?? 0)
    }

    private static func readEvent(_ reader: inout JSONReader, in bytes: [UInt8]) throws -> (event: WatchedChange, modRevision: Int64) {
        var isDelete = false
        var kv: V3KeyValue?
        try reader.beginObject()
        while let field = try reader.nextKey() {
            switch field {
            case "type": isDelete = try reader.readStringOrSkip() == "DELETE"
            case "kv": kv = try reader.readNull() ? nil : V3KeyValue(&reader)
            default: try reader.skipValue()
            }
        }
        guard let kv else { throw EtcdError.malformed("watch: event without kv: \(bodySummary(bytes))") }
        return (isDelete ? .delete(key: kv.kv.key) : .put(kv.kv), kv.modRevision)
    }
}

/// The parts of a v3 response header the watcher uses.
private struct V3Header {
    var revision: Int64?
    var clusterID: String?
    var raftTerm: Int64?

    init() {}

    init(_ reader: inout JSONReader) throws {
        if try reader.readNull() { return }
        try reader.beginObject()
        while let field = try reader.nextKey() {
            switch field {
            case "revision": revision = try reader.readInt64()
            case "raft_term": raftTerm = try reader.readInt64()
            case "cluster_id":  // a uint64, written as a string by the gateway
                switch try reader.kind() {
                case .string: clusterID = try reader.readString()
                case .number: clusterID = String(try reader.readNumberLiteral())
                default: try reader.skipValue()
                }
            default: try reader.skipValue()
            }
        }
    }
}

/// A v3 `mvccpb.KeyValue`, its key and value base64 in the gateway's JSON.
private struct V3KeyValue {
    var kv: EtcdKey
    var modRevision: Int64 = 0

    init(_ reader: inout JSONReader) throws {
        var key: [UInt8]?
        var value: [UInt8] = []
        var lease: Int64 = 0
        var history = KeyHistory()
        try reader.beginObject()
        while let field = try reader.nextKey() {
            switch field {
            case "key": key = try reader.readNull() ? nil : base64Decoded(reader.readStringBytes())
            case "value": value = try reader.readNull() ? [] : base64Decoded(reader.readStringBytes())
            case "lease": lease = try reader.readInt64() ?? 0
            case "mod_revision": modRevision = try reader.readInt64() ?? 0
            case "create_revision": history.created = try reader.readInt64() ?? 0
            case "version": history.version = try reader.readInt64() ?? 0
            default: try reader.skipValue()
            }
        }
        guard let key else { throw EtcdError.malformed("kv without a base64 key") }
        history.modified = modRevision
        kv = EtcdKey(keyValue: KeyValue(key: String(decoding: key, as: UTF8.self), value: value), lease: lease,
                     history: history)
    }
}

private func base64Decoded(_ text: ArraySlice<UInt8>) throws -> [UInt8] {
    do {
        return try Base64.decode(bytes: text)
    } catch {
        throw EtcdError.malformed("a key or value that is not base64: \(String(decoding: text.prefix(100), as: UTF8.self))")
    }
}

private func base64(_ bytes: [UInt8]) -> JSONValue { .string(Base64.encodeToString(bytes: bytes)) }

extension JSONReader {
    /// A boolean flag; false when absent, null or not a boolean.
    mutating func readFlag() throws(JSONSyntaxError) -> Bool {
        if try kind() == .bool { return try readBool() }
        try skipValue()
        return false
    }

    /// A string; nil (and the value skipped) for anything else.
    mutating func readStringOrSkip() throws(JSONSyntaxError) -> String? {
        if try kind() == .string { return try readString() }
        try skipValue()
        return nil
    }
}

/// Cuts a byte stream into complete top-level JSON objects, whatever the chunking and
/// whether or not objects are separated by newlines.
struct JSONObjectSplitter {
    /// The longest object kept: a watch message of a transaction's worth of etcd's largest values.
    static let maxObject = 256 << 20
    private let maxObject: Int
    private var buffer: [UInt8] = []
    /// Set when an object grew past `maxObject`; the stream then stops.
    private(set) var overflowed = false
    private var depth = 0
    private var inString = false
    private var escaped = false

    init(maxObject: Int = JSONObjectSplitter.maxObject) {
        self.maxObject = maxObject
    }

    /// Calls `emit` for each object completed by `chunk`; stops and returns false as soon as
    /// `emit` does.
    mutating func append(_ chunk: UnsafeRawBufferPointer, emit: ([UInt8]) -> Bool) -> Bool {
        for byte in chunk {
            if depth == 0 {
                guard byte == UInt8(ascii: "{") else { continue }  // whitespace between objects
            }
            guard buffer.count < maxObject else {
                overflowed = true
                return false
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
        try !firstKeyPage(prefix).kvs.isEmpty
    }

    /// All keys starting with `prefix` at one revision, read page by page. `timeout` limits
    /// each page; nil for none (a stalled page is still cut off by the idle timeout).
    func readPrefix(_ prefix: String, timeout: Double? = nil) throws -> (kvs: [EtcdKey], revision: Int64) {
        var kvs: [EtcdKey] = []
        let revision = try readPrefix(prefix, timeout: timeout) { page, _ in kvs += page }
        return (kvs, revision)
    }

    /// The same read, handing each page to `onPage` (with whether it is the last) as it arrives;
    /// returns the revision every page was read at. Pages are fetched and decoded on a thread
    /// of their own, one page ahead of `onPage`, so etcd producing pages and the store taking
    /// them in overlap (on a million keys each takes tens of seconds).
    func readPrefix(_ prefix: String, timeout: Double? = nil,
                    onPage: ([EtcdKey], _ last: Bool) -> Void) throws -> Int64 {
        try readPrefix(prefix, timeout: timeout) { page, last, _ in onPage(page, last) }
    }

    /// The same, also handing over how many keys the range held from the page's start on
    /// (etcd's count: the first page's is the total).
    func readPrefix(_ prefix: String, timeout: Double? = nil,
                    onPage: ([EtcdKey], _ last: Bool, _ remaining: Int64) -> Void) throws -> Int64 {
        let reader = PageReader(connection: connection, prefix: Array(prefix.utf8), pageSize: pageSize, timeout: timeout)
        while true {
            let page = try reader.next()
            let last = !page.more || page.kvs.isEmpty
            onPage(page.kvs, last, page.count)
            if last { return page.revision }
        }
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
            totalTimeout: nil, idleTimeout: connection.config.requestTimeout, maxBody: HTTPRequest.smallBody)
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

    /// Streams changes under `prefix` from `startRevision` to `onMessage` (one call per
    /// response, in order) until compaction, `maxDuration`, `idleTimeout` or an error.
    func watch(
        prefix: String, from startRevision: Int64, maxDuration: Double?, idleTimeout: Double,
        onMessage: @escaping (V3WatchMessage) -> Void
    ) throws -> WatchEnd {
        let create = prefixRange(Array(prefix.utf8), [
            ("start_revision", .string(String(startRevision))), ("progress_notify", true),
        ])
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
            var events: [WatchedChange] = []
            var revision: Int64 = 0, current: Int64 = 0
            func flush() {
                guard !events.isEmpty else { return }
                onMessage(.events(events, revision: revision, current: current))
                events = []
            }
            defer { flush() }
            return splitter.append(chunk) { object in
                do {
                    let message = try V3WatchMessage.parse(object)
                    switch message {
                    case .events(let more, let moreRevision, let moreCurrent):
                        events += more
                        revision = max(revision, moreRevision)
                        current = max(current, moreCurrent)
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
        if splitter.overflowed { throw EtcdError.malformed("watch: a message longer than \(JSONObjectSplitter.maxObject) bytes") }
        if response.ending == .complete {
            // etcd never ends a healthy watch; a closed stream means the member went away.
            throw EtcdError.transport("watch stream closed by etcd")
        }
        return .idle
    }

    /// The first key starting with `prefix` (its name only), with the header etcd answers with.
    private func firstKeyPage(_ prefix: String) throws -> V3RangePage {
        try rangePage(prefixRange(Array(prefix.utf8), [("limit", 1), ("keys_only", true)]), maxBody: HTTPRequest.smallBody)
    }

    /// A range request for every key starting with `prefix`, with `options` after.
    private func prefixRange(_ prefix: [UInt8], _ options: [(String, JSONValue)]) -> JSONValue {
        .object([("key", base64(prefix)), ("range_end", base64(v3RangeEnd(forPrefix: prefix)))] + options)
    }

    private func rangePage(_ body: JSONValue, timeout: Double? = nil,
                           maxBody: Int = HTTPRequest.largestBody) throws -> V3RangePage {
        try Self.rangePage(connection, body, timeout: timeout, maxBody: maxBody)
    }

    fileprivate static func rangePage(_ connection: EtcdConnection, _ body: JSONValue, timeout: Double?,
                                      maxBody: Int = HTTPRequest.largestBody) throws -> V3RangePage {
        let response = try connection.send(
            method: "POST", path: "/v3/kv/range", json: body,
            totalTimeout: timeout, idleTimeout: connection.config.requestTimeout, maxBody: maxBody)
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
    private let ready = Mutex<Result<V3RangePage, any Error>?>(nil)
    private let filled = DispatchSemaphore(value: 0)
    private let emptied = DispatchSemaphore(value: 0)

    init(connection: EtcdConnection, prefix: [UInt8], pageSize: Int, timeout: Double?) {
        self.connection = connection
        do {
            try startThread { [self] in read(prefix: prefix, pageSize: pageSize, timeout: timeout) }
        } catch {
            hand(.failure(EtcdError.transport("no thread to read pages with: \(error)")))
        }
    }

    private func read(prefix: [UInt8], pageSize: Int, timeout: Double?) {
        let end = v3RangeEnd(forPrefix: prefix)
        var pageStart = prefix
        var revision: Int64?
        // The first page is small so that the first names answer soon; then pages double (up
        // to four times the first), since etcd 3.4 recounts the rest of the range for each page.
        var limit = pageSize
        while true {
            var body: JSONValue = ["key": base64(pageStart), "range_end": base64(end), "limit": .integer(limit)]
            limit = min(limit * 2, pageSize * 4)
            if let revision { body = body.adding("revision", .string(String(revision))) }
            let result = Result { try EtcdV3.rangePage(connection, body, timeout: timeout) }
            hand(result)
            guard case .success(let page) = result, page.more, let lastKey = page.kvs.last?.key else { return }
            revision = revision ?? page.revision
            pageStart = Array(lastKey.utf8) + [0]
            emptied.wait()
        }
    }

    private func hand(_ result: Result<V3RangePage, any Error>) {
        ready.withLock { $0 = result }
        filled.signal()
    }

    /// The next page; after the last one (or a failure) there is none, so do not ask again.
    func next() throws -> V3RangePage {
        filled.wait()
        let result = ready.withLock { ready in
            defer { ready = nil }
            return ready
        }
        emptied.signal()
        guard let result else { throw EtcdError.malformed("page reader handed over nothing") }
        return try result.get()
    }
}
