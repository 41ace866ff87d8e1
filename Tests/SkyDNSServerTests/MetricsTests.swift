import DNSWire
import EtcdClient
import Foundation
import Logging
@testable import SkyDNSServer
import Synchronization
import Testing

// The operator's side (issue 7): per-worker counting blocks, their aggregation into the
// Prometheus text at scrape time, the readiness reasons, and the JSON log lines.

private func query(_ name: String, _ type: RecordType, id: UInt16 = 7) throws -> [UInt8] {
    Message(header: Header(id: id, questionCount: 1), questions: [Question(name: try DomainName(name), type: type)]).encode()
}

/// A reply: the query's bytes with QR set, the given rcode and TC bit, padded to `size`.
private func reply(to query: [UInt8], rcode: UInt8, truncated: Bool = false, size: Int? = nil) -> [UInt8] {
    var bytes = query
    bytes[2] |= 0x80 | (truncated ? 0x02 : 0)
    bytes[3] = (bytes[3] & 0xF0) | rcode
    if let size, size > bytes.count { bytes += [UInt8](repeating: 0, count: size - bytes.count) }
    return bytes
}

private func answered(_ block: MetricsBlock, _ query: [UInt8], _ reply: [UInt8]) {
    query.withUnsafeBytes { q in reply.withUnsafeBytes { block.answered(query: q, reply: $0) } }
}

/// Sample lines of an exposition: "name{labels}" → value.
func samples(_ metrics: ServerMetrics) -> [String: Double] {
    let text = String(decoding: metrics.exposition(), as: UTF8.self)
    var result: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        result[String(line[..<space])] = value
    }
    return result
}

@Suite("Metrics: reading a query")
struct MetricsPacketTests {
    @Test("the question type is read from the packet", arguments: [
        (RecordType.a, "A"), (.aaaa, "AAAA"), (.srv, "SRV"), (.ptr, "PTR"), (.txt, "TXT"), (.mx, "MX"),
        (.cname, "CNAME"), (.ns, "NS"), (.soa, "SOA"), (RecordType(255), "ANY"), (RecordType(99), "other"),
    ])
    func type(type: RecordType, name: String) throws {
        let packet = try query("kafka-1-wkfa1.domeos.sohu", type)
        let index = packet.withUnsafeBytes { MetricsBlock.typeIndex($0) }
        #expect(MetricsBlock.typeNames[index] == name)
    }

    @Test("no readable question is `other`", arguments: [
        [UInt8](), [0x12, 0x34, 0x01], [UInt8](repeating: 0, count: 12),  // short; no question count
        [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x61],  // name runs off the end
        [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],  // root name, type cut short
    ])
    func unreadable(packet: [UInt8]) {
        #expect(packet.withUnsafeBytes { MetricsBlock.typeIndex($0) } == 10)
    }

    @Test("size buckets are inclusive upper bounds, as Prometheus's le")
    func buckets() {
        #expect([1, 32, 33, 64, 65, 1024, 1025, 4096].map(MetricsBlock.requestSizeBucket) == [0, 0, 1, 1, 2, 5, 6, 6])
        #expect([64, 65, 512, 513, 1232, 1233, 16384, 16385, 65535].map(MetricsBlock.responseSizeBucket)
            == [0, 1, 3, 4, 5, 6, 8, 9, 9])
        #expect([0, 10_000, 10_001, 1_000_000, 5_000_000_000, 5_000_000_001].map(MetricsBlock.durationBucket)
            == [0, 0, 1, 6, 17, 18])
    }
}

