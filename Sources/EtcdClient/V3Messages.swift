import ExtrasBase64
import SkyDNSStore
import StrictJSON

// The v3 JSON gateway's messages (etcd's grpc-gateway: keys and values base64), read with the
// JSON pull reader.

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
    /// The answer's length in bytes (set by the request, not the parser).
    var bytes = 0
    /// The last key's bytes as etcd holds them (a key's `String` replaces bytes that are not
    /// UTF-8): the next page starts after these.
    var lastKey: [UInt8]? = nil

    static func parse(_ body: [UInt8]) throws -> V3RangePage {
        var reader = JSONReader(body)
        var header = V3Header()
        var kvs: [EtcdKey] = []
        var more = false, count: Int64 = 0, failed = false
        var lastKey: [UInt8]?
        do {
            try reader.beginObject()
            while let field = try reader.nextKey() {
                switch field {
                case "header": header = try V3Header(&reader)
                case "kvs":
                    if try reader.readNull() { continue }
                    try reader.beginArray()
                    while try reader.nextElement() {
                        let kv = try V3KeyValue(&reader)
                        kvs.append(kv.kv)
                        lastKey = kv.rawKey
                    }
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
                           raftTerm: header.raftTerm, lastKey: lastKey)
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
    var rawKey: [UInt8]

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
        rawKey = key
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

func base64(_ bytes: [UInt8]) -> JSONValue { .string(Base64.encodeToString(bytes: bytes)) }

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
