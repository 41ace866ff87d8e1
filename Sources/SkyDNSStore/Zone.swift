import DNSWire

/// The served domain and the settings that shape its answers (SkyDNS's flags).
/// A class: the answer path reads it once per query, and a copy of a struct this size would
/// retain each of its names.
public final class Zone: Sendable {
    public let domain: DomainName
    /// The apex as a trie path, top-level label first.
    public let apexPath: [String]
    public let defaultTTL: UInt32
    /// The SOA MINIMUM field, which RFC 2308 §4 makes the negative-caching TTL (`-min-ttl`).
    public let negativeTTL: UInt32
    public let defaultPriority: UInt16
    public let roundRobin: Bool
    public let hostmaster: DomainName
    public let nameServer: DomainName
    /// `local.dns.<domain>`, which answers with the records of `localTarget` (SkyDNS's `-local`).
    public let localName: DomainName
    public let localTarget: DomainName?
    /// With `-stubzones`, records below `stub.dns.<domain>` name the servers of other zones.
    public let stubZonesEnabled: Bool
    public let stubName: DomainName

    /// - Parameter domain: e.g. `domeos.sohu.`; case is ignored.
    public init(domain: String, defaultTTL: UInt32 = 3600, negativeTTL: UInt32 = 60, defaultPriority: UInt16 = 10,
                roundRobin: Bool = true, hostmaster: String? = nil, local: String? = nil,
                stubZonesEnabled: Bool = false) throws {
        let domain = try DomainName(domain).lowercased()
        self.domain = domain
        apexPath = domain.labels.reversed().map { String(decoding: $0, as: UTF8.self) }
        self.defaultTTL = defaultTTL
        self.negativeTTL = negativeTTL
        self.defaultPriority = defaultPriority
        self.roundRobin = roundRobin
        self.hostmaster = try hostmaster.map { try DomainName($0) }
            ?? DomainName(labels: [Array("hostmaster".utf8)] + domain.labels.map(Array.init))
        nameServer = try DomainName(labels: [Array("ns".utf8), Array("dns".utf8)] + domain.labels.map(Array.init))
        localName = try DomainName(labels: [Array("local".utf8), Array("dns".utf8)] + domain.labels.map(Array.init))
        self.stubZonesEnabled = stubZonesEnabled
        stubName = try DomainName(labels: [Array("stub".utf8), Array("dns".utf8)] + domain.labels.map(Array.init))
        localTarget = try local.flatMap { $0.isEmpty ? nil : try DomainName($0).lowercased() }
    }

    /// The TTL of the SOA record itself: `-ttl`, as SkyDNS answers it.
    public var soaTTL: UInt32 { defaultTTL }

    /// The TTL of the SOA in a negative answer's authority section: min(SOA TTL, MINIMUM), which
    /// is how long resolvers cache the denial (RFC 2308 §3, §5).
    public var negativeAnswerTTL: UInt32 { min(defaultTTL, negativeTTL) }

    /// SkyDNS's SOA timers; the minimum (negative-answer TTL) is `-min-ttl`.
    public func soa(serial: UInt32) -> SOARecord {
        SOARecord(mname: nameServer, rname: hostmaster, serial: serial, refresh: 28800, retry: 7200,
                  expire: 604800, minimum: negativeTTL)
    }
}
