@testable import SkyDNSServer
import Testing

// The hidden-key resolver's memory of paths clients asked for: bounded whatever they ask.

@Suite("Expiring memory")
struct ExpiringMemoryTests {
    @Test("a value lives until its time; a later store replaces it")
    func expiry() {
        var memory = ExpiringMemory<Bool>(capacity: 4)
        memory.store(false, for: "/a", until: 10)
        #expect(memory.value(for: "/a", now: 9) == false)
        #expect(memory.value(for: "/a", now: 10) == nil)
        memory.store(true, for: "/a", until: 20)
        #expect(memory.value(for: "/a", now: 15) == true)
        memory.forget("/a")
        #expect(memory.value(for: "/a", now: 15) == nil)
    }

    @Test("past its capacity the oldest are forgotten first; a key stored again counts as new")
    func capacity() {
        var memory = ExpiringMemory<Int>(capacity: 3)
        for (index, key) in ["/a", "/b", "/c"].enumerated() { memory.store(index, for: key, until: 100) }
        memory.store(9, for: "/a", until: 100)  // now the newest
        memory.store(3, for: "/d", until: 100)
        #expect(memory.count == 3)
        #expect(memory.value(for: "/b", now: 0) == nil)
        #expect(memory.value(for: "/a", now: 0) == 9)
        #expect(memory.value(for: "/c", now: 0) == 2)
        #expect(memory.value(for: "/d", now: 0) == 3)
    }

    @Test("a flood of distinct keys, or one key stored over and over, stays within bounds",
          arguments: [(100_000, true), (100_000, false)])
    func flood(count: Int, distinct: Bool) {
        var memory = ExpiringMemory<Bool>(capacity: 64)
        for index in 0..<count { memory.store(false, for: distinct ? "/k\(index)" : "/same", until: Int64(index)) }
        #expect(memory.count == (distinct ? 64 : 1))
        #expect(memory.orderSlots <= 4 * 64)
    }
}
