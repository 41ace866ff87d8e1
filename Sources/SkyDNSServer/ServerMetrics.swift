#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSWire
import EtcdClient
import SkyDNSStore
import Synchronization

/// The counters of one writer: a UDP worker or a TCP event loop owns one outright; the forwarder
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
    static let upstreamFailureNames = ["timeout", "network", "malformed", "loop"]

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
        static let forwarded = queueFull + 1  // the slots from here to forwardServFail: per upstream
        static let upstreamFailures = forwarded + 1  // [timeout, network, malformed, loop]
        static let forwardServFail = upstreamFailures + 4
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
        answered(type: nil, querySize: query.count, typeFrom: query, reply: reply)
    }

    /// One query answered, its question type as the parse found it (nil: the parse stopped at
    /// the header, and the type is read from `query` if it can be).
    @inline(__always)
    func answered(type: RecordType?, querySize: Int, typeFrom query: UnsafeRawBufferPointer?,
                  reply: UnsafeRawBufferPointer) {
        let rcode = reply.count >= 4 ? min(Int(reply[3] & 0x0F), 6) : 6
        let typeIndex = type.map { Self.typeIndex(rawType: $0.rawValue) } ?? query.map { Self.typeIndex($0) } ?? 10
        add(Slot.queries + typeIndex * 7 + rcode)
        if reply.count >= 3 && reply[2] & 0x02 != 0 { add(Slot.truncated) }
        observe(Slot.requestSize, bucket: Self.requestSizeBucket(querySize), buckets: 7, value: Int64(querySize))
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
        return typeIndex(rawType: UInt16(packet[offset]) << 8 | UInt16(packet[offset + 1]))
    }

    @inline(__always)
    static func typeIndex(rawType: UInt16) -> Int {
        switch rawType {
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

    static func durationBucket(_ nanoseconds: Int64) -> Int { bucket(nanoseconds, durationBounds) }

    /// The index of the first bound at or above `value` (`bounds.count`: the +Inf bucket).
    static func bucket(_ value: Int64, _ bounds: [Int64]) -> Int {
        var index = 0
        while index < bounds.count && value > bounds[index] { index += 1 }
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

/// Everything the server counts, rendered as Prometheus text. The query path only touches
/// `MetricsBlock`s; a scrape (`exposition()`, in MetricsExposition.swift) adds the blocks up and
/// writes their totals, so its cost depends on the number of series, never on how many queries
/// were counted.
public final class ServerMetrics: Sendable {
    /// `PROMETHEUS_NAMESPACE` and `PROMETHEUS_SUBSYSTEM`, each followed by `_` (empty parts left out).
    let prefix: String
    let blocks = Mutex<[(transport: Transport, block: MetricsBlock)]>([])
    /// Answers sent by threads other than the UDP workers: forwarded and hidden-key UDP replies.
    let udpShared = MetricsBlock(.shared)
    /// The forwarder's own counts (each upstream's: `upstream(_:)`).
    let forwarding = MetricsBlock(.shared)
    /// One block per upstream address (`to`), in the order first used.
    let upstreams = Mutex<[(to: String, block: MetricsBlock)]>([])
    /// Upstream addresses come from the configuration and etcd (stub zones): past this many,
    /// the rest share one block labelled `other`.
    static let maxUpstreamLabels = 64
    /// `store_publish_delay_seconds`: a histogram at `Slot.padding` with `publishDelayBounds`.
    let storeDelays = MetricsBlock(.shared)
    static let publishDelayBounds: [Int64] = [  // nanoseconds
        100_000, 250_000, 500_000, 1_000_000, 2_000_000, 3_000_000, 5_000_000, 10_000_000, 25_000_000,
        50_000_000, 100_000_000, 250_000_000, 1_000_000_000,
    ]

    let storeStatus = Mutex(StoreStatus())
    let publications = Atomic<UInt64>(0)
    let rejectedRecords = Atomic<UInt64>(0)
    let cacheSource = Mutex<ResponseCache?>(nil)
    let publisherSource = Mutex<SnapshotPublisher?>(nil)
    let watchLagSource = Mutex<(@Sendable () -> Int64)?>(nil)
    let hiddenKeySource = Mutex<(@Sendable () -> (watched: Int, remembered: Int, refused: UInt64))?>(nil)
    let endpointHealthSource = Mutex<(@Sendable () -> [EtcdEndpointHealth])?>(nil)
    /// The connection state to etcd, kept by the server for its readiness too.
    let etcdSource = Mutex<EtcdStatusTracker?>(nil)
    /// The `version` label of `build_info`.
    let version: String

    struct StoreStatus {
        /// Wall-clock time of the last change from etcd applied to the store.
        var lastSync: Double?
    }

    /// - Parameters: `namespace` and `subsystem` prefix every name but the standard `process_*`
    ///   ones, as SkyDNS's `PROMETHEUS_NAMESPACE` and `PROMETHEUS_SUBSYSTEM` did (empty parts are
    ///   left out); `version` is `build_info`'s label.
    public init(namespace: String = "skydns", subsystem: String = "", version: String = skydnsVersion) {
        prefix = [namespace, subsystem].filter { !$0.isEmpty }.map { $0 + "_" }.joined()
        self.version = version
        register(udpShared, transport: .udp)
        register(forwarding, transport: .tcp)
    }

    /// A block for one UDP worker or TCP event loop thread, which alone writes it: no locked
    /// instruction and no cache line shared with another writer.
    func makeWorkerBlock(transport: Transport = .udp) -> MetricsBlock {
        let block = MetricsBlock(.owned)
        register(block, transport: transport)
        return block
    }

    /// The block of the upstream at `address` (`host:port`), made on first use.
    func upstream(_ address: String) -> MetricsBlock {
        upstreams.withLock { upstreams in
            if let known = upstreams.first(where: { $0.to == address }) { return known.block }
            let label = upstreams.count < Self.maxUpstreamLabels ? address : "other"
            if let other = upstreams.first(where: { $0.to == label }) { return other.block }
            let made = MetricsBlock(.shared)
            upstreams.append((label, made))
            return made
        }
    }

    private func register(_ block: MetricsBlock, transport: Transport) {
        blocks.withLock { $0.append((transport, block)) }
    }

    func watch(cache: ResponseCache?, publisher: SnapshotPublisher) {
        cacheSource.withLock { $0 = cache }
        publisherSource.withLock { $0 = publisher }
    }

    // MARK: Events off the query path

    /// Reads the connection state to etcd at each scrape (`etcd_state`, `etcd_state_changes_total`).
    func watchEtcdState(_ tracker: EtcdStatusTracker) {
        etcdSource.withLock { $0 = tracker }
    }

    /// The store applied a batch from etcd: one snapshot published, `rejected` records skipped.
    func storeApplied(rejected: Int) {
        publications.add(1, ordering: .relaxed)
        rejectedRecords.add(UInt64(clamping: rejected), ordering: .relaxed)
        storeStatus.withLock { $0.lastSync = wallClockSeconds() }
    }

    /// A snapshot with watched changes was published, the oldest of them `nanoseconds` after it
    /// arrived.
    func changesPublished(after nanoseconds: Int64) {
        storeDelays.observe(MetricsBlock.Slot.padding, bucket: MetricsBlock.bucket(nanoseconds, Self.publishDelayBounds),
                            buckets: Self.publishDelayBounds.count + 1, value: nanoseconds)
    }

    /// Reads the etcd v2 hidden-key resolver's bounded state at each scrape.
    func watchHiddenKeys(_ source: @escaping @Sendable () -> (watched: Int, remembered: Int, refused: UInt64)) {
        hiddenKeySource.withLock { $0 = source }
    }

    /// Reads the etcd watch's lag (revisions behind) at each scrape.
    func watchEtcdLag(_ source: @escaping @Sendable () -> Int64) {
        watchLagSource.withLock { $0 = source }
    }

    /// Reads each etcd endpoint's health-probe result at each scrape.
    func watchEtcdEndpoints(_ source: @escaping @Sendable () -> [EtcdEndpointHealth]) {
        endpointHealthSource.withLock { $0 = source }
    }

    var lastSync: Double? { storeStatus.withLock { $0.lastSync } }
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
    func countExchange(_ result: Result<Message, UpstreamExchange.Failure>, nanoseconds: Int64) {
        add(Slot.forwarded)
        switch result {
        case .success: upstreamDuration(nanoseconds: nanoseconds)
        case .failure(.timeout): add(Slot.upstreamFailures)
        case .failure(.network): add(Slot.upstreamFailures + 1)
        case .failure(.malformed): add(Slot.upstreamFailures + 2)
        case .failure(.loop): add(Slot.upstreamFailures + 3)
        }
    }
}
