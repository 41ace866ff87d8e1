import Testing
@testable import SkyDNSStore

/// The writer side: changes from etcd in, immutable snapshots out.
@Suite struct RecordStoreTests {
    private let kafka = "/skydns/sohu/domeos/kafka/19d074a1"
    private let kafka2 = "/skydns/sohu/domeos/kafka/2b"
    private let web = "/skydns/sohu/domeos/svc/web/a1"
    private let db = "/skydns/sohu/domeos/svc/db/b1"

    private func makeStore(clock: @escaping @Sendable () -> UInt32 = { 1_000 }) throws -> RecordStore {
        RecordStore(zone: try domeosZone(), pathPrefix: "skydns", clock: clock)
    }

    /// The keys of every record in a snapshot.
    private func keys(_ snapshot: Snapshot) -> Set<String> {
        var keys = Set<String>()
        snapshot.root.forEachNamedRecord(name: .root) { _, name in
            keys.insert("/skydns/" + name.labels.reversed().map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/"))
            return true
        }
        return keys
    }

    private func host(_ snapshot: Snapshot, _ path: [String]) -> String? {
        snapshot.root.node(at: path)?.record?.host
    }

    @Test func replaceAllLoadsEverything() throws {
        let store = try makeStore()
        let rejected = store.apply([.replaceAll([kv(kafka, hostValue("10.0.0.1")), kv(kafka2, hostValue("10.0.0.2")),
                                                 kv(web, hostValue("10.0.1.1")), kv(db, hostValue("db.example."))])])
        #expect(rejected.isEmpty)
        #expect(store.recordCount == 4)
        let snapshot = store.publisher.current
        #expect(snapshot.recordCount == 4)
        #expect(keys(snapshot) == [kafka, kafka2, web, db])
        #expect(snapshot.apex?.recordCount == 4)
        #expect(host(snapshot, ["sohu", "domeos", "kafka", "19d074a1"]) == "10.0.0.1")
    }

    @Test func replaceAllForgetsWhatWasThereBefore() throws {
        let store = try makeStore()
        store.apply([.replaceAll([kv(kafka, hostValue("10.0.0.1")), kv(web, hostValue("10.0.1.1"))])])
        store.apply([.put(kv(db, hostValue("10.0.2.1")))])
        store.apply([.replaceAll([kv(kafka2, hostValue("10.0.0.2"))])])
        #expect(store.recordCount == 1)
        #expect(keys(store.publisher.current) == [kafka2])
        #expect(store.publisher.current.root.node(at: ["sohu", "domeos", "svc"]) == nil)

        store.apply([.replaceAll([])])
        #expect(store.recordCount == 0)
        #expect(store.publisher.current.apex == nil)
    }

    @Test func putAddsAndReplaces() throws {
        let store = try makeStore()
        store.apply([.replaceAll([])])
        #expect(store.apply([.put(kv(kafka, hostValue("10.0.0.1")))]).isEmpty)
        #expect(store.recordCount == 1)
        #expect(store.apply([.put(kv(kafka, hostValue("10.0.0.9")))]).isEmpty)
        #expect(store.recordCount == 1)
        #expect(host(store.publisher.current, ["sohu", "domeos", "kafka", "19d074a1"]) == "10.0.0.9")
        // A differently cased key is the same name; while etcd holds both, the lower-case key's
        // record is served whatever came last (CaseVariantsTests).
        #expect(store.apply([.put(kv("/skydns/SOHU/domeos/Kafka/19D074A1", hostValue("10.0.0.7")))]).isEmpty)
        #expect(store.recordCount == 1)
        #expect(host(store.publisher.current, ["sohu", "domeos", "kafka", "19d074a1"]) == "10.0.0.9")
    }

    @Test func deleteRemovesExactlyOneKey() throws {
        let store = try makeStore()
        store.apply([.replaceAll([kv(kafka, hostValue("10.0.0.1")), kv(kafka2, hostValue("10.0.0.2")),
                                  kv(web, hostValue("10.0.1.1"))])])
        store.apply([.delete(key: kafka)])
        #expect(keys(store.publisher.current) == [kafka2, web])
        // A directory key has no record of its own: deleting it removes nothing.
        store.apply([.delete(key: "/skydns/sohu/domeos/kafka")])
        #expect(store.recordCount == 2)
        // Keys that are not there, or not under the prefix, are ignored.
        store.apply([.delete(key: kafka), .delete(key: "/other/sohu/domeos/svc/web/a1"), .delete(key: "/skydns//x")])
        #expect(store.recordCount == 2)
        store.apply([.delete(key: kafka2)])
        #expect(store.publisher.current.root.node(at: ["sohu", "domeos", "kafka"]) == nil, "empty directory pruned")
        #expect(store.recordCount == 1)
    }

    @Test func deleteTreeRemovesEverythingBelow() throws {
        let store = try makeStore()
        store.apply([.replaceAll([kv(kafka, hostValue("10.0.0.1")), kv(kafka2, hostValue("10.0.0.2")),
                                  kv(web, hostValue("10.0.1.1")), kv(db, hostValue("10.0.2.1"))])])
        store.apply([.deleteTree(key: "/skydns/sohu/domeos/svc")])
        #expect(keys(store.publisher.current) == [kafka, kafka2])
        // kube2sky deletes a subtree and rewrites it: trailing slash and a single record both work.
        store.apply([.deleteTree(key: "/skydns/sohu/domeos/kafka/"), .put(kv(kafka, hostValue("10.0.0.5")))])
        #expect(keys(store.publisher.current) == [kafka])
        #expect(host(store.publisher.current, ["sohu", "domeos", "kafka", "19d074a1"]) == "10.0.0.5")
        store.apply([.deleteTree(key: kafka)])
        #expect(store.recordCount == 0)
        #expect(store.publisher.current.apex == nil)
        store.apply([.deleteTree(key: "/skydns/sohu/nothere")])
        #expect(store.recordCount == 0)
    }

    /// `etcdctl rm -r /skydns` (v2) deletes the prefix directory itself: every record goes.
    @Test(arguments: ["/skydns", "/skydns/"])
    func deletingThePrefixDeletesEverything(key: String) throws {
        let store = try makeStore()
        store.apply([.replaceAll([kv(kafka, hostValue("10.0.0.1")), kv(web, hostValue("10.0.1.1"))])])
        store.apply([.deleteTree(key: key)])
        #expect(store.recordCount == 0)
    }

    /// The changes of one call apply in order.
    @Test func changesApplyInOrder() throws {
        let store = try makeStore()
        store.apply([
            .replaceAll([kv(kafka, hostValue("10.0.0.1"))]),
            .put(kv(web, hostValue("10.0.1.1"))),
            .delete(key: kafka),
            .put(kv(kafka, hostValue("10.0.0.3"))),
            .deleteTree(key: "/skydns/sohu/domeos/svc"),
        ])
        #expect(keys(store.publisher.current) == [kafka])
        #expect(host(store.publisher.current, ["sohu", "domeos", "kafka", "19d074a1"]) == "10.0.0.3")
    }

    /// Bad keys and values are reported back, and the good ones around them are stored.
    @Test(arguments: [
        ("/skydns/sohu/domeos/bad/1", "not json", "invalidJSON"),
        ("/skydns/sohu/domeos/bad/2", #"{"port":"80"}"#, "invalidJSON"),
        ("/skydns/sohu/domeos/bad/3", #"{"host":"not a host!"}"#, "invalidHost"),
        ("/skydns/sohu/domeos/bad/4", #"{"host":"a..b"}"#, "invalidHost"),
        ("/other/sohu/domeos/bad/5", hostValue("10.0.0.1"), "invalidKey"),
        ("/skydns/sohu//bad/6", hostValue("10.0.0.1"), "invalidKey"),
        ("/skydns/sohu/" + String(repeating: "x", count: 64), hostValue("10.0.0.1"), "invalidKey"),
    ])
    func badRecordsRejectedRestStored(key: String, value: String, kind: String) throws {
        let loaded = try makeStore()
        let rejectedAtLoad = loaded.apply([.replaceAll([kv(kafka, hostValue("10.0.0.1")), kv(key, value),
                                                        kv(web, hostValue("10.0.1.1"))])])
        try #require(rejectedAtLoad.count == 1)
        #expect(rejectedAtLoad[0].key == key)
        #expect(errorKind(rejectedAtLoad[0].error) == kind)
        #expect(keys(loaded.publisher.current) == [kafka, web])
        #expect(loaded.publisher.current.isSynced)

        let store = try makeStore()
        store.apply([.replaceAll([])])
        let rejected = store.apply([.put(kv(kafka, hostValue("10.0.0.1"))), .put(kv(key, value)),
                                    .put(kv(web, hostValue("10.0.1.1")))])
        #expect(rejected.map(\.key) == [key])
        #expect(keys(store.publisher.current) == [kafka, web])
    }

    @Test func rejectionsAreReportedInOrder() throws {
        let store = try makeStore()
        let rejected = store.apply([.replaceAll([kv("/skydns/a/1", "x"), kv(kafka, hostValue("10.0.0.1")),
                                                 kv("/skydns/a/2", #"{"host":"-bad host"}"#)])])
        #expect(rejected == [
            RejectedRecord(key: "/skydns/a/1", error: rejected.first?.error ?? .invalidJSON("")),
            RejectedRecord(key: "/skydns/a/2", error: .invalidHost("-bad host")),
        ])
        #expect(store.recordCount == 1)
    }

    /// A bad new value for a key keeps the key's last good record: slightly old data beats none.
    @Test(arguments: ["not json", #"{"host":"a..b"}"#, #"{"ttl":"30"}"#])
    func badUpdateKeepsLastGoodRecord(value: String) throws {
        let store = try makeStore()
        store.apply([.replaceAll([kv(kafka, hostValue("10.0.0.1", ttl: 30))])])
        let rejected = store.apply([.put(kv(kafka, value))])
        #expect(rejected.map(\.key) == [kafka])
        #expect(store.recordCount == 1)
        let record = store.publisher.current.root.node(at: ["sohu", "domeos", "kafka", "19d074a1"])?.record
        #expect(record?.host == "10.0.0.1")
        #expect(record?.ttl == 30)
    }

    /// `/skydns/config` holds SkyDNS's settings, never a record, and is not an error either.
    @Test func configKeyIsNotARecord() throws {
        let config = #"{"domain":"domeos.sohu.","ttl":60,"nameservers":["8.8.8.8:53"]}"#
        let store = try makeStore()
        #expect(store.apply([.replaceAll([kv("/skydns/config", config), kv(kafka, hostValue("10.0.0.1"))])]).isEmpty)
        #expect(keys(store.publisher.current) == [kafka])
        #expect(store.publisher.current.root.node(at: ["config"]) == nil)
        #expect(store.apply([.put(kv("/skydns/config", config))]).isEmpty)
        #expect(store.apply([.put(kv("/skydns/config", "not even json"))]).isEmpty)
        #expect(store.recordCount == 1)

        let other = RecordStore(zone: try domeosZone(), pathPrefix: "/a/b/")
        #expect(other.apply([.replaceAll([kv("/a/b/config", config)])]).isEmpty)
        #expect(other.recordCount == 0)
    }

    /// A snapshot is a value: what a worker holds does not change under it.
    @Test func snapshotsAreImmutable() throws {
        let store = try makeStore()
        store.apply([.replaceAll([kv(kafka, hostValue("10.0.0.1")), kv(web, hostValue("10.0.1.1"))])])
        let before = store.publisher.current
        let reader = store.publisher.makeReader()

        store.apply([.put(kv(kafka, hostValue("10.0.0.9"))), .put(kv(db, hostValue("10.0.2.1"))),
                     .deleteTree(key: "/skydns/sohu/domeos/svc/web")])
        let after = store.publisher.current

        #expect(before.recordCount == 2 && keys(before) == [kafka, web])
        #expect(host(before, ["sohu", "domeos", "kafka", "19d074a1"]) == "10.0.0.1")
        #expect(before.apex?.recordCount == 2)
        #expect(after.recordCount == 2 && keys(after) == [kafka, db])
        #expect(host(after, ["sohu", "domeos", "kafka", "19d074a1"]) == "10.0.0.9")
        #expect(reader.snapshot === before)

        store.apply([.replaceAll([])])
        #expect(keys(after) == [kafka, db])
        #expect(keys(before) == [kafka, web])
    }

    @Test func readerPicksUpNewSnapshots() throws {
        let store = try makeStore()
        var reader = store.publisher.makeReader()
        let first = reader.refresh()
        #expect(reader.refresh() === first)
        store.apply([.replaceAll([kv(kafka, hostValue("10.0.0.1"))])])
        let second = reader.refresh()
        #expect(second !== first)
        #expect(second === store.publisher.current)
        #expect(second.recordCount == 1)
    }

    /// The SOA serial changes on every publication and never goes back, whatever the clock does.
    @Test func serialStrictlyIncreases() throws {
        let clock = ManualClock(1_000)
        let store = try makeStore(clock: clock.read)
        #expect(store.publisher.current.serial == 1_000)
        var serials = [store.publisher.current.serial]
        store.apply([.replaceAll([kv(kafka, hostValue("10.0.0.1"))])])
        serials.append(store.publisher.current.serial)
        store.apply([.put(kv(web, hostValue("10.0.1.1")))])
        serials.append(store.publisher.current.serial)
        store.apply([.delete(key: web)])
        serials.append(store.publisher.current.serial)
        store.apply([])
        serials.append(store.publisher.current.serial)
        // A rejected value still publishes.
        store.apply([.put(kv(web, "bad"))])
        serials.append(store.publisher.current.serial)
        #expect(serials == [1_000, 1_001, 1_002, 1_003, 1_004, 1_005])

        // Several changes in one call are one publication.
        store.apply([.put(kv(web, hostValue("10.0.1.1"))), .delete(key: web), .put(kv(db, hostValue("10.0.2.1")))])
        #expect(store.publisher.current.serial == 1_006)

        // The clock moving ahead is followed; moving back is not.
        clock.set(5_000)
        store.apply([])
        #expect(store.publisher.current.serial == 5_000)
        clock.set(10)
        store.apply([])
        #expect(store.publisher.current.serial == 5_001)
        store.apply([])
        #expect(store.publisher.current.serial == 5_002)
    }

    @Test func notSyncedUntilFirstReplaceAll() throws {
        let store = try makeStore()
        #expect(!store.publisher.current.isSynced)
        store.apply([.put(kv(kafka, hostValue("10.0.0.1")))])
        #expect(!store.publisher.current.isSynced)
        #expect(store.recordCount == 1)
        store.apply([.deleteTree(key: kafka)])
        #expect(!store.publisher.current.isSynced)
        store.apply([.replaceAll([])])
        #expect(store.publisher.current.isSynced)
        store.apply([.put(kv(kafka, hostValue("10.0.0.1")))])
        #expect(store.publisher.current.isSynced, "stays synced")
    }

    /// Records outside the served domain are still stored (other zones, reverse names, stubs).
    @Test func recordsOutsideTheZoneAreKept() throws {
        let store = try makeStore()
        store.apply([.replaceAll([kv("/skydns/arpa/in-addr/10/0/0/1", hostValue("kafka.domeos.sohu")),
                                  kv("/skydns/local/other/x", hostValue("10.9.9.9"))])])
        #expect(store.recordCount == 2)
        #expect(store.publisher.current.apex == nil)
    }
}

func errorKind(_ error: RecordError) -> String {
    if case .invalidJSON = error { return "invalidJSON" }
    if case .invalidKey = error { return "invalidKey" }
    if case .invalidHost = error { return "invalidHost" }
    return "\(error)"
}
