#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CoreMetrics
import EtcdClient
import Prometheus
import SkyDNSStore
import Synchronization

/// The counters of one writer: a UDP worker owns one outright; the TCP connections, the forwarder
/// threads and the hidden-key fetcher share theirs. A fixed set of atomic slots, so counting a
/// query is a few relaxed loads and stores on memory no other thread writes (for an owned
/// block), with no lock, no allocation and no lookup by label. `ServerMetrics` sums every block
/// when Prometheus scrapes.
final class MetricsBlock: Sendable {
    enum Kind { case owned, shared }

    /// Question types counted by name; the rest are `other`.
    static let typeNames = ["A", "NS", "CNAME", "SOA", "PTR", "MX", "TXT", "AAAA", "SRV", "ANY", "other"]
    /// Response codes counted by name; the rest (extended ones) are `other`.
    static let rcodeNames = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other"]
    static let upstreamFailureNames = ["timeout", "network", "malformed"]

    /// Histogram bucket upper bounds (inclusive, as Prometheus's `le`); a last +Inf bucket follows.
    static let requestSizeBounds: [Int64] = [32, 64, 128, 256, 512, 1024]
    static let responseSizeBounds: [Int64] = [64, 128, 256, 512, 1024, 1232, 2048, 4096, 16384]
    static let durationBounds: [Int64] = [  // nanoseconds
        10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
        25_000_000, 50_000_000, 100_000_000, 250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000,
        5_000_000_000,
    ]

    /// Where each counter lives. A histogram takes `2 * buckets` slots: the count of
    /// observations in each (non-cumulative) bucket, then the sum of their values per bucket.
    enum Slot {
        static let padding = 8  // keeps the first slots off the cache line of the object header
        static let queries = padding  // [type][rcode]
        static let dropped = queries + 11 * 7
        static let truncated = dropped + 1
        static let queueFull = truncated + 1
        static let forwardedUpstream = queueFull + 1
        static let forwardedStub = forwardedUpstream + 1
        static let upstreamFailures = forwardedStub + 1  // [timeout, network, malformed]
        static let forwardServFail = upstreamFailures + 3
        static let requestSize = forwardServFail + 1
        static let responseSize = requestSize + 2 * 7
        static let answerDuration = responseSize + 2 * 10
        static let upstreamDuration = answerDuration + 2 * 19
        static let end = upstreamDuration + 2 * 19
    }
    static let capacity = 256

    let kind: Kind
    private let slots: InlineArray<256, Atomic<UInt64>>

    init(_ kind: Kind) {
        precondition(Slot.end + Slot.padding <= Self.capacity)
        self.kind = kind
        slots = InlineArray { _ in Atomic(0) }
    }

    @inline(__always)
    func add(_ slot: Int, _ amount: UInt64 = 1) {
        switch kind {
        case .owned:
            // Only the owning thread writes: a plain relaxed load and store, no locked instruction.
            slots[slot].store(slots[slot].load(ordering: .relaxed) &+ amount, ordering: .relaxed)
        case .shared:
            slots[slot].add(amount, ordering: .relaxed)
        }
    }

    func read(_ slot: Int) -> UInt64 { slots[slot].load(ordering: .acquiring) }

    /// Adds `weight` observations of `value` to the histogram at `base`. The sum goes first and
    /// the count last (releasing), so a scrape that sees the count also sees the sum.
    @inline(__always)
    func observe(_ base: Int, bucket: Int, buckets: Int, value: Int64, weight: UInt64 = 1) {
        add(base + buckets + bucket, UInt64(max(value, 0)) &* weight)
        switch kind {
        case .owned:
            let slot = base + bucket
            slots[slot].store(slots[slot].load(ordering: .relaxed) &+ weight, ordering: .releasing)
        case .shared:
            slots[base + bucket].add(weight, ordering: .releasing)
        }
    }

    // MARK: What the query path calls

    /// One query answered: its question type, the reply's rcode and TC bit, both sizes.
    @inline(__always)
    func answered(query: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer) {
        let rcode = reply.count >= 4 ? min(Int(reply[3] & 0x0F), 6) : 6
        add(Slot.queries + Self.typeIndex(query) * 7 + rcode)
        if reply.count >= 3 && reply[2] & 0x02 != 0 { add(Slot.truncated) }
        observe(Slot.requestSize, bucket: Self.requestSizeBucket(query.count), buckets: 7, value: Int64(query.count))
        observe(Slot.responseSize, bucket: Self.responseSizeBucket(reply.count), buckets: 10, value: Int64(reply.count))
    }

