import DNSWire

// How a `TrieNode` holds its children: the labels that key them and the compact forms of a child.

/// A label as a key of the children map. Labels of up to 23 bytes (most pod and service names)
/// are held inline, so they cost no allocation of their own; longer ones own a `String`. A
/// lookup may borrow the bytes of a query instead, so finding any label allocates nothing.
/// All forms hash and compare as bytes.
struct Label: Hashable, @unchecked Sendable {
    // @unchecked: a borrowed label lives only for one lookup and is never stored.
    private enum Storage {
        /// Bytes in order through the three words; the last byte of the last word is the length.
        case inline(UInt64, UInt64, UInt64)
        case owned(String)
        case borrowed(UnsafeRawBufferPointer)
    }

    private static let inlineCapacity = 23

    private let storage: Storage

    init(_ text: String) {
        guard text.utf8.count <= Self.inlineCapacity else {
            storage = .owned(text)
            return
        }
        var words: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &words) { raw in
            var count = 0
            for byte in text.utf8 {
                raw[count] = byte
                count += 1
            }
            raw[Self.inlineCapacity] = UInt8(count)
        }
        storage = .inline(words.0, words.1, words.2)
    }

    /// - Important: use for lookups only, while `bytes` is valid.
    init(borrowing bytes: UnsafeRawBufferPointer) { storage = .borrowed(bytes) }

    var text: String { withBytes { String(decoding: $0, as: UTF8.self) } }

    /// Whether the label starts with `_` (a key etcd v2 hides from listings).
    var isUnderscored: Bool { withBytes { $0.first == UInt8(ascii: "_") } }

    private func withBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        switch storage {
        case .inline(let first, let second, let third):
            var words = (first, second, third)
            return withUnsafeBytes(of: &words) { raw in
                body(UnsafeRawBufferPointer(rebasing: raw[0..<Int(raw[Self.inlineCapacity])]))
            }
        case .owned(var text): return text.withUTF8 { body(UnsafeRawBufferPointer($0)) }
        case .borrowed(let bytes): return body(bytes)
        }
    }

    func hash(into hasher: inout Hasher) {
        withBytes { hasher.combine(bytes: $0) }
    }

    static func == (lhs: Label, rhs: Label) -> Bool {
        lhs.withBytes { left in rhs.withBytes { right in left.elementsEqual(right) } }
    }

    /// Byte order, the order etcd lists keys in.
    static func < (lhs: Label, rhs: Label) -> Bool {
        lhs.withBytes { left in rhs.withBytes { right in left.lexicographicallyPrecedes(right) } }
    }
}

/// A child as its parent holds it. Most names in a cluster's data are a pod or node name with
/// one record below it: those are held as that record alone (one word in the parent's hash
/// trie), and only the other nodes pay for a whole `TrieNode`.
enum Child: Sendable {
    /// A bare leaf: one record, nothing below.
    case leaf(StoredRecord)
    /// A name without a record of its own whose only child is the bare leaf `record.label`.
    case leafParent(StoredRecord)
    case node(NodeBox)
    /// Nothing: only while a child is being changed, or just emptied.
    case empty

    /// The canonical form of `node`.
    init(_ node: TrieNode) {
        if node.isEmpty {
            self = .empty
        } else if let record = node.record, !node.hasChildren {
            self = .leaf(record)
        } else if node.record == nil, let leaf = node.onlyLeaf {
            self = .leafParent(leaf)
        } else {
            self = .node(NodeBox(node))
        }
    }

    var node: TrieNode {
        switch self {
        case .leaf(let record): TrieNode(leaf: record)
        case .leafParent(let record): TrieNode(onlyLeaf: record)
        case .node(let box): box.node
        case .empty: TrieNode()
        }
    }

    /// Changes the child as a `TrieNode`. A boxed node is let go of first, so that when this
    /// was its only holder the change happens in place instead of copying its children.
    mutating func modify<Result>(_ body: (inout TrieNode) -> Result) -> Result {
        var node = self.node
        self = .empty
        let result = body(&node)
        self = Child(node)
        return result
    }

    /// The kinds of the records in this child's subtree.
    var kinds: RecordKinds {
        switch self {
        case .leaf(let record), .leafParent(let record): RecordKinds(record)
        case .node(let box): box.node.kinds
        case .empty: RecordKinds()
        }
    }

    /// The part of `kinds` below a label starting with `_` inside this child.
    var hiddenKinds: RecordKinds {
        switch self {
        // The record is this child's only child, under its own label.
        case .leafParent(let record): record.label.utf8.first == UInt8(ascii: "_") ? RecordKinds(record) : RecordKinds()
        case .node(let box): box.node.hiddenKinds
        case .leaf, .empty: RecordKinds()
        }
    }

    func forEachRecord(hiding: Bool, where include: (RecordKinds) -> Bool, budget: inout Int,
                       _ body: (StoredRecord) -> Bool) -> Bool {
        switch self {
        case .leaf(let record):
            guard budget > 0 else { return false }
            budget -= 1
            return body(record)
        case .leafParent(let record):
            guard budget > 0 else { return false }
            budget -= 1
            return hiding && record.label.utf8.first == UInt8(ascii: "_") ? true : body(record)
        case .node(let box): return box.node.forEachRecord(hidingUnderscoreLabels: hiding, where: include, budget: &budget, body)
        case .empty: return true
        }
    }
}

/// A node held by reference, never changed once made (changes make a new box), so snapshots
/// can share it across threads.
final class NodeBox: Sendable {
    let node: TrieNode
    init(_ node: TrieNode) { self.node = node }
}