@Suite("Metrics: counting and scraping")
struct MetricsScrapeTests {
    @Test("a known mix gives exact counts by transport, type and rcode")
    func mix() throws {
        let metrics = ServerMetrics()
        let worker = metrics.makeWorkerBlock()
        let a = try query("a.domeos.sohu", .a), aaaa = try query("a.domeos.sohu", .aaaa)
        for _ in 0..<5 { answered(worker, a, reply(to: a, rcode: 0)) }
        for _ in 0..<3 { answered(worker, a, reply(to: a, rcode: 3)) }
        for _ in 0..<2 { answered(worker, aaaa, reply(to: aaaa, rcode: 0)) }
        answered(metrics.makeWorkerBlock(transport: .tcp), a, reply(to: a, rcode: 0))
        answered(metrics.udpShared, a, reply(to: a, rcode: 2, truncated: true))
        worker.add(MetricsBlock.Slot.dropped)
        let s = samples(metrics)
        #expect(s[#"skydns_queries_total{transport="udp",type="A",rcode="NOERROR"}"#] == 5)
        #expect(s[#"skydns_queries_total{transport="udp",type="A",rcode="NXDOMAIN"}"#] == 3)
        #expect(s[#"skydns_queries_total{transport="udp",type="AAAA",rcode="NOERROR"}"#] == 2)
        #expect(s[#"skydns_queries_total{transport="udp",type="A",rcode="SERVFAIL"}"#] == 1)
        #expect(s[#"skydns_queries_total{transport="tcp",type="A",rcode="NOERROR"}"#] == 1)
        #expect(s[#"skydns_queries_total{transport="tcp",type="A",rcode="NXDOMAIN"}"#] == nil)
        #expect(s[#"skydns_queries_dropped_total{transport="udp"}"#] == 1)
        #expect(s[#"skydns_queries_dropped_total{transport="tcp"}"#] == 0)
        #expect(s[#"skydns_responses_truncated_total{transport="udp"}"#] == 1)
        #expect(s[#"skydns_request_size_bytes_count{transport="udp"}"#] == 11)
        #expect(s[#"skydns_request_size_bytes_sum{transport="udp"}"#] == Double(8 * a.count + 2 * aaaa.count + a.count))
        #expect(s[#"skydns_response_size_bytes_count{transport="tcp"}"#] == 1)
        // A second scrape hands nothing on twice.
        let again = samples(metrics)
        #expect(again[#"skydns_queries_total{transport="udp",type="A",rcode="NOERROR"}"#] == 5)
        #expect(again[#"skydns_request_size_bytes_count{transport="udp"}"#] == 11)
        // And more counting after a scrape adds to it.
        answered(worker, a, reply(to: a, rcode: 0))
        #expect(samples(metrics)[#"skydns_queries_total{transport="udp",type="A",rcode="NOERROR"}"#] == 6)
    }

