import Foundation
import SkyDNSStore
import StrictJSON
import Testing

@testable import EtcdClient

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
private func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }

@Suite("v3 codec")
struct V3CodecTests {
    @Test func rangeEndIncrementsLastByte() {
        #expect(v3RangeEnd(forPrefix: bytes("/skydns/")) == bytes("/skydns0"))
        #expect(v3RangeEnd(forPrefix: [0x61, 0xff]) == [0x62])
        #expect(v3RangeEnd(forPrefix: [0xff, 0xff]) == [0])
        #expect(v3RangeEnd(forPrefix: []) == [0])
    }

    @Test func rangePageDecodesKeysValuesAndRevision() throws {
        let body = """
            {"header":{"cluster_id":"1","member_id":"2","revision":"42","raft_term":"2"},
             "kvs":[{"key":"\(b64("/skydns/a"))","create_revision":"3","mod_revision":"5","version":"2","value":"\(b64("{\"host\":\"1.2.3.4\"}"))"},
                    {"key":"\(b64("/skydns/b"))","mod_revision":"7"}],
             "more":true,"count":"5"}
            """
        let page = try V3RangePage.parse(bytes(body))
        #expect(page.revision == 42)
        #expect(page.more)
        #expect(page.count == 5)
        #expect(page.kvs.map(\.keyValue) == [
            KeyValue(key: "/skydns/a", value: bytes("{\"host\":\"1.2.3.4\"}")),
            KeyValue(key: "/skydns/b", value: []),
        ])
        // What a reconnect is checked against: the raft term and each key's place in history.
        #expect(page.raftTerm == 2)
        #expect(page.kvs.map(\.history) == [KeyHistory(modified: 5, created: 3, version: 2), KeyHistory(modified: 7)])
    }

    /// A cluster ID is a uint64 (above Int64.max here); JSON may escape the base64 "/"; unknown
    /// fields of any shape are skipped.
    @Test func rangePageKeepsWideClusterIDsAndEscapedBase64() throws {
        let value = b64("{\"host\":\"10.0.0.1\"}??")  // "??" makes a "/" in the base64
        #expect(value.contains("/"))
        let page = try V3RangePage.parse(bytes("""
            {"header":{"cluster_id":"14841639068965178418","revision":"5"},"future":[{"x":null}],
             "kvs":[{"key":"\(b64("/skydns/a"))","value":"\(value.replacingOccurrences(of: "/", with: "\\/"))","lease":"694"}],
             "count":"1"}
            """))
        #expect(page.clusterID == "14841639068965178418")
        #expect(page.kvs.map(\.keyValue.value) == [bytes("{\"host\":\"10.0.0.1\"}??")])
        #expect(page.kvs.map(\.lease) == [694])
        #expect(page.count == 1 && !page.more)
    }

    /// The gateway may write an empty field as null: it reads as absent.
    @Test func nullFieldsReadAsAbsent() throws {
        let page = try V3RangePage.parse(bytes(#"{"header":{"revision":"4"},"kvs":null,"more":null,"count":null}"#))
        #expect(page == V3RangePage(revision: 4, kvs: [], more: false, count: 0))
        let watch = try V3WatchMessage.parse(bytes("""
            {"result":{"header":{"revision":"6"},"events":[{"type":"PUT","kv":{"key":"\(b64("/skydns/a"))","value":null,"mod_revision":"6"}}]}}
            """))
        let put = EtcdKey(keyValue: KeyValue(key: "/skydns/a", value: []), history: KeyHistory(modified: 6))
        #expect(watch == .events([.put(put)], revision: 6, current: 6))
        #expect(try V3WatchMessage.parse(bytes(#"{"result":{"header":null,"events":null}}"#)) == .progress(revision: 0))
    }

    @Test func emptyRangePage() throws {
        let page = try V3RangePage.parse(bytes(#"{"header":{"revision":"9"}}"#))
        #expect(page == V3RangePage(revision: 9, kvs: [], more: false, count: 0))
    }

    @Test func rangeErrorsThrow() {
        #expect(throws: EtcdError.self) { try V3RangePage.parse(bytes("not json")) }
        #expect(throws: EtcdError.self) {
            try V3RangePage.parse(bytes(#"{"error":"etcdserver: mvcc: required revision has been compacted","code":11}"#))
        }
        #expect(throws: EtcdError.self) { try V3RangePage.parse(bytes(#"{"kvs":[]}"#)) }
        #expect(throws: EtcdError.self) {
            try V3RangePage.parse(bytes(#"{"header":{"revision":"1"},"kvs":[{"key":"%%%"}]}"#))
        }
    }

    @Test func watchEventsBecomePutsAndDeletes() throws {
        let body = """
            {"result":{"header":{"revision":"12"},"events":[
              {"kv":{"key":"\(b64("/skydns/a"))","mod_revision":"10","value":"\(b64("x"))"}},
              {"type":"PUT","kv":{"key":"\(b64("/skydns/b"))","mod_revision":"11","value":"\(b64("y"))"}},
              {"type":"DELETE","kv":{"key":"\(b64("/skydns/c"))","mod_revision":"11"}}]}}
            """
        guard case .events(let events, let revision, let current) = try V3WatchMessage.parse(bytes(body)) else {
            Issue.record("not events")
            return
        }
        #expect(events.map(\.change) == [
            .put(KeyValue(key: "/skydns/a", value: bytes("x"))),
            .put(KeyValue(key: "/skydns/b", value: bytes("y"))),
            .delete(key: "/skydns/c"),
        ])
        #expect(events.map(\.history.modified) == [10, 11, 0])
        #expect(revision == 11 && current == 12)
    }

    @Test func watchControlMessages() throws {
        #expect(try V3WatchMessage.parse(bytes(#"{"result":{"header":{"revision":"3"},"created":true}}"#)) == .created)
        #expect(try V3WatchMessage.parse(bytes(#"{"result":{"header":{"revision":"30"}}}"#)) == .progress(revision: 30))
        // As etcd 3.4 sends it when start_revision was compacted.
        #expect(try V3WatchMessage.parse(bytes(
            #"{"result":{"header":{"raft_term":"2"},"canceled":true,"compact_revision":"3"}}"#)) == .compacted(revision: 3))
        #expect(try V3WatchMessage.parse(bytes(
            #"{"result":{"header":{},"canceled":true,"cancel_reason":"permission denied"}}"#))
            == .canceled(reason: "permission denied"))
    }

    @Test func watchErrorsThrow() {
        #expect(throws: EtcdError.self) { try V3WatchMessage.parse(bytes("{")) }
        #expect(throws: EtcdError.self) { try V3WatchMessage.parse(bytes(#"{"error":{"grpc_code":14,"message":"unavailable"}}"#)) }
        #expect(throws: EtcdError.self) { try V3WatchMessage.parse(bytes(#"{"result":{"events":[{"type":"PUT"}]}}"#)) }
    }

    @Test func splitterFindsObjectsAcrossArbitraryChunks() {
        let stream = #"{"result":{"a":"}{\"x"}}"# + "\n" + #"{"result":[{"b":1},{"c":"\\"}]}"# + #"  {"z":{}}"#
        let expected = [#"{"result":{"a":"}{\"x"}}"#, #"{"result":[{"b":1},{"c":"\\"}]}"#, #"{"z":{}}"#]
        for chunkSize in [1, 2, 3, 7, 1000] {
            var splitter = JSONObjectSplitter()
            var found: [String] = []
            let all = bytes(stream)
            for start in stride(from: 0, to: all.count, by: chunkSize) {
                let chunk = Array(all[start..<min(start + chunkSize, all.count)])
                let more = chunk.withUnsafeBytes { raw in
                    splitter.append(raw) { object in
                        found.append(String(decoding: object, as: UTF8.self))
                        return true
                    }
                }
                #expect(more)
            }
            #expect(found == expected, "chunk size \(chunkSize)")
        }
    }

    @Test func splitterStopsWhenTheConsumerDoes() {
        var splitter = JSONObjectSplitter()
        var count = 0
        let more = bytes("{}{}{}").withUnsafeBytes { raw in
            splitter.append(raw) { _ in
                count += 1
                return false
            }
        }
        #expect(!more)
        #expect(count == 1)
    }
}

@Suite("v2 codec")
struct V2CodecTests {
    private func object(_ json: String) -> JSONValue {
        try! JSONValue.parse(bytes(json))
    }

    @Test func leavesOfANestedTreeSkipDirectories() {
        let tree = object("""
            {"key":"/skydns","dir":true,"nodes":[
              {"key":"/skydns/local","dir":true,"nodes":[
                {"key":"/skydns/local/a","value":"{\\"host\\":\\"10.0.0.1\\"}","ttl":30,"modifiedIndex":7},
                {"key":"/skydns/local/empty","dir":true}]},
              {"key":"/skydns/b","value":"v","modifiedIndex":8}]}
            """)
        #expect(v2Leaves(of: tree).map(\.keyValue) == [
            KeyValue(key: "/skydns/local/a", value: bytes(#"{"host":"10.0.0.1"}"#), ttl: 30),
            KeyValue(key: "/skydns/b", value: bytes("v")),
        ])
        #expect(v2Leaves(of: tree).map(\.history.modified) == [7, 8])
    }

    /// An IPv6 reverse key has 34 labels below the prefix, and a v2 recursive read nests two
    /// JSON levels a label: the whole tree must still be read.
    @Test func deepKeysOfARecursiveReadAreRead() throws {
        let labels = ["arpa", "ip6"] + Array(repeating: "f", count: 32)
        var node = #"{"key":"/skydns/\#(labels.joined(separator: "/"))","value":"v","modifiedIndex":3}"#
        for depth in stride(from: labels.count - 1, through: 0, by: -1) {
            let key = "/skydns/" + labels[..<depth].joined(separator: "/")
            node = #"{"key":"\#(key)","dir":true,"nodes":[\#(node)]}"#
        }
        let tree = try V2Tree.parse(status: 200, body: bytes(#"{"action":"get","node":\#(node)}"#), etcdIndex: 9)
        #expect(tree.kvs.map(\.key) == ["/skydns/" + labels.joined(separator: "/")])
    }

    @Test func malformedV2AnswersSayWhy() {
        let error = #expect(throws: EtcdError.self) {
            try V2Tree.parse(status: 200, body: bytes(#"{"node":{"key":"/skydns","dir":tru}}"#), etcdIndex: 1)
        }
        #expect(String(describing: error).contains("in literal true"))
    }

    @Test func watchActionsMapToEvents() {
        let leaf = object(#"{"key":"/skydns/a","value":"v","modifiedIndex":5}"#)
        let dir = object(#"{"key":"/skydns/d","dir":true,"modifiedIndex":6}"#)
        for action in ["set", "create", "update", "compareAndSwap"] {
            #expect(v2Event(action: action, node: leaf)?.change == .put(KeyValue(key: "/skydns/a", value: bytes("v"))))
            #expect(v2Event(action: action, node: leaf)?.history == KeyHistory(modified: 5))
            #expect(v2Event(action: action, node: dir) == nil)
        }
        for action in ["delete", "expire", "compareAndDelete"] {
            #expect(v2Event(action: action, node: leaf)?.change == .delete(key: "/skydns/a"))
            #expect(v2Event(action: action, node: dir)?.change == .deleteTree(key: "/skydns/d"))
        }
        #expect(v2Event(action: "get", node: leaf) == nil)
    }

    @Test func treeReadUsesTheIndexHeaderAndTreatsKeyNotFoundAsEmpty() throws {
        let tree = try V2Tree.parse(
            status: 200, body: bytes(#"{"action":"get","node":{"key":"/skydns/x","value":"1","modifiedIndex":4}}"#),
            etcdIndex: 9)
        let x = EtcdKey(keyValue: KeyValue(key: "/skydns/x", value: bytes("1")), history: KeyHistory(modified: 4))
        #expect(tree == V2Tree(kvs: [x], index: 9, exists: true))
        let absent = try V2Tree.parse(
            status: 404, body: bytes(#"{"errorCode":100,"message":"Key not found","cause":"/skydns","index":12}"#),
            etcdIndex: nil)
        #expect(absent == V2Tree(kvs: [], index: 12, exists: false))
        #expect(throws: EtcdError.self) { try V2Tree.parse(status: 404, body: bytes("404 page not found"), etcdIndex: nil) }
        #expect(throws: EtcdError.self) {
            try V2Tree.parse(status: 401, body: bytes(#"{"errorCode":110,"message":"The request requires user authentication"}"#), etcdIndex: 1)
        }
    }

    @Test func waitResults() throws {
        #expect(try V2WaitResult.parse(status: 200, body: bytes(
            #"{"action":"delete","node":{"key":"/skydns/d","dir":true,"modifiedIndex":20,"createdIndex":3},"prevNode":{"key":"/skydns/d","dir":true}}"#))
            == .change(.deleteTree(key: "/skydns/d"), index: 20))
        #expect(try V2WaitResult.parse(status: 400, body: bytes(
            #"{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [1008/7]","index":2007}"#))
            == .outdated)
        #expect(throws: EtcdError.self) { try V2WaitResult.parse(status: 200, body: bytes(#"{"action":"set"}"#)) }
    }

    @Test func keyPathsArePercentEncoded() {
        #expect(v2KeyPath("/skydns/local/_tcp/a-b.c_d~") == "/skydns/local/_tcp/a-b.c_d~")
        #expect(v2KeyPath("/skydns/a b?c") == "/skydns/a%20b%3Fc")
    }
}

@Test func backoffStaysWithinItsCap() {
    var backoff = Backoff()
    let first = backoff.next()
    #expect(first >= 0.05 && first <= 0.1)
    for _ in 0..<20 { #expect(backoff.next() <= Backoff.maximum) }
    backoff.reset()
    #expect(backoff.next() <= 0.1)
}

@Suite("Bounds and progress helpers")
struct BoundsAndProgressTests {
    @Test func nodeCounterCountsKeysAcrossChunks() {
        let listing = Array(#"{"node":{"key":"/skydns","dir":true,"nodes":[{"key":"/skydns/a","value":"{\"key\":1}"}]}}"#.utf8)
        for split in 0...listing.count {
            var counter = V2NodeCounter()
            listing[..<split].withUnsafeBytes { counter.scan($0) }
            listing[split...].withUnsafeBytes { counter.scan($0) }
            #expect(counter.count == 2, "split at \(split)")
        }
    }

    @Test func splitterStopsAtItsBound() {
        var splitter = JSONObjectSplitter(maxObject: 4096)
        var emitted = 0
        let whole = Array(#"{"a":"b"}"#.utf8)
        _ = whole.withUnsafeBytes { splitter.append($0) { _ in emitted += 1; return true } }
        #expect(emitted == 1)
        let open = Array(#"{"a":""#.utf8)
        var more = open.withUnsafeBytes { splitter.append($0) { _ in emitted += 1; return true } }
        let filler = [UInt8](repeating: UInt8(ascii: "x"), count: 1024)
        var chunks = 0
        while more && chunks < 100 {
            more = filler.withUnsafeBytes { splitter.append($0) { _ in emitted += 1; return true } }
            chunks += 1
        }
        #expect(!more && splitter.overflowed)
        #expect(chunks == 4)
        #expect(emitted == 1)
    }

    @Test func v2KeyPathEncodesBytes() {
        #expect(v2KeyPath("/skydns/a b/ü%/_x~.-") == "/skydns/a%20b/%C3%BC%25/_x~.-")
    }

    @Test func rateLimitedLogFirstAfterOneSecondThenEveryTwo() {
        var log = RateLimitedLog(start: 100)
        let due = [100.5, 101, 102.5, 103].map { log.due(at: $0) }
        #expect(due == [false, true, false, true])
    }
}
