#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// This build's version: `skydns -version` and the `build_info` gauge.
public let skydnsVersion = "0.1.0"

extension ServerMetrics {
    /// The Prometheus text exposition (format 0.0.4) of everything, current as of this call:
    /// a `# HELP` and `# TYPE` line for every family, counters and histograms as the totals of
    /// every counting block, gauges read now, then `build_info` and the standard `process_*`
    /// metrics. Its cost depends on the number of series only.
    public func exposition() -> [UInt8] {
        typealias Slot = MetricsBlock.Slot
        let all = blocks.withLock { $0 }
        var udp = [UInt64](repeating: 0, count: MetricsBlock.capacity)
        var tcp = udp
        for entry in all {
            for slot in Slot.queries..<Slot.end {
                let value = entry.block.read(slot)
                if entry.transport == .udp { udp[slot] &+= value } else { tcp[slot] &+= value }
            }
        }
        let byTransport: [(name: String, totals: [UInt64])] = [("udp", udp), ("tcp", tcp)]
        var out = Exposition(prefix: prefix)

        out.family("queries_total", .counter, "DNS answers sent, by transport, question type and response code.")
        for (transport, totals) in byTransport {
            for type in 0..<11 {
                for rcode in 0..<7 {
                    let value = totals[Slot.queries + type * 7 + rcode]
                    guard value > 0 else { continue }  // 154 series, mostly never seen
                    out.sample(["transport": transport, "type": MetricsBlock.typeNames[type],
                                "rcode": MetricsBlock.rcodeNames[rcode]], value)
                }
            }
        }
        out.family("queries_dropped_total", .counter, "Packets that got no answer: not a query, shorter than a header, or a UDP query that waited over 5 s to be forwarded.")
        for (transport, totals) in byTransport { out.sample(["transport": transport], totals[Slot.dropped]) }
        out.family("responses_truncated_total", .counter, "Answers sent with the TC bit set.")
        for (transport, totals) in byTransport { out.sample(["transport": transport], totals[Slot.truncated]) }
        out.family("request_size_bytes", .histogram, "Size of the answered queries, in bytes.")
        for (transport, totals) in byTransport {
            out.histogram(["transport": transport], totals, base: Slot.requestSize, bounds: MetricsBlock.requestSizeBounds)
        }
        out.family("response_size_bytes", .histogram, "Size of the answers sent, in bytes.")
        for (transport, totals) in byTransport {
            out.histogram(["transport": transport], totals, base: Slot.responseSize, bounds: MetricsBlock.responseSizeBounds)
        }
        out.family("answer_duration_seconds", .histogram,
                   "Time from receiving a query to sending its answer; a UDP answer counts its whole recvmmsg batch's time.")
        for (transport, totals) in byTransport {
            out.histogram(["transport": transport], totals, base: Slot.answerDuration, bounds: MetricsBlock.durationBounds,
                          divisor: 1e9)
        }

        // The forwarder's counts are transport-less; its block is filed under tcp.
        // Per upstream, labelled with its address as CoreDNS's `to`.
        let upstreams = self.upstreams.withLock { $0 }.map { entry in
            (to: entry.to, totals: (0..<MetricsBlock.capacity).map { $0 < Slot.end ? entry.block.read($0) : 0 })
        }
        out.family("forwarded_queries_total", .counter,
                   "Queries sent to each upstream or stub server (response cache misses; a retry on the next upstream counts there).")
        for upstream in upstreams { out.sample(["to": upstream.to], upstream.totals[Slot.forwarded]) }
        out.family("upstream_duration_seconds", .histogram, "Time of one exchange with one upstream that answered.")
        for upstream in upstreams {
            out.histogram(["to": upstream.to], upstream.totals, base: Slot.upstreamDuration, bounds: MetricsBlock.durationBounds,
                          divisor: 1e9)
        }
        out.family("upstream_failures_total", .counter,
                   "Exchanges with an upstream that failed, by kind (a loop: the query came back to this server); the next upstream is tried.")
        for upstream in upstreams {
            for (index, reason) in MetricsBlock.upstreamFailureNames.enumerated() {
                out.sample(["to": upstream.to, "reason": reason], upstream.totals[Slot.upstreamFailures + index])
            }
        }
        out.family("forward_servfail_total", .counter, "Forwarded queries that no upstream answered (answered SERVFAIL).")
        out.sample([:], tcp[Slot.forwardServFail])
        out.family("forward_queue_full_total", .counter, "UDP queries refused at once because the forwarding queue was full.")
        out.sample([:], udp[Slot.queueFull] &+ tcp[Slot.queueFull])  // counted by the UDP workers
        if let cache = cacheSource.withLock({ $0 }) {
            out.family("cache_hits_total", .counter, "Forwarded questions answered from the response cache.")
            out.sample([:], UInt64(clamping: cache.hits.load(ordering: .relaxed)))
            out.family("cache_misses_total", .counter, "Forwarded questions not found in the response cache.")
            out.sample([:], UInt64(clamping: cache.misses.load(ordering: .relaxed)))
            out.family("cache_entries", .gauge, "Answers held in the response cache.")
            out.sample([:], UInt64(clamping: cache.count))
        }

        if let status = etcdSource.withLock({ $0 })?.current {
            out.family("etcd_state", .gauge, "1 for the current state of the connection to etcd, 0 for the others.")
            for state in ["connecting", "connected", "disconnected"] {
                out.sample(["state": state], status.state.metricName == state ? UInt64(1) : 0)
            }
            out.family("etcd_state_changes_total", .counter, "Changes of the connection state to etcd.")
            out.sample([:], status.changes)
        }
        if let lag = watchLagSource.withLock({ $0 }) {
            out.family("etcd_watch_lag_revisions", .gauge,
                       "Revisions (v3) or indexes (v2) the applied changes trail the newest etcd reported; 0 when caught up.")
            out.sample([:], Double(lag()))
        }
        if let endpoints = endpointHealthSource.withLock({ $0 })?(), !endpoints.isEmpty {
            out.family("etcd_endpoint_up", .gauge,
                       "1 while the etcd endpoint answers its health probe (GET /health within 2 s), 0 when it does not.")
            for endpoint in endpoints { out.sample(["endpoint": endpoint.endpoint], endpoint.responsive ? UInt64(1) : 0) }
        }
        if let publisher = publisherSource.withLock({ $0 }) {
            let snapshot = publisher.current
            out.family("store_records", .gauge, "Records served.")
            out.sample([:], UInt64(clamping: snapshot.recordCount))
            out.family("store_synced", .gauge, "1 once the first complete read of etcd is done.")
            out.sample([:], snapshot.isSynced ? UInt64(1) : 0)
        }
        out.family("store_last_sync_timestamp_seconds", .gauge, "Unix time of the last change from etcd applied to the store; 0 before any.")
        out.sample([:], lastSync ?? 0)
        out.family("snapshot_publications_total", .counter, "Snapshots published to the workers, one per applied batch.")
        out.sample([:], publications.load(ordering: .relaxed))
        out.family("store_publish_delay_seconds", .histogram,
                   "For each snapshot with watched changes, how long the oldest of them waited between reaching the store and being served.")
        var delays = [UInt64](repeating: 0, count: MetricsBlock.capacity)
        for slot in Slot.padding..<(Slot.padding + 2 * (Self.publishDelayBounds.count + 1)) { delays[slot] = storeDelays.read(slot) }
        out.histogram([:], delays, base: Slot.padding, bounds: Self.publishDelayBounds, divisor: 1e9)
        out.family("store_rejected_records_total", .counter, "etcd values skipped as invalid (each is also logged).")
        out.sample([:], rejectedRecords.load(ordering: .relaxed))
        if let hidden = hiddenKeySource.withLock({ $0 })?() {
            out.family("hidden_key_watches", .gauge, "etcd v2 hidden `_` paths holding records that are watched.")
            out.sample([:], UInt64(clamping: hidden.watched))
            out.family("hidden_key_paths", .gauge, "etcd v2 hidden `_` paths remembered: fetched, absent or unreachable lately.")
            out.sample([:], UInt64(clamping: hidden.remembered))
            out.family("hidden_key_queue_full_total", .counter,
                       "Queries for hidden `_` names answered SERVFAIL at once because too many already waited for etcd.")
            out.sample([:], hidden.refused)
        }

        out.family("build_info", .gauge, "Always 1; the version of this build as a label.")
        out.sample(["version": version], UInt64(1))
        ProcessMetrics.current().write(to: &out)
        return out.bytes
    }
}