    /// `count` answers that took `nanoseconds` (a whole UDP batch, or one TCP query).
    @inline(__always)
    func answerDuration(nanoseconds: Int64, count: Int) {
        guard count > 0 else { return }
        observe(Slot.answerDuration, bucket: Self.durationBucket(nanoseconds), buckets: 19, value: nanoseconds,
                weight: UInt64(count))
    }

    func upstreamDuration(nanoseconds: Int64) {
        observe(Slot.upstreamDuration, bucket: Self.durationBucket(nanoseconds), buckets: 19, value: nanoseconds)
    }

    /// The index of the question type in `typeNames`, read straight from the packet (`other`
    /// when there is no readable question).
    @inline(__always)
    static func typeIndex(_ packet: UnsafeRawBufferPointer) -> Int {
        guard packet.count > 12, packet[4] | packet[5] != 0 else { return 10 }
        var offset = 12
        while offset < packet.count {
            let length = Int(packet[offset])
            if length == 0 {
                offset += 1
                break
            }
            if length & 0xC0 != 0 {
                offset += 2
                break
            }
            offset += length + 1
        }
        guard offset + 2 <= packet.count else { return 10 }
        switch UInt16(packet[offset]) << 8 | UInt16(packet[offset + 1]) {
        case 1: return 0
        case 2: return 1
        case 5: return 2
        case 6: return 3
        case 12: return 4
        case 15: return 5
        case 16: return 6
        case 28: return 7
        case 33: return 8
        case 255: return 9
        default: return 10
        }
    }

    @inline(__always)
    static func requestSizeBucket(_ size: Int) -> Int {
        size <= 32 ? 0 : size <= 64 ? 1 : size <= 128 ? 2 : size <= 256 ? 3 : size <= 512 ? 4 : size <= 1024 ? 5 : 6
    }

    @inline(__always)
    static func responseSizeBucket(_ size: Int) -> Int {
        if size <= 512 { return size <= 64 ? 0 : size <= 128 ? 1 : size <= 256 ? 2 : 3 }
        return size <= 1024 ? 4 : size <= 1232 ? 5 : size <= 2048 ? 6 : size <= 4096 ? 7 : size <= 16384 ? 8 : 9
    }

    static func durationBucket(_ nanoseconds: Int64) -> Int {
        var index = 0
        while index < durationBounds.count && nanoseconds > durationBounds[index] { index += 1 }
        return index
    }
}

/// Nanoseconds on the monotonic clock (a vDSO call: no system call, no allocation).
@inline(__always)
func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) &* 1_000_000_000 &+ Int64(now.tv_nsec)
}