    @Test("histograms come out exact: every bucket, the count and the sum")
    func histogramExact() throws {
        let metrics = ServerMetrics()
        let worker = metrics.makeWorkerBlock()
        var generator = SystemRandomNumberGenerator()
        var expected = [Int](repeating: 0, count: MetricsBlock.responseSizeBounds.count + 1)
        var sum = 0
        let packet = try query("x.domeos.sohu", .a)
        for round in 0..<3 {
            for _ in 0..<500 {
                let size = Int.random(in: packet.count...20_000, using: &generator)
                answered(worker, packet, reply(to: packet, rcode: 0, size: size))
                expected[MetricsBlock.responseSizeBucket(size)] += 1
                sum += size
            }
            // Durations too: weighted batches.
            worker.answerDuration(nanoseconds: Int64(round * 1_000 + 12_345), count: 32)
            let s = samples(metrics)
            var cumulative = 0
            for (index, bound) in MetricsBlock.responseSizeBounds.enumerated() {
                cumulative += expected[index]
                #expect(s["skydns_response_size_bytes_bucket{transport=\"udp\",le=\"\(bound)\"}"] == Double(cumulative),
                        "bucket le=\(bound) after round \(round)")
            }
            #expect(s[#"skydns_response_size_bytes_count{transport="udp"}"#] == Double(500 * (round + 1)))
            #expect(s[#"skydns_response_size_bytes_sum{transport="udp"}"#] == Double(sum))
            #expect(s[#"skydns_answer_duration_seconds_count{transport="udp"}"#] == Double(32 * (round + 1)))
        }
        let s = samples(metrics)
        let durationSum = Double((12_345 + 13_345 + 14_345) * 32) / 1e9
        #expect(abs(s[#"skydns_answer_duration_seconds_sum{transport="udp"}"#]! - durationSum) < 1e-12)
        #expect(s[#"skydns_answer_duration_seconds_bucket{transport="udp",le="1e-05"}"#] == 0)
        #expect(s[#"skydns_answer_duration_seconds_bucket{transport="udp",le="2.5e-05"}"#] == 96)
    }

    @Test("every family has HELP and TYPE before its samples, and numbers in Prometheus's form")
    func exposition() throws {
        let metrics = ServerMetrics()
        let a = try query("a.b", .a)
        answered(metrics.makeWorkerBlock(), a, reply(to: a, rcode: 0))
        metrics.changesPublished(after: 1_500_000)
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        var described = Set<String>(), typed = Set<String>()
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            if line.hasPrefix("# HELP ") { described.insert(String(words[2])); continue }
            if line.hasPrefix("# TYPE ") { typed.insert(String(words[2])); continue }
            let name = String(words[0].prefix { $0 != "{" })
            let family = ["_bucket", "_sum", "_count"].reduce(name) { $0.hasSuffix($1) && !typed.contains($0) ? String($0.dropLast($1.count)) : $0 }
            #expect(described.contains(family) && typed.contains(family), "\(name) has no HELP/TYPE before it")
        }
        for family in ["skydns_build_info", "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                       "process_max_fds", "process_start_time_seconds"] {
            #expect(typed.contains(family), "\(family) missing")
        }
        let s = samples(metrics)
        #expect(s[#"skydns_build_info{version="\#(skydnsVersion)"}"#] == 1)
        #expect(s[#"skydns_store_publish_delay_seconds_bucket{le="0.001"}"#] == 0)
        #expect(s[#"skydns_store_publish_delay_seconds_bucket{le="0.002"}"#] == 1)
        #expect(s["skydns_store_publish_delay_seconds_sum"] == 0.0015)
        #expect(try #require(s["process_open_fds"]) >= 3)
        #expect(try #require(s["process_resident_memory_bytes"]) > 1_000_000)
        #expect(abs(try #require(s["process_start_time_seconds"]) - Date().timeIntervalSince1970) < 24 * 3600)
        #expect(text.contains(#"skydns_request_size_bytes_bucket{transport="udp",le="32"} 1"#))
        #expect(text.contains(#"skydns_answer_duration_seconds_bucket{transport="udp",le="1e-05"} 0"#))
        #expect([1024, 0.0025, 1e-05, 1.5, 1_796_036_695.7].map(Exposition.format) == ["1024", "0.0025", "1e-05", "1.5", "1796036695.7"])
    }

    @Test("label values and help text are escaped")
    func escaping() {
        var out = Exposition(prefix: "p_")
        out.family("x", .gauge, "a \\ b\nc")
        out.sample(["to": "a\"b\\c\nd"], UInt64(1))
        #expect(String(decoding: out.bytes, as: UTF8.self) == "# HELP p_x a \\\\ b\\nc\n# TYPE p_x gauge\np_x{to=\"a\\\"b\\\\c\\nd\"} 1\n")
    }

    @Test("a scrape after a million queries writes as many lines as an idle one")
    func scrapeCost() throws {
        let metrics = ServerMetrics()
        let worker = metrics.makeWorkerBlock()
        let a = try query("a.b", .a)
        answered(worker, a, reply(to: a, rcode: 0))
        let before = metrics.exposition().count
        for _ in 0..<1_000_000 { worker.add(MetricsBlock.Slot.queries) }
        let after = metrics.exposition()
        #expect(after.count <= before + 8)  // only the digits grow
        #expect(samples(metrics)[#"skydns_queries_total{transport="udp",type="A",rcode="NOERROR"}"#] == 1_000_001)
    }

    @Test("a shared block counts every add from many threads; owned blocks of one transport add up")
    func sharedBlock() async {
        let metrics = ServerMetrics()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask { for _ in 0..<10_000 { metrics.udpShared.add(MetricsBlock.Slot.dropped) } }
                group.addTask {
                    let loop = metrics.makeWorkerBlock(transport: .tcp)
                    for _ in 0..<10_000 { loop.add(MetricsBlock.Slot.dropped) }
                }
            }
        }
        #expect(samples(metrics)[#"skydns_queries_dropped_total{transport="udp"}"#] == 40_000)
        #expect(samples(metrics)[#"skydns_queries_dropped_total{transport="tcp"}"#] == 40_000)
    }

    @Test("forwarding: per upstream (`to`), queries, latency and failures by kind; queue full from any worker")
    func forwarding() {
        let metrics = ServerMetrics()
        let upstream = metrics.upstream("127.0.0.1:53")
        upstream.countExchange(.success(Message()), nanoseconds: 3_000_000)
        upstream.countExchange(.failure(.timeout), nanoseconds: 2_000_000_000)
        metrics.upstream("[::1]:53").countExchange(.failure(.network(111)), nanoseconds: 1)
        metrics.upstream("[::1]:53").countExchange(.failure(.loop), nanoseconds: 1)
        metrics.forwarding.add(MetricsBlock.Slot.forwardServFail)
        metrics.makeWorkerBlock().add(MetricsBlock.Slot.queueFull)
        metrics.makeWorkerBlock().add(MetricsBlock.Slot.queueFull)
        let s = samples(metrics)
        #expect(s[#"skydns_forwarded_queries_total{to="127.0.0.1:53"}"#] == 2)
        #expect(s[#"skydns_forwarded_queries_total{to="[::1]:53"}"#] == 2)
        #expect(s[#"skydns_upstream_failures_total{to="127.0.0.1:53",reason="timeout"}"#] == 1)
        #expect(s[#"skydns_upstream_failures_total{to="127.0.0.1:53",reason="malformed"}"#] == 0)
        #expect(s[#"skydns_upstream_failures_total{to="[::1]:53",reason="network"}"#] == 1)
        #expect(s[#"skydns_upstream_failures_total{to="[::1]:53",reason="loop"}"#] == 1)
        #expect(s[#"skydns_upstream_duration_seconds_count{to="127.0.0.1:53"}"#] == 1)
        #expect(s[#"skydns_upstream_duration_seconds_bucket{to="127.0.0.1:53",le="0.0025"}"#] == 0)
        #expect(s[#"skydns_upstream_duration_seconds_bucket{to="127.0.0.1:53",le="0.005"}"#] == 1)
        #expect(s["skydns_forward_servfail_total"] == 1)
        #expect(s["skydns_forward_queue_full_total"] == 2)
    }

    @Test("upstream labels are bounded: past the limit, addresses share `other`")
    func upstreamLabelsBounded() {
        let metrics = ServerMetrics()
        for index in 0..<(ServerMetrics.maxUpstreamLabels + 10) {
            metrics.upstream("10.0.0.\(index):53").countExchange(.failure(.timeout), nanoseconds: 1)
        }
        let s = samples(metrics)
        #expect(s[#"skydns_forwarded_queries_total{to="other"}"#] == 10)
        #expect(s.keys.filter { $0.hasPrefix("skydns_forwarded_queries_total{") }.count == ServerMetrics.maxUpstreamLabels + 1)
    }

    @Test("etcd state: one gauge per state, 1 for the current one; store counters")
    func etcdAndStore() {
        let metrics = ServerMetrics()
        let etcd = EtcdStatusTracker()
        metrics.watchEtcdState(etcd)
        etcd.changed(to: .connected(.v3))
        metrics.storeApplied(rejected: 2)
        metrics.storeApplied(rejected: 0)
        var s = samples(metrics)
        #expect(s[#"skydns_etcd_state{state="connected"}"#] == 1)
        #expect(s[#"skydns_etcd_state{state="connecting"}"#] == 0)
        #expect(s[#"skydns_etcd_state{state="disconnected"}"#] == 0)
        #expect(s["skydns_snapshot_publications_total"] == 2)
        #expect(s["skydns_store_rejected_records_total"] == 2)
        #expect(abs(s["skydns_store_last_sync_timestamp_seconds"]! - Date().timeIntervalSince1970) < 60)
        etcd.changed(to: .disconnected(reason: "gone"))
        s = samples(metrics)
        #expect(s[#"skydns_etcd_state{state="connected"}"#] == 0)
        #expect(s[#"skydns_etcd_state{state="disconnected"}"#] == 1)
        #expect(s["skydns_etcd_state_changes_total"] == 2)
    }

    @Test("PROMETHEUS_NAMESPACE and PROMETHEUS_SUBSYSTEM prefix every name")
    func prefix() throws {
        let metrics = ServerMetrics(namespace: "dns", subsystem: "sky")
        let a = try query("a.b", .a)
        answered(metrics.makeWorkerBlock(), a, reply(to: a, rcode: 5))
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains(#"dns_sky_queries_total{transport="udp",type="A",rcode="REFUSED"} 1"#))
        #expect(!text.contains("skydns_"))
        let bare = ServerMetrics(namespace: "", subsystem: "")
        #expect(String(decoding: bare.exposition(), as: UTF8.self).contains("\nforward_servfail_total 0")
            || String(decoding: bare.exposition(), as: UTF8.self).hasPrefix("forward_servfail_total 0"))
    }
}

