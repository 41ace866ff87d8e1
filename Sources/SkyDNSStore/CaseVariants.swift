import DNSWire

/// etcd keys are case-sensitive, DNS names are not: `…/svc/Web/1` and `…/svc/web/1` are two keys
/// for one name and one trie slot; so are `…/svc/web/1/` and `…/svc/web/1` in etcd v3 (a trailing
/// slash adds no label). This keeps each such key's record apart, by exact key, under the folded
/// key (lower case, no trailing slash), so that the slot always holds the same choice among the
/// keys etcd holds whatever order they came in: the folded key itself if present (the one SkyDNS,
/// looking up the lower-cased query name, served), else the first in byte order.
///
/// Only keys with an upper-case ASCII letter or a trailing slash, and the folded keys they collide
/// with, are kept here; with none (kube2sky writes lower case) every operation is one emptiness
/// check.
struct CaseVariants {
    /// Folded key → exact key → record. Every key with upper case has an entry; the lower-case
    /// key's record is kept beside them while they exist.
    private var variants: [String: [String: StoredRecord]] = [:]

    var isEmpty: Bool { variants.isEmpty }

    mutating func removeAll() { variants.removeAll() }

    static func hasUpperCase(_ key: String) -> Bool {
        key.utf8.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
    }

    static func lowercased(_ key: String) -> String {
        String(decoding: key.utf8.map(asciiLowercase), as: UTF8.self)
    }

    /// The key all variants of `key` fold to: lower case, without a trailing slash.
    static func folded(_ key: String) -> String {
        lowercased(key.hasSuffix("/") ? String(key.dropLast()) : key)
    }

    /// Whether a put or delete of `key` must go through here rather than straight to the trie.
    func tracks(_ key: String) -> Bool {
        Self.hasUpperCase(key) || key.hasSuffix("/") || (!variants.isEmpty && variants[key] != nil)
    }

    /// Records `record` for the exact `key`; `current` is what the slot holds now (it can only be
    /// the folded key's, when nothing was tracked yet). Returns what the slot must hold.
    mutating func put(_ record: StoredRecord, key: String, current: StoredRecord?) -> StoredRecord {
        let folded = Self.folded(key)
        var entries = variants[folded] ?? [:]
        if entries.isEmpty, key != folded, let current { entries[folded] = current }
        entries[key] = record
        return settle(folded, entries) ?? record
    }

    /// What a delete means for the key's trie slot.
    enum SlotChange: Equatable {
        /// Not tracked, a folded key: the slot was the key's own; remove it.
        case untracked
        /// A variant key that was never stored: the slot belongs to another key.
        case keep
        case set(StoredRecord)
        case clear

        static func == (lhs: SlotChange, rhs: SlotChange) -> Bool {
            switch (lhs, rhs) {
            case (.untracked, .untracked), (.keep, .keep), (.clear, .clear): true
            case (.set(let a), .set(let b)): a === b
            default: false
            }
        }
    }

    /// Forgets the exact `key`.
    mutating func delete(key: String) -> SlotChange {
        let folded = Self.folded(key)
        guard var entries = variants[folded] else { return key != folded ? .keep : .untracked }
        entries[key] = nil
        return settle(folded, entries).map { .set($0) } ?? .clear
    }

    /// Forgets every exact key at or below `key`. Returns each folded key at or below `key`'s
    /// folded form that was tracked, with the record its slot must hold now (nil: nothing).
    mutating func deleteTree(key: String) -> [(folded: String, record: StoredRecord?)] {
        // `…/web/` names the same directory as `…/web`, and the key `…/web` goes with it.
        let key = key.hasSuffix("/") ? String(key.dropLast()) : key
        let below = key + "/"
        let foldedKey = Self.lowercased(key)
        let foldedBelow = Self.lowercased(below)
        var affected: [(folded: String, record: StoredRecord?)] = []
        for (folded, entries) in variants where folded == foldedKey || folded.hasPrefix(foldedBelow) {
            let kept = entries.filter { exact, _ in !(exact == key || exact.hasPrefix(below)) }
            affected.append((folded, settle(folded, kept)))
        }
        return affected
    }

    /// Stores `entries` (dropping the entry when only the folded key, or nothing, is left)
    /// and returns the record the slot must hold.
    private mutating func settle(_ folded: String, _ entries: [String: StoredRecord]) -> StoredRecord? {
        let onlyLowerCase = entries.count == 1 && entries[folded] != nil
        variants[folded] = entries.isEmpty || onlyLowerCase ? nil : entries
        if let lower = entries[folded] { return lower }
        return entries.min { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }?.value
    }
}
