import Logging
@testable import SkyDNSServer
import SkyDNSStore
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Publication batching: watch events may wait a moment to share one snapshot, but every change
/// is published soon after, and reads and fetched keys are published at once.
@Suite struct StoreWriterTests {
    private func makeWriter() throws -> (StoreWriter, RecordStore) {
        let store = RecordStore(zone: try Zone(domain: "domeos.sohu."), pathPrefix: "skydns")
        return (StoreWriter(store: store, logger: Logger(label: "test"), onConfig: { _ in }), store)
    }

    private func put(_ name: String, _ host: String) -> StoreChange {
        .put(KeyValue(key: "/skydns/sohu/domeos/\(name)/x", value: Array(#"{"host":"\#(host)"}"#.utf8)))
    }

    private func host(_ store: RecordStore, _ name: String) -> String? {
        store.publisher.current.root.node(at: ["sohu", "domeos", name, "x"])?.record?.host
    }

    @Test func burstOfWatchEventsIsPublishedSoonAfter() throws {
        let (writer, store) = try makeWriter()
        writer.apply([.firstReadPage([], first: true, complete: true)], coalesce: true)
        for index in 1...200 {
            writer.apply([put("pod-\(index)", "10.0.\(index / 250).\(index % 250 + 1)")], coalesce: true)
        }
        writer.apply([put("pod-1", "10.9.9.9")], coalesce: true)
        // The last events may wait for the window to close; they must not wait for more events.
        var waited = 0
        while host(store, "pod-1") != "10.9.9.9" && waited < 2000 {
            usleep(1000)
            waited += 1
        }
        #expect(host(store, "pod-1") == "10.9.9.9")
        #expect(host(store, "pod-200") == "10.0.0.201")
        #expect(store.publisher.current.recordCount == 200)
    }

    /// Each publication of watched changes records how long the oldest of them waited; reads,
    /// which take as long as they take, do not.
    @Test func publicationsRecordHowLongWatchedChangesWaited() throws {
        let store = RecordStore(zone: try Zone(domain: "domeos.sohu."), pathPrefix: "skydns")
        let metrics = ServerMetrics()
        let writer = StoreWriter(store: store, logger: Logger(label: "test"), metrics: metrics, onConfig: { _ in })
        writer.apply([.firstReadPage([], first: true, complete: true)], coalesce: true)
        #expect(samples(metrics)["skydns_store_publish_delay_seconds_count"] == 0)
        for index in 1...20 {
            writer.apply([put("pod-\(index)", "10.0.0.\(index)")], coalesce: true)
        }
        var waited = 0
        while host(store, "pod-20") != "10.0.0.20" && waited < 2000 {
            usleep(1000)
            waited += 1
        }
        usleep(10_000)  // the deferred publication records after it publishes
        let s = samples(metrics)
        let publications = try #require(s["skydns_store_publish_delay_seconds_count"])
        #expect(publications >= 1 && publications <= 20)
        let total = try #require(s["skydns_store_publish_delay_seconds_sum"])
        #expect(total > 0 && total < publications * 1.0)
    }

    @Test func readsAndFetchedKeysArePublishedAtOnce() throws {
        let (writer, store) = try makeWriter()
        writer.apply([.firstReadPage([KeyValue(key: "/skydns/sohu/domeos/a/x", value: Array(#"{"host":"10.0.0.1"}"#.utf8))],
                                     first: true, complete: true)], coalesce: true)
        #expect(host(store, "a") == "10.0.0.1")
        writer.apply([put("b", "10.0.0.2")], coalesce: true)
        // Within the window of the last publication: a fetched key still shows immediately.
        writer.apply([put("c", "10.0.0.3")], coalesce: false)
        #expect(host(store, "c") == "10.0.0.3")
        #expect(host(store, "b") == "10.0.0.2")
    }
}