/// A writer of the Prometheus text format, version 0.0.4: each family's `# HELP` and `# TYPE`
/// lines, then its samples, label values and help text escaped as the format asks.
struct Exposition {
    enum Kind: String { case counter, gauge, histogram }

    private(set) var bytes: [UInt8] = []
    let prefix: String
    /// The full name of the family being written.
    private var name = ""

    init(prefix: String) {
        self.prefix = prefix
        bytes.reserveCapacity(16_384)
    }

    /// Starts a family: `name` gets the namespace and subsystem prefix unless `prefixed` is false.
    mutating func family(_ name: String, _ kind: Kind, _ help: String, prefixed: Bool = true) {
        self.name = prefixed ? prefix + name : name
        append("# HELP \(self.name) ")
        for byte in help.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): append("\\\\")
            case UInt8(ascii: "\n"): append("\\n")
            default: bytes.append(byte)
            }
        }
        append("\n# TYPE \(self.name) \(kind.rawValue)\n")
    }

    mutating func sample(suffix: String = "", _ labels: KeyValuePairs<String, String>, _ value: UInt64) {
        line(suffix, labels, extra: nil, String(value))
    }

    mutating func sample(suffix: String = "", _ labels: KeyValuePairs<String, String>, _ value: Double) {
        line(suffix, labels, extra: nil, Self.format(value))
    }

    /// A histogram's series from per-bucket (non-cumulative) counts at `totals[base...]` and
    /// per-bucket sums after them, as `MetricsBlock` keeps them; bounds and sums are divided by
    /// `divisor` (1e9: nanoseconds to seconds).
    mutating func histogram(_ labels: KeyValuePairs<String, String>, _ totals: [UInt64], base: Int, bounds: [Int64],
                            divisor: Double = 1) {
        let buckets = bounds.count + 1
        var cumulative: UInt64 = 0
        var sum: UInt64 = 0
        for bucket in 0..<buckets {
            cumulative &+= totals[base + bucket]
            sum &+= totals[base + buckets + bucket]
            let le = bucket < bounds.count ? Self.format(Double(bounds[bucket]) / divisor) : "+Inf"
            line("_bucket", labels, extra: ("le", le), String(cumulative))
        }
        line("_sum", labels, extra: nil, Self.format(Double(sum) / divisor))
        line("_count", labels, extra: nil, String(cumulative))
    }

    private mutating func line(_ suffix: String, _ labels: KeyValuePairs<String, String>, extra: (String, String)?,
                               _ value: String) {
        append(name)
        append(suffix)
        if !labels.isEmpty || extra != nil {
            bytes.append(UInt8(ascii: "{"))
            var first = true
            func label(_ key: String, _ value: String) {
                if !first { bytes.append(UInt8(ascii: ",")) }
                first = false
                append(key)
                append("=\"")
                for byte in value.utf8 {
                    switch byte {
                    case UInt8(ascii: "\\"): append("\\\\")
                    case UInt8(ascii: "\""): append("\\\"")
                    case UInt8(ascii: "\n"): append("\\n")
                    default: bytes.append(byte)
                    }
                }
                bytes.append(UInt8(ascii: "\""))
            }
            for (key, value) in labels { label(key, value) }
            if let extra { label(extra.0, extra.1) }
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: " "))
        append(value)
        bytes.append(UInt8(ascii: "\n"))
    }

    private mutating func append(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// Whole numbers without a fraction (`1024`, not `1024.0`); others as Swift prints them
    /// (shortest round trip, `1e-05`), which Prometheus's parser reads.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), let whole = Int64(exactly: value) { return String(whole) }
        return value.description
    }
}
