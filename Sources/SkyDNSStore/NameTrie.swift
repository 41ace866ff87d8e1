import HashTreeCollections

/// A node of the name trie. Children live in a persistent hash trie (HAMT), so a snapshot is
/// a plain copy of the root and an update copies only the nodes on its path: work in proportion
/// to the name's depth, never to the size of the store.
public struct TrieNode: Sendable {
    public internal(set) var children: TreeDictionary<String, TrieNode> = [:]
    /// The record stored at exactly this key, if any.
    public internal(set) var record: StoredRecord?
    /// Records in this subtree, this node's own included.
    public internal(set) var recordCount = 0

    public init() {}

    public var isEmpty: Bool { record == nil && children.isEmpty }

    /// Stores `record` at `path`; returns the change in the number of records (0 or 1).
    @discardableResult
    mutating func insert(_ record: StoredRecord, at path: ArraySlice<String>) -> Int {
        guard let head = path.first else {
            let added = self.record == nil ? 1 : 0
            self.record = record
            recordCount += added
            return added
        }
        let added = children[head, default: TrieNode()].insert(record, at: path.dropFirst())
        recordCount += added
        return added
    }

    /// Removes the record at exactly `path` and prunes nodes left empty; returns how many
    /// records went (0 or 1).
    @discardableResult
    mutating func remove(at path: ArraySlice<String>) -> Int {
        guard let head = path.first else {
            guard record != nil else { return 0 }
            record = nil
            recordCount -= 1
            return 1
        }
        guard children[head] != nil else { return 0 }
        let removed = children[head]!.remove(at: path.dropFirst())
        if children[head]!.isEmpty { children[head] = nil }
        recordCount -= removed
        return removed
    }

    /// Removes `path` and everything below it; returns how many records went.
    @discardableResult
    mutating func removeSubtree(at path: ArraySlice<String>) -> Int {
        guard let head = path.first else {
            let removed = recordCount
            self = TrieNode()
            return removed
        }
        guard let child = children[head] else { return 0 }
        let removed: Int
        if path.count == 1 {
            removed = child.recordCount
            children[head] = nil
        } else {
            removed = children[head]!.removeSubtree(at: path.dropFirst())
            if children[head]!.isEmpty { children[head] = nil }
        }
        recordCount -= removed
        return removed
    }

    public func node(at path: some Sequence<String>) -> TrieNode? {
        var node = self
        for label in path {
            guard let child = node.children[label] else { return nil }
            node = child
        }
        return node
    }

    /// Directories with more children than this are walked in hash order: sorting them on every
    /// query would cost more than any client gains from the order.
    static let maxSortedChildren = 256

    /// Visits every record in this subtree, this node's first, depth first, children in key
    /// order (the order etcd lists them in, which `-round-robin=false` keeps). `body` returns
    /// false to stop early.
    @discardableResult
    public func forEachRecord(_ body: (StoredRecord) -> Bool) -> Bool {
        if let record, !body(record) { return false }
        switch children.count {
        case 0:
            return true
        case 1:
            return children.values.first!.forEachRecord(body)
        case ...Self.maxSortedChildren:
            for label in children.keys.sorted() where !children[label]!.forEachRecord(body) {
                return false
            }
        default:
            for child in children.values where !child.forEachRecord(body) {
                return false
            }
        }
        return true
    }
}
