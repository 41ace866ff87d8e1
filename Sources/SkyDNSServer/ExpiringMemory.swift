/// What was learnt lately about keys a client chooses (hidden etcd paths it asked for), kept for
/// a while and bounded: at most `capacity` entries, the oldest forgotten first when a new one
/// comes, so that a flood of distinct keys costs a fixed amount of memory. Not thread-safe: its
/// owner holds it under a lock. Times are monotonic seconds.
struct ExpiringMemory<Value> {
    private struct Entry {
        var value: Value
        var until: Int64
        var serial: UInt64
    }

    let capacity: Int
    private var entries: [String: Entry] = [:]
    /// Keys in the order stored, with the serial they had then (a later store of the same key
    /// leaves a stale slot, skipped when reached); `head` is the oldest live slot.
    private var order: [(key: String, serial: UInt64)] = []
    private var head = 0
    private var serial: UInt64 = 0

    /// - Parameter capacity: the most entries held; at least 1.
    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { entries.count }

    /// The value stored for `key`, unless it expired by `now`.
    func value(for key: String, now: Int64) -> Value? {
        guard let entry = entries[key], entry.until > now else { return nil }
        return entry.value
    }

    /// Stores `value` for `key` until `until`, forgetting the oldest entries beyond `capacity`.
    mutating func store(_ value: Value, for key: String, until: Int64) {
        serial &+= 1
        entries[key] = Entry(value: value, until: until, serial: serial)
        order.append((key, serial))
        while entries.count > capacity, head < order.count {
            let oldest = order[head]
            head += 1
            if entries[oldest.key]?.serial == oldest.serial { entries[oldest.key] = nil }
        }
        // The consumed front and stale slots (keys stored again, or forgotten) are dropped once
        // either grows past the capacity: amortised O(1), and the order stays bounded.
        if head > capacity || order.count - head > 2 * capacity {
            order = order[head...].filter { entries[$0.key]?.serial == $0.serial }
            head = 0
        }
    }

    mutating func forget(_ key: String) {
        entries[key] = nil
    }

    /// How many slots the order array holds (consumed, live and stale): at most about four
    /// times `capacity`.
    var orderSlots: Int { order.count }
}
