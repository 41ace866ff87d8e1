@testable import BoundedCollections
import Testing

// The bounded map both caches keep their entries in: what it holds after a sequence of inserts
// and removals, within its count and cost, dropping the oldest first.

@Suite("OldestFirstMap: bounded by count and cost, oldest dropped first")
struct OldestFirstMapTests {
    enum Step: Sendable {
        /// Insert key with this cost; `kept` is what `insert` must return.
        case insert(String, cost: Int = 0, kept: Bool = true)
        case remove(String)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var capacity: Int
        var maxCost = Int.max
        var steps: [Step]
        /// Every key held at the end, each with the value of its last insert.
        var held: [String: Int]
        var totalCost = 0
        var testDescription: String { label }
    }

    static let cases: [Case] = [
        Case(label: "within capacity: all kept", capacity: 3,
             steps: [.insert("a"), .insert("b"), .insert("c")], held: ["a": 0, "b": 1, "c": 2]),
        Case(label: "full: the oldest goes first", capacity: 2,
             steps: [.insert("a"), .insert("b"), .insert("c"), .insert("d")], held: ["c": 2, "d": 3]),
        Case(label: "replacing a key keeps the others and renews its age", capacity: 2,
             steps: [.insert("a"), .insert("b"), .insert("a"), .insert("c")], held: ["a": 2, "c": 3]),
        Case(label: "a removed key's place in the order is skipped", capacity: 2,
             steps: [.insert("a"), .insert("b"), .remove("a"), .insert("c"), .insert("d")], held: ["c": 3, "d": 4]),
        Case(label: "cost: oldest dropped until the new one fits", capacity: 10, maxCost: 10,
             steps: [.insert("a", cost: 4), .insert("b", cost: 4), .insert("c", cost: 4)],
             held: ["b": 1, "c": 2], totalCost: 8),
        Case(label: "cost: a large one empties the map", capacity: 10, maxCost: 10,
             steps: [.insert("a", cost: 3), .insert("b", cost: 3), .insert("c", cost: 10)],
             held: ["c": 2], totalCost: 10),
        Case(label: "cost above the maximum: refused, nothing dropped", capacity: 10, maxCost: 10,
             steps: [.insert("a", cost: 3), .insert("a", cost: 11, kept: false)], held: ["a": 0], totalCost: 3),
        Case(label: "negative cost: refused", capacity: 10,
             steps: [.insert("a", cost: -1, kept: false)], held: [:]),
        Case(label: "removal returns its cost", capacity: 10, maxCost: 10,
             steps: [.insert("a", cost: 6), .remove("a"), .insert("b", cost: 6)], held: ["b": 2], totalCost: 6),
        Case(label: "capacity 0 keeps nothing", capacity: 0, steps: [.insert("a", kept: false)], held: [:]),
        Case(label: "negative capacity counts as 0", capacity: -5, steps: [.insert("a", kept: false)], held: [:]),
        Case(label: "capacity Int.max: no overflow", capacity: .max,
             steps: [.insert("a"), .insert("b"), .insert("a")], held: ["a": 2, "b": 1]),
        Case(label: "cost budget Int.max: no overflow", capacity: 4, maxCost: .max,
             steps: [.insert("a", cost: .max), .insert("b", cost: .max)], held: ["b": 1], totalCost: .max),
    ]

    @Test("what is held after the steps", arguments: cases)
    func held(_ c: Case) {
        var map = OldestFirstMap<String, Int>(capacity: c.capacity, maxCost: c.maxCost)
        for (index, step) in c.steps.enumerated() {
            switch step {
            case .insert(let key, let cost, let kept):
                #expect(map.insert(index, forKey: key, cost: cost) == kept, "step \(index)")
            case .remove(let key):
                #expect(map.removeValue(forKey: key) != nil, "step \(index)")
            }
        }
        #expect(map.count == c.held.count)
        for (key, value) in c.held { #expect(map[key] == value, "\(key)") }
        #expect(map.totalCost == c.totalCost)
        #expect(map.count <= max(c.capacity, 0))
    }

    @Test("a flood of distinct keys: the newest are held, the count and cost stay bounded")
    func flood() {
        var map = OldestFirstMap<Int, Int>(capacity: 100, maxCost: 1000)
        for key in 0..<100_000 { map.insert(key, forKey: key, cost: key % 20) }
        #expect(map.count <= 100)
        #expect(map.totalCost <= 1000)
        // The last insert always fits; the ones before it were dropped oldest first.
        #expect(map[99_999] == 99_999)
        #expect(map[0] == nil)
        let held = (99_000..<100_000).filter { map[$0] != nil }
        #expect(held.count == map.count)
        #expect(held == Array((100_000 - held.count)..<100_000))
    }

    /// A cache removes expired entries and stores them again later: the keys left behind in the
    /// insertion order must not pile up, whatever the capacity (`-rcache` may be `Int.max`).
    @Test("keys removed or replaced do not pile up in the order", arguments: [10, Int.max])
    func staleKeys(capacity: Int) {
        var map = OldestFirstMap<Int, Int>(capacity: capacity)
        for round in 0..<10_000 {
            map.insert(round, forKey: round % 3)
            if round % 2 == 0 { map.removeValue(forKey: round % 3) }
        }
        #expect(map.count <= 3)
        #expect(map.order.count <= 2 * map.count + 17)
        // Still oldest first after the compactions.
        map.insert(-1, forKey: 100)
        #expect(map[100] == -1)
    }
}
