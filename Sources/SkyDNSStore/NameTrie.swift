import DNSWire
import HashTreeCollections

/// A node of the name trie. Children live in a persistent hash trie (HAMT), so a snapshot is
/// a plain copy of the root and an update copies only the nodes on its path: work in proportion
/// to the name's depth, never to the size of the store.
public struct TrieNode: Sendable {
    private var children: TreeDictionary<Label, Child> = [:]
    /// A lone child that is a bare leaf (one record, nothing below), kept here instead of in a
    /// one-entry `children`: most names (a pod, a node) have exactly one record below them, and
    /// a hash-trie node for one entry costs more memory than the record. When set, `children`
    /// is empty.
    private(set) var onlyLeaf: StoredRecord?
    /// The record stored at exactly this key, if any.
    public internal(set) var record: StoredRecord?
    /// Records in this subtree, this node's own included.
    public internal(set) var recordCount = 0
    /// The kinds of the records in `children`, and of those among them an etcd v2 listing hides
    /// (at or below a label starting with `_`). The own record and a lone leaf are counted when
    /// asked, so building a node for a leaf costs nothing.
    private var childKinds = RecordKinds()
    private var childHiddenKinds = RecordKinds()

    public init() {}

    init(leaf: StoredRecord) {
        record = leaf
        recordCount = 1
    }

    init(onlyLeaf: StoredRecord) {
        self.onlyLeaf = onlyLeaf
        recordCount = 1
    }

    public var isEmpty: Bool { record == nil && onlyLeaf == nil && children.isEmpty }

    public var hasChildren: Bool { onlyLeaf != nil || !children.isEmpty }

    /// How many records of each kind lie in this subtree, this node's own included: a query
    /// knows at once whether walking it can find anything.
    public var kinds: RecordKinds { childKinds &+ RecordKinds(record) &+ RecordKinds(onlyLeaf) }

    /// The part of `kinds` below a child label starting with `_` (which etcd v2 hides).
    public var hiddenKinds: RecordKinds {
        guard let onlyLeaf, onlyLeaf.label.utf8.first == Self.underscore else { return childHiddenKinds }
        return RecordKinds(onlyLeaf)
    }

    /// `kinds`, less the hidden ones when `hiding`.
    public func kinds(hidingUnderscoreLabels hiding: Bool) -> RecordKinds {
        hiding ? kinds &- hiddenKinds : kinds
    }

