import Foundation
import SkyDNSStore
import SkyDNSTestSupport
import StrictJSON
import Testing

@testable import EtcdClient

/// Each test starts its own etcd, so they can run in parallel.
@Suite(
    "EtcdWatcher against a real etcd",
    .enabled(if: EtcdTestServer.isInstalled, "the etcd binary is not installed (apt-get install etcd-server)"))
struct WatcherIntegrationTests {
    @Test func v3SnapshotThenWatchedPutsAndDeletes() throws {
        let etcd = try EtcdTestServer()
        try etcd.v3Put("/skydns/local/a", #"{"host":"10.0.0.1"}"#)
        try etcd.v3Put("/skydns/local/b", #"{"host":"10.0.0.2"}"#)
        try etcd.v3Put("/skydnsother", "outside the prefix")
        let recorder = EventRecorder()
        let watcher = recorder.makeWatcher(EtcdClientConfig(endpoints: [etcd.endpoint]))
        watcher.start()
        defer { watcher.stop() }

        eventually("the full read") { !recorder.fullReads.isEmpty }
        #expect(recorder.fullReads.first?.map(\.key) == ["/skydns/local/a", "/skydns/local/b"])
        #expect(watcher.activeAPI == .v3)
        // The state is reported after the full read is delivered, so it may lag it a moment.
        eventually("the connected state") { recorder.allStates.contains(.connected(.v3)) }

        try etcd.v3Put("/skydns/local/c", "c")
        try etcd.v3Put("/skydns/local/a", "a2")
        try etcd.v3Delete("/skydns/local/b")
        eventually("the watched changes") {
            recorder.current == ["/skydns/local/a": "a2", "/skydns/local/c": "c"]
        }
        #expect(recorder.allEvents.last == .delete(key: "/skydns/local/b"))
        #expect(recorder.fullReads.count == 1)
    }

    @Test func v3ReadPagesAtOneRevision() throws {
        let etcd = try EtcdTestServer()
        for i in 0..<7 { try etcd.v3Put("/skydns/k\(i)", "\(i)") }
        let connection = EtcdConnection(
            config: EtcdClientConfig(endpoints: [etcd.endpoint]), endpoints: EndpointRing([etcd.endpoint]),
            isCancelled: { _ in false })
        let (kvs, revision) = try EtcdV3(connection: connection, pageSize: 2).readPrefix("/skydns/")
        #expect(kvs.map(\.key) == (0..<7).map { "/skydns/k\($0)" })
        #expect(revision >= 8)
    }

    /// The first-read fallback's read: the key, the keys below it up to a limit, nil past it.
    @Test func v3SmallTreeReadStopsAtItsLimit() throws {
        let etcd = try EtcdTestServer()
        try etcd.v3Put("/skydns/local/kafka", "dir")
        for i in 0..<3 { try etcd.v3Put("/skydns/local/kafka/\(i)", "\(i)") }
        try etcd.v3Put("/skydns/local/kafkaesque/x", "not below")
        let connection = EtcdConnection(
            config: EtcdClientConfig(endpoints: [etcd.endpoint]), endpoints: EndpointRing([etcd.endpoint]),
            isCancelled: { _ in false })
        let v3 = EtcdV3(connection: connection)
        let small = try v3.readSmallTree("/skydns/local/kafka", limit: 3, timeout: 5)
        #expect(small?.map(\.key) == ["/skydns/local/kafka"] + (0..<3).map { "/skydns/local/kafka/\($0)" })
        #expect(try v3.readSmallTree("/skydns/local/kafka", limit: 2, timeout: 5) == nil)
        #expect(try v3.readSmallTree("/skydns/local/none", limit: 2, timeout: 5)?.isEmpty == true)
    }

    @Test func v2SnapshotThenWatchedPutsDeletesAndDirectoryDeletes() throws {
        let etcd = try EtcdTestServer()
        try etcd.v2Set("/skydns/local/svc/a", "a", ttl: 300)
        try etcd.v2Set("/skydns/local/svc/b", "b")
        try etcd.v2Set("/skydns/local/other/c", "c")
        let recorder = EventRecorder()
        let watcher = recorder.makeWatcher(EtcdClientConfig(endpoints: [etcd.endpoint], api: .v2))
        watcher.start()
        defer { watcher.stop() }

        eventually("the full read") { !recorder.fullReads.isEmpty }
        let read = try #require(recorder.fullReads.first)
        #expect(Set(read.map(\.key)) == ["/skydns/local/svc/a", "/skydns/local/svc/b", "/skydns/local/other/c"])
        let ttl = try #require(read.first { $0.key == "/skydns/local/svc/a" }?.ttl)
        #expect(ttl > 0 && ttl <= 300)
        #expect(watcher.activeAPI == .v2)

        try etcd.v2Set("/skydns/local/svc/d", "d")
        try etcd.v2Delete("/skydns/local/svc/a")
        eventually("the put and the delete") {
            recorder.current == ["/skydns/local/svc/b": "b", "/skydns/local/svc/d": "d", "/skydns/local/other/c": "c"]
        }
        try etcd.v2Delete("/skydns/local/svc", directory: true)
        eventually("the directory delete") { recorder.current == ["/skydns/local/other/c": "c"] }
        #expect(recorder.allEvents.contains(.deleteTree(key: "/skydns/local/svc")))
        #expect(recorder.fullReads.count == 1)
    }

    @Test func detectionPicksV2WhenOnlyV2HasRecords() throws {
        let etcd = try EtcdTestServer()
        try etcd.v2Set("/skydns/local/a", "a")
        try etcd.v3Put("/elsewhere/x", "not under the prefix")
        let recorder = EventRecorder()
        let watcher = recorder.makeWatcher(EtcdClientConfig(endpoints: [etcd.endpoint]))
        watcher.start()
        defer { watcher.stop() }

        eventually("the full read") { !recorder.fullReads.isEmpty }
        #expect(watcher.activeAPI == .v2)
        #expect(recorder.current == ["/skydns/local/a": "a"])
    }

    /// SkyDNS without -etcd3 read v2: one unrelated v3 key must not hide kube2sky's v2 records.
    @Test func detectionPrefersV2WhenBothHoldRecords() throws {
        let etcd = try EtcdTestServer()
        try etcd.v2Set("/skydns/local/a", "a")
        try etcd.v3Put("/skydns/unrelated", "x")
        let recorder = EventRecorder()
        let watcher = recorder.makeWatcher(EtcdClientConfig(endpoints: [etcd.endpoint]))
        watcher.start()
        defer { watcher.stop() }

        eventually("the full read") { !recorder.fullReads.isEmpty }
        #expect(watcher.activeAPI == .v2)
        #expect(recorder.current == ["/skydns/local/a": "a"])
        #expect(watcher.keyspaceNotice?.contains("serving the v2 keyspace") == true)
        #expect(watcher.healthNotes.first?.contains("-etcd3 serves v3") == true)
    }

    @Test func detectionSwitchesToV2WhenRecordsAppearThereFirst() throws {
        let etcd = try EtcdTestServer()
        let recorder = EventRecorder()
        let watcher = recorder.makeWatcher(EtcdClientConfig(endpoints: [etcd.endpoint]))
        watcher.start()
        defer { watcher.stop() }

        eventually("the empty first read") { !recorder.fullReads.isEmpty }
        #expect(recorder.fullReads.first == [])
        #expect(watcher.activeAPI == .v3)

        try etcd.v2Set("/skydns/local/a", "a")
        eventually("the switch to v2") { watcher.activeAPI == .v2 && recorder.current == ["/skydns/local/a": "a"] }
        try etcd.v2Set("/skydns/local/b", "b")
        eventually("a v2 change after the switch") { recorder.current == ["/skydns/local/a": "a", "/skydns/local/b": "b"] }
    }

    @Test func failsOverFromADeadEndpoint() throws {
        let etcd = try EtcdTestServer()
        try etcd.v3Put("/skydns/local/a", "a")
        // Held for the whole test: a port merely free at the start may be bound by a parallel
        // test's etcd, which this watcher would then follow instead.
        let dead = try RefusingPort()
        let recorder = EventRecorder()
        let watcher = recorder.makeWatcher(EtcdClientConfig(endpoints: [dead.endpoint, etcd.endpoint], api: .v3))
        watcher.start()
        defer {
            watcher.stop()
            withExtendedLifetime(dead) {}
        }

        eventually("the snapshot from the second endpoint") { recorder.current == ["/skydns/local/a": "a"] }
        try etcd.v3Put("/skydns/local/b", "b")
        eventually("a watched change") { recorder.current.count == 2 }
        #expect(recorder.allStates.contains(.connected(.v3)))

        // The monitor's notice that an endpoint is silent can come after the watch has moved on
        // from it by itself (its probes race the watch's own failover): it must not end the watch
        // on the healthy endpoint. A cancelled watch would report a disconnect before the second
        // change could arrive (libcurl polls the cancellation after each chunk it reads).
        let statesBefore = recorder.allStates.count
        watcher.abandon(endpoint: 0, "no answer to /health within 2 s")
        try etcd.v3Put("/skydns/local/c", "c")
        eventually("a change after a late silent notice") { recorder.current["/skydns/local/c"] == "c" }
        try etcd.v3Put("/skydns/local/d", "d")
        eventually("a second change") { recorder.current["/skydns/local/d"] == "d" }
        #expect(!recorder.allStates.dropFirst(statesBefore).contains { if case .disconnected = $0 { true } else { false } })
    }

    @Test func fetchHiddenReturnsUnderscoreKeysAndWatchesThem() throws {
        let etcd = try EtcdTestServer()
        let hidden = "/skydns/local/cluster/svc/default/kafka/_broker/_tcp"
        try etcd.v2Set("/skydns/local/cluster/svc/default/kafka/k1", "visible")
        try etcd.v2Set(hidden + "/k1", "srv1")
        let recorder = EventRecorder()
        let watcher = recorder.makeWatcher(EtcdClientConfig(endpoints: [etcd.endpoint]))
        watcher.start()
        defer { watcher.stop() }

        eventually("the full read") { !recorder.fullReads.isEmpty }
        #expect(watcher.activeAPI == .v2)
        #expect(recorder.current == ["/skydns/local/cluster/svc/default/kafka/k1": "visible"])

        let fetched = try #require(watcher.fetchHidden(key: hidden, timeout: .seconds(5)))
        #expect(fetched == [KeyValue(key: hidden + "/k1", value: Array("srv1".utf8))])
        #expect(watcher.fetchHidden(key: "/skydns/local/_absent", timeout: .seconds(5)) == [])
        // Only a path that holds keys is watched: names that exist nowhere cost no watch.
        #expect(watcher.isWatchingHidden(hidden))
        #expect(!watcher.isWatchingHidden("/skydns/local/_absent"))
        #expect(watcher.hiddenWatchCount == 1)

        try etcd.v2Set(hidden + "/k1", "srv1-changed")
        try etcd.v2Set(hidden + "/k2", "srv2")
        eventually("changes under the hidden path") {
            recorder.current[hidden + "/k1"] == "srv1-changed" && recorder.current[hidden + "/k2"] == "srv2"
        }
        try etcd.v2Delete(hidden + "/k2")
        eventually("a delete under the hidden path") { recorder.current[hidden + "/k2"] == nil }
    }

    @Test func survivesAnEtcdRestart() throws {
        let etcd = try EtcdTestServer()
        try etcd.v3Put("/skydns/local/a", "a")
        let recorder = EventRecorder()
        let watcher = recorder.makeWatcher(EtcdClientConfig(endpoints: [etcd.endpoint]))
        watcher.start()
        defer { watcher.stop() }
        eventually("the full read") { recorder.current == ["/skydns/local/a": "a"] }

        etcd.stop()
        eventually("the disconnect to be noticed") {
            recorder.allStates.contains { if case .disconnected = $0 { true } else { false } }
        }
        try etcd.start()
        try etcd.v3Put("/skydns/local/b", "b")
        eventually("a change made after the restart", timeout: .seconds(15)) {
            recorder.current == ["/skydns/local/a": "a", "/skydns/local/b": "b"]
        }
        #expect(recorder.allStates.last == .connected(.v3))
    }

    @Test func resnapshotsAfterMissingACompactedGap() throws {
        let etcd = try EtcdTestServer()
        let proxy = try TCPProxy(to: etcd.clientPort)
        try etcd.v3Put("/skydns/local/a", "a")
        let recorder = EventRecorder()
        let watcher = recorder.makeWatcher(EtcdClientConfig(endpoints: [proxy.endpoint], api: .v3))
        watcher.start()
        defer { watcher.stop() }
        eventually("the full read") { recorder.current == ["/skydns/local/a": "a"] }

        proxy.disconnect()
        eventually("the disconnect to be noticed") {
            recorder.allStates.contains { if case .disconnected = $0 { true } else { false } }
        }
        try etcd.v3Delete("/skydns/local/a")
        try etcd.v3Put("/skydns/local/b", "b")
        let revision = try #require(
            try JSONValue.parse(etcd.request("POST", "/v3/kv/range", json: ["key": "AA=="]).body)["header"]?["revision"]?.int64)
        _ = try etcd.request("POST", "/v3/kv/compaction", json: ["revision": .string(String(revision)), "physical": true])
        try proxy.connect()

        eventually("a second full read") { recorder.fullReads.count == 2 }
        #expect(recorder.current == ["/skydns/local/b": "b"])
        try etcd.v3Put("/skydns/local/c", "c")
        eventually("watching again after the re-read") { recorder.current.count == 2 }
    }

    @Test func v2ResnapshotsWhenTheWaitIndexFellOutOfHistory() throws {
        let etcd = try EtcdTestServer()
        let proxy = try TCPProxy(to: etcd.clientPort)
        try etcd.v2Set("/skydns/local/a", "a")
        let recorder = EventRecorder()
        let watcher = recorder.makeWatcher(EtcdClientConfig(endpoints: [proxy.endpoint], api: .v2))
        watcher.start()
        defer { watcher.stop() }
        eventually("the full read") { recorder.current == ["/skydns/local/a": "a"] }

        proxy.disconnect()
        try etcd.v2Set("/skydns/local/b", "b")
        // etcd v2 remembers the last 1000 events only.
        for i in 0..<1001 { try etcd.v2Set("/elsewhere/k", "\(i)") }
        try proxy.connect()

        eventually("a second full read") { recorder.fullReads.count == 2 }
        #expect(recorder.current == ["/skydns/local/a": "a", "/skydns/local/b": "b"])
    }

    @Test func v3AuthenticatesWithAToken() throws {
        let etcd = try EtcdTestServer()
        try etcd.v3Put("/skydns/local/a", "a")
        for (path, body): (String, JSONValue) in [
            ("/v3/auth/role/add", ["name": "root"]),
            ("/v3/auth/user/add", ["name": "root", "password": "secret"]),
            ("/v3/auth/user/grant", ["user": "root", "role": "root"]),
            ("/v3/auth/enable", [:]),
        ] {
            let response = try etcd.request("POST", path, json: body)
            try #require(response.status == 200, "\(path): \(String(decoding: response.body, as: UTF8.self))")
        }
        let anonymous = try etcd.request("POST", "/v3/kv/range", json: ["key": "AA==", "range_end": "AA=="])
        #expect(anonymous.status != 200, "auth should be enabled")

        let recorder = EventRecorder()
        let watcher = recorder.makeWatcher(
            EtcdClientConfig(endpoints: [etcd.endpoint], api: .v3, username: "root", password: "secret"))
        watcher.start()
        defer { watcher.stop() }
        eventually("the full read") { recorder.current == ["/skydns/local/a": "a"] }
    }

    @Test func idleWatchesAreReissuedWithoutLosingChanges() throws {
        let etcd = try EtcdTestServer()
        try etcd.v3Put("/skydns/local/a", "a")
        try etcd.v2Set("/skydns/local/a", "a")
        let v3 = EventRecorder()
        let v2 = EventRecorder()
        let v3Watcher = v3.makeWatcher(EtcdClientConfig(endpoints: [etcd.endpoint], api: .v3, watchIdleTimeout: .seconds(1)))
        let v2Watcher = v2.makeWatcher(EtcdClientConfig(endpoints: [etcd.endpoint], api: .v2, watchIdleTimeout: .seconds(1)))
        v3Watcher.start()
        v2Watcher.start()
        defer {
            v3Watcher.stop()
            v2Watcher.stop()
        }
        eventually("the full reads") { v3.fullReads.count == 1 && v2.fullReads.count == 1 }

        // Outlive a few idle timeouts, then change something.
        Thread.sleep(forTimeInterval: 2.5)
        try etcd.v3Put("/skydns/local/b", "b")
        try etcd.v2Set("/skydns/local/b", "b")
        eventually("the changes") { v3.current.count == 2 && v2.current.count == 2 }
        #expect(v3.fullReads.count == 1)
        #expect(v2.fullReads.count == 1)
        #expect(!v3.allStates.contains { if case .disconnected = $0 { true } else { false } })
        #expect(!v2.allStates.contains { if case .disconnected = $0 { true } else { false } })
    }
}
