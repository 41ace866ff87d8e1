import DNSWire
import Testing
@testable import SkyDNSStore

/// A large first read arrives page by page in key order: names whose keys all lie in pages
/// already read are answered, the rest (and anything but plain addresses) is refused until the
/// read completes; a read that starts over forgets its earlier pages.
struct FirstReadTests {
    let pod1 = "/skydns/sohu/domeos/pod-1/a"
    let pod2a = "/skydns/sohu/domeos/pod-2/a"
    let pod2b = "/skydns/sohu/domeos/pod-2/b"
    let pod3 = "/skydns/sohu/domeos/pod-3/a"

    func rcode(_ store: RecordStore, _ name: String, _ type: RecordType = .a) throws -> ResponseCode {
        try Asker().response(query(name, type), snapshot: store.publisher.current).header.responseCode
    }

    @Test func answersCompleteNamesWhileTheReadStreamsIn() throws {
        let store = RecordStore(zone: try domeosZone(), pathPrefix: "skydns")
        // The first page ends inside pod-2's directory: pod-1 is whole, pod-2 is not.
        store.apply([.firstReadPage([kv(pod1, hostValue("10.0.0.1")), kv(pod2a, hostValue("10.0.0.2"))],
                                    first: true, complete: false)])
        #expect(!store.publisher.current.isSynced)
        #expect(try rcode(store, "pod-1.domeos.sohu") == .noError)
        #expect(try Asker().response(query("pod-1.domeos.sohu"), snapshot: store.publisher.current).addresses == ["10.0.0.1"])
        #expect(try rcode(store, "pod-2.domeos.sohu") == .refused)
        #expect(try rcode(store, "pod-3.domeos.sohu") == .refused, "not read yet: not NXDOMAIN")
        #expect(try rcode(store, "pod-1.domeos.sohu", .srv) == .refused, "only plain addresses before sync")
        // Addresses of names not read yet are handed back, for the server to read from etcd alone;
        // other types and wildcards are refused outright.
        func isNotLoaded(_ name: String, _ type: RecordType = .a) -> Bool {
            if case .notLoaded = Asker().ask(query(name, type), snapshot: store.publisher.current).outcome { return true }
            return false
        }
        #expect(isNotLoaded("pod-2.domeos.sohu") && isNotLoaded("pod-3.domeos.sohu", .aaaa))
        #expect(!isNotLoaded("pod-1.domeos.sohu") && !isNotLoaded("pod-3.domeos.sohu", .srv))
        #expect(!isNotLoaded("*.domeos.sohu"))

        store.apply([.firstReadPage([kv(pod2b, hostValue("10.0.0.3")), kv(pod3, hostValue("10.0.0.4"))],
                                    first: false, complete: false)])
        #expect(try Asker().response(query("pod-2.domeos.sohu"), snapshot: store.publisher.current).addresses.sorted()
                == ["10.0.0.2", "10.0.0.3"])

        store.apply([.firstReadPage([], first: false, complete: true)])
        #expect(store.publisher.current.isSynced)
        #expect(try rcode(store, "pod-3.domeos.sohu") == .noError)
        #expect(try rcode(store, "nothere.domeos.sohu") == .nxDomain)
        #expect(try rcode(store, "pod-1.domeos.sohu", .srv) == .noError)
    }

    @Test func aReadThatStartsOverForgetsItsEarlierPages() throws {
        let store = RecordStore(zone: try domeosZone(), pathPrefix: "skydns")
        store.apply([.firstReadPage([kv(pod1, hostValue("10.0.0.1")), kv(pod2a, hostValue("10.0.0.2"))],
                                    first: true, complete: false)])
        // etcd went away mid-read; the retry no longer has pod-1.
        store.apply([.firstReadPage([kv(pod2a, hostValue("10.0.0.2"))], first: true, complete: true)])
        #expect(store.recordCount == 1)
        #expect(try rcode(store, "pod-1.domeos.sohu") == .nxDomain)
    }

    @Test(arguments: [
        ("sohu/domeos/pod-2/a", ["sohu", "domeos", "pod-1"], true),
        ("sohu/domeos/pod-1/z", ["sohu", "domeos", "pod-1"], false),
        ("sohu/domeos/pod-10/a", ["sohu", "domeos", "pod-1"], true),
        ("sohu/domeos/pod-0/a", ["sohu", "domeos", "pod-1"], false),
        // The whole prefix (the apex of -domain=.) is loaded only when the read completes.
        ("zzz/a", [], false),
    ])
    func loadedMeansEveryKeyBelowSortsBeforeTheLastRead(last: String, path: [String], loaded: Bool) throws {
        let snapshot = Snapshot(zone: try domeosZone(), root: TrieNode(), isSynced: false, serial: 1, loadedThrough: last)
        #expect(snapshot.isLoaded(path: path) == loaded)
    }
}