    /// The child named `label`.
    public func child(_ label: String) -> TrieNode? {
        var label = label
        return label.withUTF8 { child(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// The child named by the bytes of `label` (lower-case), looked up without copying them:
    /// the query path's way, as a label over 15 bytes would otherwise allocate a `String`.
    public func child(bytes label: UnsafeRawBufferPointer) -> TrieNode? {
        if let onlyLeaf {
            return onlyLeaf.label.utf8.elementsEqual(label) ? TrieNode(leaf: onlyLeaf) : nil
        }
        return children[Label(borrowing: label)]?.node
    }

    /// Visits each child with its label, in no particular order, until `body` returns false;
    /// returns false when stopped.
    @discardableResult
    public func forEachChild(_ body: (String, TrieNode) -> Bool) -> Bool {
        if let onlyLeaf { return body(onlyLeaf.label, TrieNode(leaf: onlyLeaf)) }
        for (label, child) in children where !body(label.text, child.node) { return false }
        return true
    }

    /// A bare leaf alone in `children` moves to `onlyLeaf`, and back out when a sibling arrives.
    private mutating func keepCompact() {
        guard children.count == 1, case .leaf(let leaf) = children.first?.value else { return }
        onlyLeaf = leaf
        children = [:]
        childKinds = RecordKinds()
        childHiddenKinds = RecordKinds()
    }

    private mutating func expandOnlyLeaf() {
        guard let leaf = onlyLeaf else { return }
        let label = Label(leaf.label)
        children[label] = .leaf(leaf)
        childKinds = childKinds &+ RecordKinds(leaf)
        if label.isUnderscored { childHiddenKinds = childHiddenKinds &+ RecordKinds(leaf) }
        onlyLeaf = nil
    }

    /// Changes the child `key` (made empty first if missing) and keeps the kinds counted in
    /// step; a child left empty is removed.
    private mutating func modifyChild<Result>(_ key: Label, _ body: (inout TrieNode) -> Result) -> Result {
        var before = (all: RecordKinds(), hidden: RecordKinds())
        var after = before
        let result = children[key, default: .empty].modify { node in
            before = (node.kinds, key.isUnderscored ? node.kinds : node.hiddenKinds)
            defer { after = (node.kinds, key.isUnderscored ? node.kinds : node.hiddenKinds) }
            return body(&node)
        }
        if case .empty = children[key] { children[key] = nil }
        childKinds = childKinds &- before.all &+ after.all
        childHiddenKinds = childHiddenKinds &- before.hidden &+ after.hidden
        return result
    }

    /// Stores `record` at `path` (whose last label is `record.label`); returns the change in
    /// the number of records (0 or 1).
    @discardableResult
    mutating func insert(_ record: StoredRecord, at path: ArraySlice<String>) -> Int {
        guard let head = path.first else {
            let added = self.record == nil ? 1 : 0
            self.record = record
            recordCount += added
            return added
        }
        if path.count == 1 {
            if let leaf = onlyLeaf, leaf.label == head {
                onlyLeaf = record
                return 0
            }
            if onlyLeaf == nil && children.isEmpty {
                onlyLeaf = record
                recordCount += 1
                return 1
            }
        }
        expandOnlyLeaf()
        let added = modifyChild(Label(head)) { $0.insert(record, at: path.dropFirst()) }
        recordCount += added
        keepCompact()
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
        if let removed = removeOnlyLeaf(at: path) { return removed }
        let key = Label(head)
        guard children[key] != nil else { return 0 }
        let removed = modifyChild(key) { $0.remove(at: path.dropFirst()) }
        recordCount -= removed
        keepCompact()
        return removed
    }

    /// With a lone leaf, nothing else lies below: removes it if `path` names it and says how many
    /// records went; nil when the children are in `children`.
    private mutating func removeOnlyLeaf(at path: ArraySlice<String>) -> Int? {
        guard let leaf = onlyLeaf else { return nil }
        guard path.count == 1, leaf.label == path.first else { return 0 }
        onlyLeaf = nil
        recordCount -= 1
        return 1
    }

    /// Removes `path` and everything below it; returns how many records went.
    @discardableResult
    mutating func removeSubtree(at path: ArraySlice<String>) -> Int {
        guard let head = path.first else {
            let removed = recordCount
            self = TrieNode()
            return removed
        }
        if let removed = removeOnlyLeaf(at: path) { return removed }
        let key = Label(head)
        guard children[key] != nil else { return 0 }
        let removed = modifyChild(key) { $0.removeSubtree(at: path.dropFirst()) }
        recordCount -= removed
        keepCompact()
        return removed
    }

    public func node(at path: some Sequence<String>) -> TrieNode? {
        var node = self
        for label in path {
            guard let child = node.child(label) else { return nil }
            node = child
        }
        return node
    }

    /// Directories with more children than this are walked in hash order: sorting them on every
    /// query would cost more than any client gains from the order.
    static let maxSortedChildren = 256

    /// Visits every record in this subtree, this node's first, depth first, children in key
    /// order (the order etcd lists them in, which `-round-robin=false` keeps). With
    /// `hidingUnderscoreLabels`, children whose label starts with `_` are passed over, as an etcd
    /// v2 listing leaves out hidden keys. `body` returns false to stop early.
    @discardableResult
    public func forEachRecord(hidingUnderscoreLabels hiding: Bool = false, _ body: (StoredRecord) -> Bool) -> Bool {
        var budget = Int.max
        return forEachRecord(hidingUnderscoreLabels: hiding, where: { _ in true }, budget: &budget, body)
    }

    /// `forEachRecord` over the subtrees whose (visible) kinds satisfy `include` only (this
    /// node's own record is always visited), looking at most at `budget` nodes, records and
    /// children passed over (each costs 1; the walk stops, returning false, when it runs out): a
    /// query's work is bounded whatever the store holds.
    @discardableResult
    public func forEachRecord(hidingUnderscoreLabels hiding: Bool, where include: (RecordKinds) -> Bool,
                              budget: inout Int, _ body: (StoredRecord) -> Bool) -> Bool {
        guard budget > 0 else { return false }
        budget -= 1
        if let record, !body(record) { return false }
        if let onlyLeaf {
            if hiding && onlyLeaf.label.utf8.first == Self.underscore { return true }
            return !include(RecordKinds(onlyLeaf)) || body(onlyLeaf)
        }
        func visit(_ label: Label, _ child: Child) -> Bool {
            guard budget > 0 else { return false }
            guard Self.enter(label, child, hiding, include, &budget) else { return true }
            return child.forEachRecord(hiding: hiding, where: include, budget: &budget, body)
        }
        return forEachChild(visit) && budget > 0
    }

    /// Calls `visit` for each child, in label order when there are few enough to sort (as etcd
    /// lists keys), stopping and returning false when `visit` does.
    private func forEachChild(_ visit: (Label, Child) -> Bool) -> Bool {
        if children.count <= Self.maxSortedChildren {
            for label in children.keys.sorted(by: <) {
                guard let child = children[label] else { continue }
                if !visit(label, child) { return false }
            }
        } else {
            for (label, child) in children where !visit(label, child) { return false }
        }
        return true
    }

    /// Whether a walk goes into `child`: not hidden, and holding a kind it looks for. Passing one
    /// over costs a visit.
    private static func enter(_ label: Label, _ child: Child, _ hiding: Bool, _ include: (RecordKinds) -> Bool,
                              _ budget: inout Int) -> Bool {
        if !(hiding && label.isUnderscored) && include(hiding ? child.kinds &- child.hiddenKinds : child.kinds) { return true }
        budget -= 1
        return false
    }

    /// `forEachRecord`, also giving each record's name; `name` is this node's. Names are built
    /// as the walk goes down, so only answers that need them (SRV, MX, NS targets) pay for them.
    @discardableResult
    public func forEachNamedRecord(name: DomainName, hidingUnderscoreLabels hiding: Bool = false,
                                   _ body: (StoredRecord, DomainName) -> Bool) -> Bool {
        var budget = Int.max
        return forEachNamedRecord(name: name, hidingUnderscoreLabels: hiding, where: { _ in true }, budget: &budget, body)
    }

    /// `forEachNamedRecord` with `forEachRecord(hidingUnderscoreLabels:where:budget:)`'s pruning
    /// and bound.
    @discardableResult
    public func forEachNamedRecord(name: DomainName, hidingUnderscoreLabels hiding: Bool, where include: (RecordKinds) -> Bool,
                                   budget: inout Int, _ body: (StoredRecord, DomainName) -> Bool) -> Bool {
        guard budget > 0 else { return false }
        budget -= 1
        if let record, !body(record, name) { return false }
        if let onlyLeaf {
            if hiding && onlyLeaf.label.utf8.first == Self.underscore { return true }
            return !include(RecordKinds(onlyLeaf)) || body(onlyLeaf, (try? name.prepending(onlyLeaf.label)) ?? name)
        }
        func visit(_ label: Label, _ child: Child) -> Bool {
            guard budget > 0 else { return false }
            guard Self.enter(label, child, hiding, include, &budget), let childName = try? name.prepending(label.text) else {
                return true
            }
            return child.node.forEachNamedRecord(name: childName, hidingUnderscoreLabels: hiding, where: include,
                                                 budget: &budget, body)
        }
        return forEachChild(visit) && budget > 0
    }

    /// Whether a record lies at or below this node, children whose label starts with `_`
    /// passed over when `hidingUnderscoreLabels`: from the counts, without a walk.
    public func hasRecord(hidingUnderscoreLabels hiding: Bool) -> Bool {
        kinds(hidingUnderscoreLabels: hiding).records != 0
    }

    private static let underscore = UInt8(ascii: "_")
}

/// A record with the name it was found at.
@dynamicMemberLookup
public struct NamedRecord: Sendable {
    public let record: StoredRecord
    public let name: DomainName

    public subscript<T>(dynamicMember keyPath: KeyPath<StoredRecord, T>) -> T { record[keyPath: keyPath] }
}
