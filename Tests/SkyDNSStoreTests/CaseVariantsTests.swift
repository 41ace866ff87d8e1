import Testing
@testable import SkyDNSStore

/// Keys that differ only in case, or in a trailing slash (etcd v3), share a name: what is served
/// must follow etcd's contents, never the order the changes came in.
@Suite struct CaseVariantsTests {
    private func makeStore() throws -> RecordStore {
        let store = RecordStore(zone: try domeosZone(), pathPrefix: "skydns", clock: { 1_000 })
        store.apply([.replaceAll([])])
        return store
    }

    private func host(_ store: RecordStore, _ path: [String]) -> String? {
        store.publisher.current.root.node(at: path)?.record?.host
    }

    @Test func deletingOneCaseKeepsTheOther() throws {
        let store = try makeStore()
        store.apply([.put(kv("/skydns/sohu/domeos/svc/Web/1", hostValue("10.0.0.1"))),
                     .put(kv("/skydns/sohu/domeos/svc/web/1", hostValue("10.0.0.2")))])
        #expect(host(store, ["sohu", "domeos", "svc", "web", "1"]) == "10.0.0.2")  // lower case wins, as SkyDNS
        store.apply([.delete(key: "/skydns/sohu/domeos/svc/web/1")])
        #expect(host(store, ["sohu", "domeos", "svc", "web", "1"]) == "10.0.0.1")
        store.apply([.put(kv("/skydns/sohu/domeos/svc/web/1", hostValue("10.0.0.2"))),
                     .delete(key: "/skydns/sohu/domeos/svc/Web/1")])
        #expect(host(store, ["sohu", "domeos", "svc", "web", "1"]) == "10.0.0.2")
        // Deleting an upper-case key etcd never held leaves the lower-case one alone.
        store.apply([.delete(key: "/skydns/sohu/domeos/SVC/web/1")])
        #expect(host(store, ["sohu", "domeos", "svc", "web", "1"]) == "10.0.0.2")
        #expect(store.recordCount == 1)
    }

    @Test func deletingACaseDirectoryKeepsTheOtherCase() throws {
        let store = try makeStore()
        store.apply([.put(kv("/skydns/sohu/domeos/svc/web/1", hostValue("10.0.0.1"))),
                     .put(kv("/skydns/sohu/domeos/Svc/Web/2", hostValue("10.0.0.2"))),
                     .put(kv("/skydns/sohu/domeos/svc/web/3", hostValue("10.0.0.3")))])
        store.apply([.deleteTree(key: "/skydns/sohu/domeos/Svc/Web")])
        #expect(host(store, ["sohu", "domeos", "svc", "web", "1"]) == "10.0.0.1")
        #expect(host(store, ["sohu", "domeos", "svc", "web", "2"]) == nil)
        #expect(host(store, ["sohu", "domeos", "svc", "web", "3"]) == "10.0.0.3")
        store.apply([.put(kv("/skydns/sohu/domeos/Svc/Web/2", hostValue("10.0.0.2"))),
                     .deleteTree(key: "/skydns/sohu/domeos/svc/web")])
        #expect(host(store, ["sohu", "domeos", "svc", "web", "1"]) == nil)
        #expect(host(store, ["sohu", "domeos", "svc", "web", "2"]) == "10.0.0.2")
        #expect(store.recordCount == 1)
    }

    /// etcd v3 holds `…/x` and `…/x/` apart: deleting either leaves the other served.
    @Test func deletingOneSlashVariantKeepsTheOther() throws {
        let store = try makeStore()
        store.apply([.put(kv("/skydns/sohu/domeos/ts/x", hostValue("10.0.0.1"))),
                     .put(kv("/skydns/sohu/domeos/ts/x/", hostValue("10.0.0.2")))])
        #expect(host(store, ["sohu", "domeos", "ts", "x"]) == "10.0.0.1")  // the key without the slash wins
        store.apply([.delete(key: "/skydns/sohu/domeos/ts/x/")])
        #expect(host(store, ["sohu", "domeos", "ts", "x"]) == "10.0.0.1")
        store.apply([.put(kv("/skydns/sohu/domeos/ts/x/", hostValue("10.0.0.2"))),
                     .delete(key: "/skydns/sohu/domeos/ts/x")])
        #expect(host(store, ["sohu", "domeos", "ts", "x"]) == "10.0.0.2")
        // Deleting a slash key etcd never held leaves the other alone.
        store.apply([.put(kv("/skydns/sohu/domeos/ts/y", hostValue("10.0.0.3"))),
                     .delete(key: "/skydns/sohu/domeos/ts/y/")])
        #expect(host(store, ["sohu", "domeos", "ts", "y"]) == "10.0.0.3")
        #expect(store.recordCount == 2)
    }

    /// Random puts, deletes and directory deletes over keys that collide in case or in a trailing
    /// slash: after each step every name holds the folded key's record (lower case, no trailing
    /// slash) if etcd has it, else the first key in byte order.
    @Test(arguments: 1...40)
    func servedFollowsEtcd(seed: UInt64) throws {
        let store = try makeStore()
        let keys = ["/skydns/a/svc/Web/1", "/skydns/a/svc/web/1", "/skydns/a/svc/WEB/1", "/skydns/a/Svc/web/1",
                    "/skydns/a/Svc/web/2", "/skydns/a/svc/web/2", "/skydns/a/svc/web/3", "/skydns/a/svc/web/1/",
                    "/skydns/a/svc/Web/1/", "/skydns/a/svc/web/3/"]
        let directories = ["/skydns/a/svc/Web", "/skydns/a/svc/web", "/skydns/a/Svc", "/skydns/a/svc"]
        var etcd: [String: String] = [:]
        var random = seed &* 6364136223846793005 &+ 1442695040888963407
        func next(_ n: Int) -> Int {
            random = random &* 6364136223846793005 &+ 1442695040888963407
            return Int((random >> 33) % UInt64(n))
        }
        for step in 0..<60 {
            switch next(6) {
            case 0, 1, 2:
                let key = keys[next(keys.count)]
                let host = "10.0.\(step).\(next(250) + 1)"
                etcd[key] = host
                store.apply([.put(kv(key, hostValue(host)))])
            case 3, 4:
                let key = keys[next(keys.count)]
                etcd[key] = nil
                store.apply([.delete(key: key)])
            default:
                let directory = directories[next(directories.count)]
                etcd = etcd.filter { !$0.key.hasPrefix(directory + "/") }
                store.apply([.deleteTree(key: directory)])
            }
            func fold(_ key: String) -> String { (key.hasSuffix("/") ? String(key.dropLast()) : key).lowercased() }
            for folded in Set(keys.map(fold)) {
                let present = etcd.keys.filter { fold($0) == folded }
                let chosen = present.contains(folded) ? folded : present.min { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                let path = folded.split(separator: "/").dropFirst().map(String.init)
                #expect(host(store, path) == chosen.flatMap { etcd[$0] }, "seed \(seed) step \(step): \(folded) with \(etcd)")
            }
            #expect(store.recordCount == Set(etcd.keys.map(fold)).count)
        }
    }
}
