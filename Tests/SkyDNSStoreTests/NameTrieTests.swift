import Testing
@testable import SkyDNSStore

/// The persistent trie: counts stay exact and no empty node is left behind.
@Suite struct NameTrieTests {
    private func path(_ text: String) -> ArraySlice<String> {
        text.split(separator: "/").map(String.init)[...]
    }

    /// Every node's count is its own record plus its children's, and only the root may be empty.
    private func checkInvariants(_ node: TrieNode, isRoot: Bool = true, at location: String = "/",
                                 sourceLocation: SourceLocation = #_sourceLocation) {
        if !isRoot { #expect(!node.isEmpty, "empty node left at \(location)", sourceLocation: sourceLocation) }
        var expected = node.record == nil ? 0 : 1
        var expectedKinds = RecordKinds(node.record)
        var expectedHidden = RecordKinds()
        node.forEachChild { label, child in
            checkInvariants(child, isRoot: false, at: location + label + "/", sourceLocation: sourceLocation)
            expected += child.recordCount
            expectedKinds = expectedKinds &+ child.kinds
            expectedHidden = expectedHidden &+ (label.hasPrefix("_") ? child.kinds : child.hiddenKinds)
            return true
        }
        #expect(node.recordCount == expected, "count wrong at \(location)", sourceLocation: sourceLocation)
        #expect(node.kinds == expectedKinds, "kinds wrong at \(location)", sourceLocation: sourceLocation)
        #expect(node.kinds.records == UInt32(expected), "kinds count wrong at \(location)", sourceLocation: sourceLocation)
        #expect(node.hiddenKinds == expectedHidden, "hidden kinds wrong at \(location)", sourceLocation: sourceLocation)
    }

    /// A record for `path`, told apart from others by its text.
    private func tagged(_ tag: String, at path: String, host: String = "10.0.0.1") -> StoredRecord {
        do {
            return try storedRecord(key: "/skydns/" + path, host: host, text: tag)
        } catch {
            fatalError("bad test record \(path): \(error)")
        }
    }

    private func keys(_ node: TrieNode) -> Set<String> {
        var keys = Set<String>()
        node.forEachRecord { keys.insert($0.text); return true }
        return keys
    }

    @Test func insertCountsAlongThePath() {
        var root = TrieNode()
        #expect(root.isEmpty && root.recordCount == 0)
        #expect(root.insert(tagged("a", at: "sohu/domeos/kafka/1"), at: path("sohu/domeos/kafka/1")) == 1)
        #expect(root.insert(tagged("b", at: "sohu/domeos/kafka/2"), at: path("sohu/domeos/kafka/2")) == 1)
        #expect(root.insert(tagged("c", at: "sohu/domeos/web/1"), at: path("sohu/domeos/web/1")) == 1)
        #expect(root.insert(tagged("d", at: "sohu/domeos"), at: path("sohu/domeos")) == 1)
        #expect(root.recordCount == 4)
        #expect(root.node(at: ["sohu", "domeos"])?.recordCount == 4)
        #expect(root.node(at: ["sohu", "domeos", "kafka"])?.recordCount == 2)
        #expect(root.node(at: ["sohu", "domeos", "kafka"])?.record == nil)
        #expect(root.node(at: ["sohu", "domeos"])?.record?.text == "d")
        #expect(root.node(at: ["sohu", "domeos", "web", "1"])?.record?.text == "c")
        #expect(root.node(at: ["sohu", "nothere"]) == nil)
        #expect(root.node(at: [String]())?.recordCount == 4)
        checkInvariants(root)
    }

    @Test func insertAtExistingPathReplaces() {
        var root = TrieNode()
        root.insert(tagged("old", at: "sohu/x", host: "10.0.0.1"), at: path("sohu/x"))
        #expect(root.insert(tagged("new", at: "sohu/x", host: "10.0.0.2"), at: path("sohu/x")) == 0)
        #expect(root.recordCount == 1)
        #expect(root.node(at: ["sohu", "x"])?.record?.text == "new")
        checkInvariants(root)
    }

    @Test func removePrunesEmptyNodes() {
        var root = TrieNode()
        root.insert(tagged("deep", at: "sohu/domeos/kafka/1"), at: path("sohu/domeos/kafka/1"))
        #expect(root.remove(at: path("sohu/domeos/kafka/1")) == 1)
        #expect(root.recordCount == 0)
        #expect(!root.hasChildren)
        #expect(root.isEmpty)
    }

    @Test func removeKeepsSiblingsAndAncestorsWithRecords() {
        var root = TrieNode()
        root.insert(tagged("a", at: "sohu/domeos/kafka/1"), at: path("sohu/domeos/kafka/1"))
        root.insert(tagged("b", at: "sohu/domeos/kafka/2"), at: path("sohu/domeos/kafka/2"))
        root.insert(tagged("apex", at: "sohu/domeos"), at: path("sohu/domeos"))
        root.insert(tagged("web", at: "sohu/domeos/web/1"), at: path("sohu/domeos/web/1"))

        #expect(root.remove(at: path("sohu/domeos/kafka/1")) == 1)
        #expect(root.node(at: ["sohu", "domeos", "kafka"])?.recordCount == 1)
        #expect(root.remove(at: path("sohu/domeos/kafka/2")) == 1)
        #expect(root.node(at: ["sohu", "domeos", "kafka"]) == nil)
        #expect(root.remove(at: path("sohu/domeos/web/1")) == 1)
        #expect(root.node(at: ["sohu", "domeos"])?.hasChildren == false)
        #expect(root.recordCount == 1)
        checkInvariants(root)
        #expect(root.remove(at: path("sohu/domeos")) == 1)
        #expect(root.isEmpty && root.recordCount == 0)
    }

    @Test func removeOfMissingOrInnerPathChangesNothing() {
        var root = TrieNode()
        root.insert(tagged("a", at: "sohu/domeos/kafka/1"), at: path("sohu/domeos/kafka/1"))
        #expect(root.remove(at: path("sohu/domeos/kafka/2")) == 0)
        #expect(root.remove(at: path("sohu/other/x")) == 0)
        #expect(root.remove(at: path("sohu/domeos/kafka/1/deeper")) == 0)
        // An inner node has no record of its own: removing "it" removes nothing below it.
        #expect(root.remove(at: path("sohu/domeos/kafka")) == 0)
        #expect(root.recordCount == 1)
        #expect(root.node(at: ["sohu", "domeos", "kafka", "1"])?.record?.text == "a")
        checkInvariants(root)
    }

    @Test func removeSubtree() {
        var root = TrieNode()
        root.insert(tagged("k1", at: "sohu/domeos/kafka/1"), at: path("sohu/domeos/kafka/1"))
        root.insert(tagged("k2", at: "sohu/domeos/kafka/2"), at: path("sohu/domeos/kafka/2"))
        root.insert(tagged("k", at: "sohu/domeos/kafka"), at: path("sohu/domeos/kafka"))
        root.insert(tagged("kd", at: "sohu/domeos/kafka/x/y/z"), at: path("sohu/domeos/kafka/x/y/z"))
        root.insert(tagged("w", at: "sohu/domeos/web/1"), at: path("sohu/domeos/web/1"))

        #expect(root.removeSubtree(at: path("sohu/domeos/kafka")) == 4)
        #expect(root.recordCount == 1)
        #expect(root.node(at: ["sohu", "domeos", "kafka"]) == nil)
        #expect(keys(root) == ["w"])
        checkInvariants(root)

        #expect(root.removeSubtree(at: path("sohu/domeos/nothere")) == 0)
        #expect(root.removeSubtree(at: path("sohu/domeos/web/1/deeper")) == 0)
        #expect(root.recordCount == 1)

        // Removing the last record's subtree deep down prunes every ancestor.
        #expect(root.removeSubtree(at: path("sohu/domeos/web/1")) == 1)
        #expect(root.isEmpty && root.recordCount == 0)
    }

    @Test func removeSubtreeAtRootClearsEverything() {
        var root = TrieNode()
        root.insert(tagged("a", at: "sohu/a"), at: path("sohu/a"))
        root.insert(tagged("b", at: "local/b"), at: path("local/b"))
        #expect(root.removeSubtree(at: [][...]) == 2)
        #expect(root.isEmpty && root.recordCount == 0)
    }

    @Test func forEachRecordVisitsSubtreeOwnRecordFirstAndStopsEarly() {
        var root = TrieNode()
        root.insert(tagged("dir", at: "sohu/kafka"), at: path("sohu/kafka"))
        root.insert(tagged("1", at: "sohu/kafka/1"), at: path("sohu/kafka/1"))
        root.insert(tagged("2", at: "sohu/kafka/2"), at: path("sohu/kafka/2"))
        root.insert(tagged("3", at: "sohu/kafka/a/3"), at: path("sohu/kafka/a/3"))
        root.insert(tagged("other", at: "sohu/web/1"), at: path("sohu/web/1"))

        let kafka = root.node(at: ["sohu", "kafka"])!
        var visited: [String] = []
        #expect(kafka.forEachRecord { visited.append($0.text); return true })
        #expect(visited.first == "dir")
        #expect(Set(visited) == ["dir", "1", "2", "3"] && visited.count == 4)

        var seen = 0
        #expect(!kafka.forEachRecord { _ in seen += 1; return seen < 2 })
        #expect(seen == 2)
    }

    /// Labels of every size class (inline up to 23 bytes, owned beyond) are found by text and by
    /// borrowed bytes, and listed in byte order, as etcd lists keys.
    @Test(arguments: [1, 15, 16, 23, 24, 63])
    func labelsOfEverySizeAreFound(length: Int) {
        var root = TrieNode()
        let long = String(repeating: "k", count: length - 1) + "z"
        let sibling = String(repeating: "k", count: length - 1) + "a"
        root.insert(tagged("long", at: "sohu/\(long)"), at: path("sohu/\(long)"))
        root.insert(tagged("sibling", at: "sohu/\(sibling)"), at: path("sohu/\(sibling)"))
        let sohu = root.child("sohu")!
        #expect(sohu.child(long)?.record?.text == "long")
        #expect(sohu.child(long + "x") == nil)
        let found = Array(long.utf8).withUnsafeBytes { sohu.child(bytes: $0)?.record?.text }
        #expect(found == "long")
        var order: [String] = []
        sohu.forEachRecord { order.append($0.text); return true }
        #expect(order == ["sibling", "long"])
        checkInvariants(root)
    }

    /// A copy of a node is a snapshot: changing the original leaves it as it was.
    @Test func copiesAreIndependent() {
        var root = TrieNode()
        root.insert(tagged("a", at: "sohu/domeos/a"), at: path("sohu/domeos/a"))
        let snapshot = root
        root.insert(tagged("b", at: "sohu/domeos/b"), at: path("sohu/domeos/b"))
        root.remove(at: path("sohu/domeos/a"))
        #expect(keys(snapshot) == ["a"] && snapshot.recordCount == 1)
        #expect(keys(root) == ["b"] && root.recordCount == 1)
    }

    /// Random inserts and removals against a plain dictionary of paths.
    @Test func randomOperationsMatchModel() {
        var generator = SplitMix64(seed: 0x5EED)
        let labels = ["a", "b", "c", "_d"]
        func randomPath() -> [String] {
            (0..<Int.random(in: 1...4, using: &generator)).map { _ in labels.randomElement(using: &generator)! }
        }
        let hosts = ["10.0.0.1", "2001:db8::1", "a.b", ""]
        var root = TrieNode()
        var model: [[String]: String] = [:]
        var modelHosts: [[String]: String] = [:]
        for step in 0..<2000 {
            let target = randomPath()
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<5:
                let key = "k\(step)"
                let host = hosts.randomElement(using: &generator) ?? ""
                let added = root.insert(tagged(key, at: target.joined(separator: "/"), host: host), at: target[...])
                #expect(added == (model[target] == nil ? 1 : 0))
                model[target] = key
                modelHosts[target] = host
            case 5..<8:
                let removed = root.remove(at: target[...])
                #expect(removed == (model.removeValue(forKey: target) == nil ? 0 : 1))
            default:
                let below = model.keys.filter { $0.starts(with: target) }
                #expect(root.removeSubtree(at: target[...]) == below.count)
                for path in below { model[path] = nil }
            }
            #expect(root.recordCount == model.count)
            modelHosts = modelHosts.filter { model[$0.key] != nil }
            let kinds = root.kinds
            let visible = modelHosts.filter { !$0.key.contains { $0.hasPrefix("_") } }
            #expect(UInt32(visible.count) == root.kinds(hidingUnderscoreLabels: true).records, "visible after step \(step)")
            #expect(root.hasRecord(hidingUnderscoreLabels: true) == !visible.isEmpty)
            #expect([kinds.ipv4, kinds.ipv6, kinds.names, kinds.text] == [
                UInt32(modelHosts.values.count { $0 == "10.0.0.1" }), UInt32(modelHosts.values.count { $0 == "2001:db8::1" }),
                UInt32(modelHosts.values.count { $0 == "a.b" }), UInt32(model.count),
            ], "kinds at the root after step \(step)")
        }
        checkInvariants(root)
        for (path, key) in model {
            #expect(root.node(at: path)?.record?.text == key)
        }
    }
}

/// A small seeded generator so random tests repeat.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
