import DequeModule

/// A map bounded by entry count and by a total cost (in units the owner picks, such as bytes),
/// which makes room for a new entry by dropping the oldest inserted: each drop is O(1)
/// (amortised), because the keys usually come from clients and a full map must not cost them a
/// walk per insert. Not synchronised: its owner keeps it behind a lock.
///
/// Insertion order is a queue of keys beside the entries, each tagged with a serial; a key whose
/// entry has been replaced or removed since stays queued until it comes up (its serial no longer
/// matches) or the queue is compacted, once such keys outnumber the entries held: the queue's
/// length follows what is held, not `capacity` (which may be as large as `Int.max`).
public struct OldestFirstMap<Key: Hashable, Value> {
    @usableFromInline
    struct Slot {
        @usableFromInline var value: Value
        @usableFromInline var cost: Int
        @usableFromInline var serial: UInt64

        @inlinable
        init(value: Value, cost: Int, serial: UInt64) {
            self.value = value
            self.cost = cost
            self.serial = serial
        }
    }

    /// The most entries held (0: none is kept).
    public let capacity: Int
    /// The most cost all entries together may have.
    public let maxCost: Int
    @usableFromInline var slots: [Key: Slot] = [:]
    @usableFromInline var order = Deque<(key: Key, serial: UInt64)>()
    @usableFromInline var nextSerial: UInt64 = 0
    @usableFromInline var heldCost = 0
    /// Stale keys allowed beyond the entries held before the order is compacted.
    @usableFromInline static var staleSlack: Int { 16 }

    /// - Parameters:
    ///   - capacity: entries; a negative value counts as 0.
    ///   - maxCost: the total cost; a negative value counts as 0.
    public init(capacity: Int, maxCost: Int = .max) {
        self.capacity = max(capacity, 0)
        self.maxCost = max(maxCost, 0)
    }

    /// Entries held now.
    @inlinable
    public var count: Int { slots.count }

    /// The cost of every entry held.
    @inlinable
    public var totalCost: Int { heldCost }

    /// The value held for `key`, nil when none.
    @inlinable
    public subscript(key: Key) -> Value? { slots[key]?.value }

    /// Removes the entry for `key`; returns its value, nil when there was none.
    @inlinable
    @discardableResult
    public mutating func removeValue(forKey key: Key) -> Value? {
        guard let slot = slots.removeValue(forKey: key) else { return nil }
        heldCost -= slot.cost
        return slot.value
    }

    /// Holds `value` for `key` (replacing what `key` held), first dropping the oldest entries
    /// until it fits within `capacity` and `maxCost`. False, with nothing changed, when it cannot
    /// fit at all: `cost` negative or above `maxCost`, or `capacity` 0.
    @inlinable
    @discardableResult
    public mutating func insert(_ value: Value, forKey key: Key, cost: Int = 0) -> Bool {
        guard capacity > 0, cost >= 0, cost <= maxCost else { return false }
        removeValue(forKey: key)
        // Each pass takes one key off the order, so this ends within its length; every entry
        // held is in the order, so once it is empty the map is too and the new entry fits.
        while slots.count >= capacity || cost > maxCost - heldCost, let oldest = order.popFirst() {
            if slots[oldest.key]?.serial == oldest.serial { removeValue(forKey: oldest.key) }
        }
        let serial = nextSerial
        nextSerial &+= 1
        slots[key] = Slot(value: value, cost: cost, serial: serial)
        heldCost += cost
        order.append((key, serial))
        // Stale keys outnumber the entries (by more than a few): each compaction is paid for by
        // the inserts that queued them, and the queue stays within twice the entries held.
        if order.count - slots.count > slots.count + Self.staleSlack { compactOrder() }
        return true
    }

    /// Drops the order's stale keys (entries removed or replaced since).
    @usableFromInline
    mutating func compactOrder() {
        order = Deque(order.filter { slots[$0.key]?.serial == $0.serial })
    }
}

extension OldestFirstMap: Sendable where Key: Sendable, Value: Sendable {}
extension OldestFirstMap.Slot: Sendable where Key: Sendable, Value: Sendable {}