/// Seconds since the Unix epoch, for timestamps that operators read.
func wallClockSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Everything the server counts, exposed through the swift-metrics API into a Prometheus
/// registry. The query path only touches `MetricsBlock`s; `exposition()` (one scrape) sums the
/// blocks, hands what changed since the last scrape to the swift-metrics counters and
/// histograms, reads the gauges, and renders the registry.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let prefix: String
    private let blocks = Mutex<[(transport: Transport, block: MetricsBlock)]>([])
    /// Answers sent by threads other than the UDP workers: forwarded and hidden-key UDP replies.
    let udpShared = MetricsBlock(.shared)
    /// TCP connections, each on a thread of its own.
    let tcp = MetricsBlock(.shared)
    /// The forwarder's own counts: upstream exchanges and their outcome.
    let forwarding = MetricsBlock(.shared)

    private struct Published {
        var totals: [Transport: [UInt64]] = [:]
        var counters: [String: CoreMetrics.Counter] = [:]
        /// Totals already handed on, of counts kept elsewhere (the store's, the cache's).
        var sourceTotals: [String: UInt64] = [:]
    }
    private let published = Mutex(Published())
    private let etcd = Mutex(EtcdStatus())
    private let storeStatus = Mutex(StoreStatus())
    private let publications = Atomic<UInt64>(0)
    private let rejectedRecords = Atomic<UInt64>(0)
    private let cacheSource = Mutex<ResponseCache?>(nil)
    private let publisherSource = Mutex<SnapshotPublisher?>(nil)
    private let watchLagSource = Mutex<(@Sendable () -> Int64)?>(nil)
    /// How long the oldest watched change of each publication waited between reaching the
    /// store (read and parsed) and being served: most of the server's share of a change's delay.
    private let publishDelay: CoreMetrics.Timer

    struct EtcdStatus {
        var state: EtcdConnectionState = .connecting
        /// Wall-clock time of the last change of state.
        var since = wallClockSeconds()
        /// When etcd was last connected (nil: never).
        var lastConnected: Double?
        var changes: UInt64 = 0
    }

    struct StoreStatus {
        /// Wall-clock time of the last change from etcd applied to the store.
        var lastSync: Double?
    }

    /// - Parameters: `namespace` and `subsystem` prefix every name, as SkyDNS's
    ///   `PROMETHEUS_NAMESPACE` and `PROMETHEUS_SUBSYSTEM` did (empty parts are left out).
    public init(namespace: String = "skydns", subsystem: String = "",
                registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        prefix = [namespace, subsystem].filter { !$0.isEmpty }.map { $0 + "_" }.joined()
        var factory = PrometheusMetricsFactory(registry: registry)
        let seconds = MetricsBlock.durationBounds.map { Duration.nanoseconds($0) }
        factory.durationHistogramBuckets = [
            prefix + "answer_duration_seconds": seconds,
            prefix + "upstream_duration_seconds": seconds,
            prefix + "store_publish_delay_seconds": [
                0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
            ].map { Duration.nanoseconds(Int64($0 * 1e9)) },
        ]
        factory.valueHistogramBuckets = [
            prefix + "request_size_bytes": MetricsBlock.requestSizeBounds.map(Double.init),
            prefix + "response_size_bytes": MetricsBlock.responseSizeBounds.map(Double.init),
        ]
        self.factory = factory
        publishDelay = CoreMetrics.Timer(label: prefix + "store_publish_delay_seconds", factory: factory)
        register(udpShared, transport: .udp)
        register(tcp, transport: .tcp)
        register(forwarding, transport: .tcp)
        // Series that dashboards expect even while they are zero.
        published.withLock { state in
            for transport in [Transport.udp, .tcp] {
                _ = counter(&state, "queries_dropped_total", ["transport": transport.name])
                _ = counter(&state, "responses_truncated_total", ["transport": transport.name])
            }
            for name in ["forwarded_queries_total"] {
                _ = counter(&state, name, ["to": "upstream"])
                _ = counter(&state, name, ["to": "stub"])
            }
            for reason in MetricsBlock.upstreamFailureNames {
                _ = counter(&state, "upstream_failures_total", ["reason": reason])
            }
            _ = counter(&state, "forward_servfail_total", [:])
            _ = counter(&state, "forward_queue_full_total", [:])
            _ = counter(&state, "snapshot_publications_total", [:])
            _ = counter(&state, "etcd_state_changes_total", [:])
            _ = counter(&state, "store_rejected_records_total", [:])
        }
    }

    /// A block for one UDP worker thread, which alone writes it.
    func makeWorkerBlock() -> MetricsBlock {
        let block = MetricsBlock(.owned)
        register(block, transport: .udp)
        return block
    }

    private func register(_ block: MetricsBlock, transport: Transport) {
        blocks.withLock { $0.append((transport, block)) }
    }

    func watch(cache: ResponseCache?, publisher: SnapshotPublisher) {
        if cache != nil {
            published.withLock { state in
                _ = counter(&state, "cache_hits_total", [:])
                _ = counter(&state, "cache_misses_total", [:])
            }
        }
        cacheSource.withLock { $0 = cache }
        publisherSource.withLock { $0 = publisher }
    }

    // MARK: Events off the query path

    func etcdStateChanged(_ state: EtcdConnectionState) {
        etcd.withLock { status in
            status.state = state
            status.since = wallClockSeconds()
            status.changes += 1
            if case .connected = state { status.lastConnected = status.since }
        }
    }

    /// The store applied a batch from etcd: one snapshot published, `rejected` records skipped.
    func storeApplied(rejected: Int) {
        publications.add(1, ordering: .relaxed)
        rejectedRecords.add(UInt64(rejected), ordering: .relaxed)
        storeStatus.withLock { $0.lastSync = wallClockSeconds() }
    }

    /// A snapshot with watched changes was published, the oldest of them `nanoseconds` after it
    /// arrived.
    func changesPublished(after nanoseconds: Int64) {
        publishDelay.recordNanoseconds(nanoseconds)
    }

    var etcdStatus: EtcdStatus { etcd.withLock { $0 } }
    var lastSync: Double? { storeStatus.withLock { $0.lastSync } }

    // MARK: Scrape

    /// The Prometheus text exposition of everything, current as of this call.
    public func exposition() -> [UInt8] {
        publish()
        return registry.emitToBuffer()
    }

    private func publish() {
        let all = blocks.withLock { $0 }
        published.withLock { state in
            for transport in [Transport.udp, .tcp] {
                var totals = [UInt64](repeating: 0, count: MetricsBlock.capacity)
                for entry in all where entry.transport == transport {
                    for slot in MetricsBlock.Slot.queries..<MetricsBlock.Slot.end { totals[slot] &+= entry.block.read(slot) }
                }
                var last = state.totals[transport] ?? [UInt64](repeating: 0, count: MetricsBlock.capacity)
                publishCounters(&state, transport: transport, totals: totals, last: &last)
                publishHistograms(transport: transport, totals: totals, last: &last)
                state.totals[transport] = last
            }
        }
        publishGauges()
    }

    private func publishCounters(_ state: inout Published, transport: Transport, totals: [UInt64], last: inout [UInt64]) {
        typealias Slot = MetricsBlock.Slot
        func flush(_ slot: Int, _ name: String, _ labels: KeyValuePairs<String, String>) {
            let delta = totals[slot] &- last[slot]
            guard delta > 0 else { return }
            counter(&state, name, labels).increment(by: Int64(delta))
            last[slot] = totals[slot]
        }
        let transportName = transport.name
        for type in 0..<11 {
            for rcode in 0..<7 {
                flush(Slot.queries + type * 7 + rcode, "queries_total",
                      ["transport": transportName, "type": MetricsBlock.typeNames[type], "rcode": MetricsBlock.rcodeNames[rcode]])
            }
        }
        flush(Slot.dropped, "queries_dropped_total", ["transport": transportName])
        flush(Slot.truncated, "responses_truncated_total", ["transport": transportName])
        // The forwarder's counts are transport-less; its block is filed under tcp.
        guard transport == .tcp else { return }
        flush(Slot.forwardedUpstream, "forwarded_queries_total", ["to": "upstream"])
        flush(Slot.forwardedStub, "forwarded_queries_total", ["to": "stub"])
        for (index, reason) in MetricsBlock.upstreamFailureNames.enumerated() {
            flush(Slot.upstreamFailures + index, "upstream_failures_total", ["reason": reason])
        }
        flush(Slot.forwardServFail, "forward_servfail_total", [:])
        flush(Slot.queueFull, "forward_queue_full_total", [:])
    }

    private func counter(_ state: inout Published, _ name: String, _ labels: KeyValuePairs<String, String>) -> CoreMetrics.Counter {
        let key = name + labels.map { "|\($0.key)=\($0.value)" }.joined()
        if let existing = state.counters[key] { return existing }
        let made = CoreMetrics.Counter(label: prefix + name, dimensions: labels.map { ($0.key, $0.value) }, factory: factory)
        state.counters[key] = made
        return made
    }

    /// Histograms take what each bucket gained since the last scrape, replayed as that many
    /// observations whose values add up to the bucket's gained sum and all lie inside the bucket,
    /// so the registry's buckets, count and sum come out exact.
    private func publishHistograms(transport: Transport, totals: [UInt64], last: inout [UInt64]) {
        typealias Slot = MetricsBlock.Slot
        let dimensions = [("transport", transport.name)]
        let requests = CoreMetrics.Recorder(label: prefix + "request_size_bytes", dimensions: dimensions, aggregate: true, factory: factory)
        let responses = CoreMetrics.Recorder(label: prefix + "response_size_bytes", dimensions: dimensions, aggregate: true, factory: factory)
        let answers = CoreMetrics.Timer(label: prefix + "answer_duration_seconds", dimensions: dimensions, factory: factory)
        Self.replay(base: Slot.requestSize, bounds: MetricsBlock.requestSizeBounds, totals: totals, last: &last) {
            requests.record($0)
        }
        Self.replay(base: Slot.responseSize, bounds: MetricsBlock.responseSizeBounds, totals: totals, last: &last) {
            responses.record($0)
        }
        Self.replay(base: Slot.answerDuration, bounds: MetricsBlock.durationBounds, totals: totals, last: &last) {
            answers.recordNanoseconds($0)
        }
        guard transport == .tcp else { return }
        let upstream = CoreMetrics.Timer(label: prefix + "upstream_duration_seconds", factory: factory)
        Self.replay(base: Slot.upstreamDuration, bounds: MetricsBlock.durationBounds, totals: totals, last: &last) {
            upstream.recordNanoseconds($0)
        }
    }

    static func replay(base: Int, bounds: [Int64], totals: [UInt64], last: inout [UInt64], record: (Int64) -> Void) {
        let buckets = bounds.count + 1
        for bucket in 0..<buckets {
            let countSlot = base + bucket, sumSlot = base + buckets + bucket
            let count = Int64(truncatingIfNeeded: totals[countSlot] &- last[countSlot])
            guard count > 0 else { continue }
            let sum = Int64(truncatingIfNeeded: totals[sumSlot] &- last[sumSlot])
            let lower = bucket == 0 ? 0 : bounds[bucket - 1] + 1
            let upper = bucket < bounds.count ? bounds[bucket] : Int64.max
            // `count` values whose sum is `sum`: the quotient, and the quotient plus one for the
            // remainder. Clamped into the bucket in case a write was caught half done; the
            // difference then carries over to the next scrape.
            let quotient = min(max(sum / count, lower), upper)
            let remainder = quotient < upper ? min(max(sum - quotient * count, 0), count) : 0
            for index in 0..<count { record(index < remainder ? quotient + 1 : quotient) }
            last[countSlot] = totals[countSlot]
            last[sumSlot] &+= UInt64(quotient * count + remainder)
        }
    }

    /// Reads the etcd watch's lag (revisions behind) at each scrape.
    func watchEtcdLag(_ source: @escaping @Sendable () -> Int64) {
        watchLagSource.withLock { $0 = source }
    }

    private func publishGauges() {
        let status = etcdStatus
        if let lag = watchLagSource.withLock({ $0 }) {
            CoreMetrics.Gauge(label: prefix + "etcd_watch_lag_revisions", factory: factory).record(lag())
        }
        for state in ["connecting", "connected", "disconnected"] {
            CoreMetrics.Gauge(label: prefix + "etcd_state", dimensions: [("state", state)], factory: factory)
                .record(status.state.metricName == state ? 1 : 0)
        }
        if let publisher = publisherSource.withLock({ $0 }) {
            let snapshot = publisher.current
            CoreMetrics.Gauge(label: prefix + "store_records", factory: factory).record(snapshot.recordCount)
            CoreMetrics.Gauge(label: prefix + "store_synced", factory: factory).record(snapshot.isSynced ? 1 : 0)
        }
        CoreMetrics.Gauge(label: prefix + "store_last_sync_timestamp_seconds", factory: factory).record(lastSync ?? 0)
        let cache = cacheSource.withLock { $0 }
        published.withLock { state in
            func flush(_ name: String, _ total: UInt64) {
                let delta = total &- (state.sourceTotals[name] ?? 0)
                guard delta > 0 else { return }
                counter(&state, name, [:]).increment(by: Int64(delta))
                state.sourceTotals[name] = total
            }
            flush("etcd_state_changes_total", status.changes)
            flush("snapshot_publications_total", publications.load(ordering: .relaxed))
            flush("store_rejected_records_total", rejectedRecords.load(ordering: .relaxed))
            if let cache {
                flush("cache_hits_total", UInt64(cache.hits.load(ordering: .relaxed)))
                flush("cache_misses_total", UInt64(cache.misses.load(ordering: .relaxed)))
            }
        }
        if let cache {
            CoreMetrics.Gauge(label: prefix + "cache_entries", factory: factory).record(cache.count)
        }
    }
}

extension Transport {
    var name: String { self == .udp ? "udp" : "tcp" }
}

extension EtcdConnectionState {
    var metricName: String {
        switch self {
        case .connecting: "connecting"
        case .connected: "connected"
        case .disconnected: "disconnected"
        }
    }
}

extension MetricsBlock {
    /// One exchange with an upstream: its time when it answered, its kind of failure otherwise.
    func countExchange(_ result: Result<[UInt8], UpstreamExchange.Failure>, nanoseconds: Int64) {
        switch result {
        case .success: upstreamDuration(nanoseconds: nanoseconds)
        case .failure(.timeout): add(Slot.upstreamFailures)
        case .failure(.network): add(Slot.upstreamFailures + 1)
        case .failure(.malformed): add(Slot.upstreamFailures + 2)
        }
    }
}
