import DNSWire
import Synchronization

/// What the answers are made from: the settings of the served zone and one immutable version of
/// the trie. Workers hold a snapshot for as long as they like; writers publish new ones.
public final class Snapshot: Sendable {
    public let zone: Zone
    public let root: TrieNode
    /// The node of the zone's apex, found once per snapshot instead of once per query.
    public let apex: TrieNode?
    /// False until the first complete read of etcd: the zone is then answered REFUSED.
    public let isSynced: Bool
    /// The SOA serial: changes whenever the data changes.
    public let serial: UInt32
    /// Zones forwarded to their own servers (SkyDNS's stub zones), most specific first.
    public let stubZones: [StubZone]
    /// Indexes into `stubZones` by `StubZone.hash` of their names, when there are more than
    /// `StubZone.scanLimit`: each query is checked against the stub zones, and a walk over
    /// thousands of them cost every query several times its answer.
    let stubZonesByHash: [Int: [Int]]
    /// While the first read of etcd streams in (not synced yet): the last key loaded, below
    /// the prefix (`sohu/domeos/pod-9/abc`). Names whose keys all sort before it are complete.
    public let loadedThrough: String?
    /// etcd v2 in use: keys below a label starting with `_` are hidden from v2 listings and
    /// reach the store only when a query names them, so they answer only names at or below
    /// their own `_` labels, never an ancestor's name or a wildcard over them. Answers then
    /// depend on etcd's contents alone, not on which hidden names were asked for first.
    public let hidesUnderscoreLabels: Bool

    public init(zone: Zone, root: TrieNode, isSynced: Bool, serial: UInt32, loadedThrough: String? = nil,
                hidesUnderscoreLabels: Bool = false) {
        self.loadedThrough = loadedThrough
        self.hidesUnderscoreLabels = hidesUnderscoreLabels
        self.zone = zone
        self.root = root
        self.apex = root.node(at: zone.apexPath)
        self.isSynced = isSynced
        self.serial = serial
        let stubZones = zone.stubZonesEnabled ? StubZone.read(from: root, zone: zone) : []
        self.stubZones = stubZones
        var byHash: [Int: [Int]] = [:]
        if stubZones.count > StubZone.scanLimit {
            for (index, stub) in stubZones.enumerated() {
                let wire = stub.zone.wire.map(asciiLowercase)
                byHash[wire.withUnsafeBytes(StubZone.hash), default: []].append(index)
            }
        }
        stubZonesByHash = byHash
    }

    /// The stub zone `name` falls in, if any.
    public func stubZone(for name: DomainName) -> StubZone? {
        guard !stubZonesByHash.isEmpty else { return stubZones.first { name.isSubdomain(of: $0.zone) } }
        return name.wire.map(asciiLowercase).withUnsafeBytes { indexedStubZone(lowercasedName: $0) }.map { stubZones[$0] }
    }

    /// Through `stubZonesByHash`: the index in `stubZones` of the most specific zone that
    /// `name` (lower-cased wire form) lies in, looking up each suffix that starts at a label and
    /// holds one at least, the longest first; nil when there is none.
    func indexedStubZone(lowercasedName name: UnsafeRawBufferPointer) -> Int? {
        var offset = 0
        while offset < name.count - 1 {
            let suffix = UnsafeRawBufferPointer(rebasing: name[offset...])
            for index in stubZonesByHash[StubZone.hash(suffix)] ?? []
            where stubZones[index].zone.wire.elementsEqual(suffix, by: { asciiLowercase($0) == $1 }) {
                return index
            }
            offset += Int(name[offset]) + 1
        }
        return nil
    }

    public var recordCount: Int { root.recordCount }

    /// During a first read: whether every key at or below `path` has been loaded (keys come in
    /// order, so that is when the last key read sorts after all of them).
    public func isLoaded(path: [String]) -> Bool {
        guard !isSynced else { return true }
        // The empty path is the whole prefix (the apex of `-domain=.`): complete only when synced.
        guard let loadedThrough, !path.isEmpty else { return false }
        let directory = path.joined(separator: "/") + "/"
        return loadedThrough > directory && !loadedThrough.hasPrefix(directory)
    }
}