@Suite("Metrics: readiness reasons")
struct MetricsReadinessTests {
    private func etcd(_ state: EtcdConnectionState) -> EtcdStatus {
        EtcdStatus(state: state, since: 1_700_000_000)
    }

    @Test("not ready until the first read of etcd")
    func waiting() {
        let report = HealthReport.readiness(synced: false, records: 0, etcd: etcd(.connecting), stopping: false)
        #expect(!report.ready)
        #expect(report.reason == "not ready: waiting for the first read of etcd (connecting)")
        let down = HealthReport.readiness(synced: false, records: 0, etcd: etcd(.disconnected(reason: "refused")), stopping: false)
        #expect(down.reason == "not ready: waiting for the first read of etcd (etcd unreachable since 2023-11-14T22:13:20Z: refused)")
    }

    @Test("ready with etcd connected, or serving the last good data without it")
    func ready() {
        let up = HealthReport.readiness(synced: true, records: 42, etcd: etcd(.connected(.v2)), stopping: false)
        #expect(up == HealthReport(ready: true, reason: "ready: serving 42 records, etcd connected (v2 API)"))
        let down = HealthReport.readiness(synced: true, records: 42, etcd: etcd(.disconnected(reason: "timeout")), stopping: false)
        #expect(down == HealthReport(ready: true, reason:
            "ready: serving last good data (42 records), etcd unreachable since 2023-11-14T22:13:20Z: timeout"))
        let stopping = HealthReport.readiness(synced: true, records: 42, etcd: etcd(.connected(.v3)), stopping: true)
        #expect(stopping == HealthReport(ready: false, reason: "not ready: shutting down"))
    }

    @Test("notes from the etcd client follow the state; not while shutting down")
    func notes() {
        let notes = ["etcd endpoint http://a:2379 unresponsive since 1700000000 (Unix time): no answer", "warning: x"]
        let up = HealthReport.readiness(synced: true, records: 1, etcd: etcd(.connected(.v2)), stopping: false, notes: notes)
        #expect(up.ready)
        #expect(up.reason == "ready: serving 1 records, etcd connected (v2 API); " + notes.joined(separator: "; "))
        let reading = HealthReport.readiness(synced: false, records: 0, etcd: etcd(.connecting), stopping: false,
                                             notes: ["first read of /skydns (v3): 10000 of 30000 keys, 5000 keys/s"])
        #expect(reading.reason == "not ready: waiting for the first read of etcd (connecting); first read of /skydns (v3): 10000 of 30000 keys, 5000 keys/s")
        let stopping = HealthReport.readiness(synced: true, records: 1, etcd: etcd(.connected(.v2)), stopping: true, notes: notes)
        #expect(stopping.reason == "not ready: shutting down")
    }
}

