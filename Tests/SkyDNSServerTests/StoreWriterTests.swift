import Logging
@testable import SkyDNSServer
import SkyDNSStore
import Testing

/// Publication batching: watch events may wait a moment to share one snapshot, but every change
/// is published soon after, and reads and fetched keys are published at once.
@Suite struct StoreWriterTests {
    private func makeWriter(clock: ManualClock = ManualClock()) throws -> (StoreWriter, RecordStore) {
        let store = RecordStore(zone: try Zone(domain: "domeos.sohu."), pathPrefix: "skydns")
        return (StoreWriter(store: store, logger: Logger(label: "test"), clock: clock, onConfig: { _ in }), store)
    }

    private func put(_ name: String, _ host: String) -> StoreChange {
        .put(KeyValue(key: "/skydns/sohu/domeos/\(name)/x", value: Array(#"{"host":"\#(host)"}"#.utf8)))
    }

    private func host(_ store: RecordStore, _ name: String) -> String? {
        store.publisher.current.root.node(at: ["sohu", "domeos", name, "x"])?.record?.host
    }

    @Test func burstOfWatchEventsIsPublishedSoonAfter() throws {
        let clock = ManualClock()
        let (writer, store) = try makeWriter(clock: clock)
        writer.apply([.firstReadPage([], first: true, complete: true)], coalesce: true)
        for index in 1...200 {
            writer.apply([put("pod-\(index)", "10.0.\(index / 250).\(index % 250 + 1)")], coalesce: true)
        }
        writer.apply([put("pod-1", "10.9.9.9")], coalesce: true)
        // Within the window: held back, with one publication scheduled for its end.
        #expect(host(store, "pod-1") == nil)
        #expect(clock.pendingCount == 1)
        // The last events wait for the window to close, not for more events.
        clock.advance(by: StoreWriter.coalescingWindow - .nanoseconds(1))
        #expect(host(store, "pod-1") == nil)
        clock.advance(by: .nanoseconds(1))
        #expect(clock.pendingCount == 0)
        #expect(host(store, "pod-1") == "10.9.9.9")
        #expect(host(store, "pod-200") == "10.0.0.201")
        #expect(store.publisher.current.recordCount == 200)
    }

    /// Each publication of watched changes records how long the oldest of them waited; reads,
    /// which take as long as they take, do not.
    @Test func publicationsRecordHowLongWatchedChangesWaited() throws {
        let store = RecordStore(zone: try Zone(domain: "domeos.sohu."), pathPrefix: "skydns")
        let metrics = ServerMetrics()
        let clock = ManualClock()
        let writer = StoreWriter(store: store, logger: Logger(label: "test"), metrics: metrics, clock: clock, onConfig: { _ in })
        writer.apply([.firstReadPage([], first: true, complete: true)], coalesce: true)
        #expect(samples(metrics)["skydns_store_publish_delay_seconds_count"] == 0)
        // 10 events 100 µs apart, all inside the window the read opened: one publication at its
        // end, 2 ms after the read, for which the first event (at 100 µs) waited 1.9 ms.
        for index in 1...10 {
            clock.advance(by: .microseconds(100))
            writer.apply([put("pod-\(index)", "10.0.0.\(index)")], coalesce: true)
        }
        clock.advance(by: .microseconds(999))
        #expect(host(store, "pod-10") == nil)
        clock.advance(by: .microseconds(1))
        #expect(host(store, "pod-10") == "10.0.0.10")
        let s = samples(metrics)
        #expect(s["skydns_store_publish_delay_seconds_count"] == 1)
        #expect(s["skydns_store_publish_delay_seconds_sum"] == 0.0019)
        #expect(s[#"skydns_store_publish_delay_seconds_bucket{le="0.001"}"#] == 0)
        #expect(s[#"skydns_store_publish_delay_seconds_bucket{le="0.002"}"#] == 1)
    }

    @Test func readsAndFetchedKeysArePublishedAtOnce() throws {
        let (writer, store) = try makeWriter()  // its clock never moves: nothing waits for it
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