/// Hands the newest snapshot to workers. Readers check one atomic counter per batch of queries
/// and take the lock only when it moved, so in steady state they share no written cache line.
public final class SnapshotPublisher: Sendable {
    private struct State {
        var latest: Snapshot
        /// Snapshots replaced but perhaps still held by a worker. The writer frees them once it
        /// holds the last reference: freeing a snapshot walks every node only it has, work that
        /// would otherwise land on whichever worker happened to let go of it last.
        var retired: [Snapshot] = []
    }
    private let state: Mutex<State>
    private let generation = Atomic<UInt64>(0)

    public init(_ initial: Snapshot) {
        state = Mutex(State(latest: initial))
    }

    public func publish(_ snapshot: Snapshot) {
        var unreferenced: [Snapshot] = []
        state.withLock { state in
            state.retired.append(state.latest)
            state.latest = snapshot
            // A retired snapshot gains no new holders, so once only this list holds it, it is
            // garbage; it is freed below, outside the lock.
            var index = state.retired.count - 1
            while index >= 0 {
                if isKnownUniquelyReferenced(&state.retired[index]) {
                    unreferenced.append(state.retired.remove(at: index))
                }
                index -= 1
            }
        }
        generation.add(1, ordering: .releasing)
        unreferenced.removeAll()
    }

    public var current: Snapshot { state.withLock { $0.latest } }

    public func makeReader() -> SnapshotReader { SnapshotReader(publisher: self) }

    fileprivate var currentGeneration: UInt64 { generation.load(ordering: .acquiring) }
}

/// A worker's own view of the newest snapshot.
public struct SnapshotReader: Sendable {
    private let publisher: SnapshotPublisher
    private var generation: UInt64
    public private(set) var snapshot: Snapshot

    init(publisher: SnapshotPublisher) {
        self.publisher = publisher
        generation = publisher.currentGeneration
        snapshot = publisher.current
    }

    /// Picks up a newer snapshot if one was published; cheap when none was.
    public mutating func refresh() -> Snapshot {
        let published = publisher.currentGeneration
        if published != generation {
            generation = published
            snapshot = publisher.current
        }
        return snapshot
    }
}

/// A zone served elsewhere: `/skydns/<domain>/dns/stub/<zone>/<id>` = `{"host": IP, "port": N}`
/// sends queries for `<zone>` to IP:N (port 53 by default).
public struct StubZone: Sendable, Equatable {
    public var zone: DomainName
    public var servers: [String]

    /// Trie visits one reading of the stub zones may make (far more than any deployment's
    /// stub servers).
    static let maxStubVisits = 4096
    /// Servers kept per stub zone, the first in key order (as many as resolv.conf's the server
    /// reads): every forwarded query carries its zone's list, parsed and checked for health, so
    /// thousands of entries (duplicates from a controller, say) cost each query milliseconds
    /// and kilobytes.
    public static let maxServers = 16
    /// Up to this many stub zones a query's name is compared with each in turn; beyond, they
    /// are looked up by the hash of each of its suffixes.
    static let scanLimit = 8

    /// The hash `Snapshot.stubZonesByHash` files a zone under: of its name's lower-cased wire form.
    static func hash(_ wire: UnsafeRawBufferPointer) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: wire)
        return hasher.finalize()
    }

    static func read(from root: TrieNode, zone: Zone) -> [StubZone] {
        guard let node = root.node(at: zone.stubName.labels.reversed().map { String(decoding: $0, as: UTF8.self) }) else {
            return []
        }
        var servers: [DomainName: [String]] = [:]
        let suffixLabels = zone.stubName.labelCount
        // Read at every publication: a stub tree of any size costs at most this many visits.
        var budget = Self.maxStubVisits
        node.forEachNamedRecord(name: zone.stubName, hidingUnderscoreLabels: false, where: { $0.contains(any: [.ipv4, .ipv6]) },
                                budget: &budget) { record, name in
            // <id>.<zone>.stub.dns.<domain>: the zone needs at least one label of its own.
            guard name.labelCount >= suffixLabels + 2 else { return true }
            let labels = name.labels.dropFirst().dropLast(suffixLabels)
            guard let stub = try? DomainName(labels: labels.map(Array.init)),
                  servers[stub, default: []].count < Self.maxServers else { return true }
            let port = record.port == 0 ? 53 : record.port
            switch record.target {
            case .ipv4: servers[stub, default: []].append("\(record.host):\(port)")
            case .ipv6: servers[stub, default: []].append("[\(record.host)]:\(port)")
            default: break
            }
            return true
        }
        return servers.map { StubZone(zone: $0.key, servers: $0.value) }.sorted { $0.zone.labelCount > $1.zone.labelCount }
    }
}