@Suite("Metrics: JSON log lines")
struct MetricsJSONLogTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
    }

    @Test("one JSON object per line with timestamp, level, label, message and metadata")
    func line() throws {
        let lines = Lines()
        var handler = JSONLogHandler(label: "skydns") { bytes in lines.lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } }
        handler.metadata = ["worker": "3"]
        let logger = Logger(label: "skydns") { _ in handler }
        logger.warning("skipping etcd key /skydns/x: \"bad\"\n\ttab \u{1}", metadata: [
            "key": "/skydns/x", "list": ["a", "b"], "nested": ["n": .stringConvertible(42)],
        ])
        let all = lines.lines.withLock { $0 }
        try #require(all.count == 1)
        #expect(all[0].hasSuffix("}\n"))
        #expect(all[0].filter { $0 == "\n" }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(all[0].utf8)) as? [String: Any])
        #expect(object["level"] as? String == "warning")
        #expect(object["label"] as? String == "skydns")
        #expect(object["message"] as? String == "skipping etcd key /skydns/x: \"bad\"\n\ttab \u{1}")
        let timestamp = try #require(object["timestamp"] as? String)
        #expect(timestamp.count == 24 && timestamp.hasSuffix("Z") && timestamp.contains("T"))
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["worker"] as? String == "3")
        #expect(metadata["key"] as? String == "/skydns/x")
        #expect(metadata["list"] as? [String] == ["a", "b"])
        #expect((metadata["nested"] as? [String: Any])?["n"] as? String == "42")
    }

    @Test("the level threshold is the handler's")
    func level() {
        let lines = Lines()
        let handler = JSONLogHandler(label: "x") { bytes in lines.lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } }
        let logger = Logger(label: "x") { _ in handler }
        logger.debug("hidden")
        logger.info("shown")
        #expect(lines.lines.withLock { $0.count } == 1)
    }
}
