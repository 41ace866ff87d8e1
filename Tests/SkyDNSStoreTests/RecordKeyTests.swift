import Testing
@testable import SkyDNSStore

/// etcd keys ↔ trie paths ↔ DNS names.
@Suite struct RecordKeyTests {
    @Test(arguments: [
        ("skydns", "/skydns/"),
        ("/skydns/", "/skydns/"),
        ("/skydns", "/skydns/"),
        ("skydns/", "/skydns/"),
        ("a/b", "/a/b/"),
        ("/a/b/", "/a/b/"),
    ])
    func prefixIsNormalised(pathPrefix: String, expected: String) {
        let mapper = RecordKeyMapper(pathPrefix: pathPrefix)
        #expect(mapper.prefix == expected)
        #expect(mapper.configKey == expected + "config")
    }

    @Test(arguments: [
        ("skydns", "/skydns/sohu/domeos/kafka/19d074a1", ["sohu", "domeos", "kafka", "19d074a1"]),
        ("/skydns/", "/skydns/sohu/domeos/kafka/19d074a1", ["sohu", "domeos", "kafka", "19d074a1"]),
        ("a/b", "/a/b/sohu/domeos/x", ["sohu", "domeos", "x"]),
        ("skydns", "/skydns/local", ["local"]),
        ("skydns", "/skydns/arpa/in-addr/10/0/0/1", ["arpa", "in-addr", "10", "0", "0", "1"]),
        ("skydns", "/skydns/local/skydns/_tcp/_http/x", ["local", "skydns", "_tcp", "_http", "x"]),
    ])
    func pathOfKey(pathPrefix: String, key: String, expected: [String]) throws {
        #expect(try RecordKeyMapper(pathPrefix: pathPrefix).path(forKey: key) == expected)
    }

    @Test(arguments: [
        ("/skydns/SOHU/DomeOS/Kafka-1/AbC", ["sohu", "domeos", "kafka-1", "abc"]),
        ("/skydns/sohu/DOMEOS/", ["sohu", "domeos"]),
    ])
    func pathIsLowerCased(key: String, expected: [String]) throws {
        #expect(try RecordKeyMapper(pathPrefix: "skydns").path(forKey: key) == expected)
    }

    @Test(arguments: [
        ("/skydns/sohu/domeos/", ["sohu", "domeos"]),
        ("/skydns/sohu/", ["sohu"]),
    ])
    func trailingSlashTolerated(key: String, expected: [String]) throws {
        #expect(try RecordKeyMapper(pathPrefix: "skydns").path(forKey: key) == expected)
    }

    @Test(arguments: [
        ("skydns", "/other/sohu/domeos"),
        ("skydns", "/skydnsx/sohu"),
        ("skydns", "skydns/sohu"),
        ("skydns", "/skydns"),
        ("skydns", "sohu/domeos"),
        ("a/b", "/a/sohu"),
        ("a/b", "/skydns/sohu"),
    ])
    func keysOutsidePrefixRejected(pathPrefix: String, key: String) {
        expectInvalidKey { try RecordKeyMapper(pathPrefix: pathPrefix).path(forKey: key) }
    }

    @Test(arguments: [
        "/skydns/sohu//kafka",
        "/skydns//sohu",
        "/skydns/",
        "/skydns//",
        "/skydns/sohu//",
        "/skydns/sohu/domeos//x/",
    ])
    func emptyLabelsRejected(key: String) {
        expectInvalidKey { try RecordKeyMapper(pathPrefix: "skydns").path(forKey: key) }
    }

    @Test func labelLengthLimit() throws {
        let mapper = RecordKeyMapper(pathPrefix: "skydns")
        let longest = String(repeating: "a", count: 63)
        #expect(try mapper.path(forKey: "/skydns/sohu/\(longest)") == ["sohu", longest])
        expectInvalidKey { try mapper.path(forKey: "/skydns/sohu/\(longest)b") }
    }

    /// The name a key stands for must fit in 255 bytes of wire form.
    @Test func nameLengthLimit() throws {
        let mapper = RecordKeyMapper(pathPrefix: "skydns")
        let l63 = String(repeating: "x", count: 63)
        // 1 + 3 × (63 + 1) + (61 + 1) = 255: the largest name there is.
        let fits = "/skydns/\(l63)/\(l63)/\(l63)/\(String(repeating: "y", count: 61))"
        #expect(try mapper.path(forKey: fits).count == 4)
        let over = "/skydns/\(l63)/\(l63)/\(l63)/\(String(repeating: "y", count: 62))"
        expectInvalidKey { try mapper.path(forKey: over) }
        let manyLabels = "/skydns/" + Array(repeating: "a", count: 128).joined(separator: "/")
        expectInvalidKey { try mapper.path(forKey: manyLabels) }
    }

    @Test(arguments: [
        (["sohu", "domeos", "kafka"], "kafka.domeos.sohu."),
        (["sohu", "domeos", "kafka-1-wkfa1", "19d074a1"], "19d074a1.kafka-1-wkfa1.domeos.sohu."),
        (["local"], "local."),
        ([], "."),
    ])
    func nameOfPath(path: [String], expected: String) {
        let name = RecordKeyMapper.name(forPath: path)
        #expect(name.description == expected)
        #expect(name == dname(expected))
    }

    @Test func keyToNameRoundTrip() throws {
        let mapper = RecordKeyMapper(pathPrefix: "skydns")
        let path = try mapper.path(forKey: "/skydns/sohu/domeos/Kafka-1-WKFA1")
        #expect(RecordKeyMapper.name(forPath: path).wire == dname("kafka-1-wkfa1.domeos.sohu.").wire)
    }
}

func expectInvalidKey(_ body: () throws -> [String], sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        let path = try body()
        Issue.record("expected invalidKey, got path \(path)", sourceLocation: sourceLocation)
    } catch let error as RecordError {
        guard case .invalidKey = error else {
            Issue.record("expected invalidKey, got \(error)", sourceLocation: sourceLocation)
            return
        }
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}
