import DNSWire

/// A record as the answer path uses it: the decoded value with its host classified once, at
/// load time, so queries never parse text. A class, so that walking the trie moves one
/// reference per record instead of retaining each of its strings.
///
/// Compact by design (a million of them is the size we plan for): no key (a record's name is
/// the trie path it is found at), an IPv4 address inline, and everything kube2sky never sets
/// (other hosts, port, text, wide priorities) behind one reference.
public final class StoredRecord: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        case ipv4(IPv4Address)
        case ipv6(IPv6Address)
        case name(DomainName)
        /// No host: only `text` (TXT) can come of it.
        case none
    }

    // Declaration order is layout order: the fields pack into 52 bytes, a 64-byte heap block
    // (a pod's record is most of what a million records cost).
    /// The last label of the record's key, lower-cased: its name below its parent.
    public let label: String
    private let storage: Storage
    /// How many labels the key has below the prefix (the depth SkyDNS's groups compare; keys
    /// have at most 127 labels).
    public let depth: UInt8
    /// The TTL this record is answered with, before the per-answer minimum is taken.
    public let ttl: UInt32
    private let priority16: Int16
    private let weight16: Int16

    /// What kube2sky writes (an IPv4 host, nothing else but priority, weight and TTL) inline;
    /// anything else behind one reference.
    private enum Storage: Sendable {
        case ipv4(IPv4Address)
        case none
        case extended(ExtendedFields)
    }

    /// The target and value fields most records leave at their defaults.
    private final class ExtendedFields: Sendable {
        let target: Target
        /// The host as written, when it is a name (an address is printed from its bytes).
        let host: String
        let port: Int
        /// Priority and weight when they do not fit in 16 bits (Go's int is 64).
        let widePriority: Int?
        let wideWeight: Int?
        let text: String
        let mail: Bool
        let targetStrip: Int
        let group: String

        /// nil when the record needs nothing beyond the inline fields.
        init?(_ service: ServiceRecord, target: Target) {
            let widePriority = Int16(exactly: service.priority) == nil ? service.priority : nil
            let wideWeight = Int16(exactly: service.weight) == nil ? service.weight : nil
            let inlineTarget = switch target {
            case .ipv4, .none: true
            case .ipv6, .name: false
            }
            guard !inlineTarget || service.port != 0 || !service.text.isEmpty || service.mail || service.targetStrip != 0
                    || !service.group.isEmpty || widePriority != nil || wideWeight != nil else { return nil }
            self.target = target
            if case .name = target { host = service.host } else { host = "" }
            port = service.port
            self.widePriority = widePriority
            self.wideWeight = wideWeight
            text = service.text
            mail = service.mail
            targetStrip = service.targetStrip
            group = service.group
        }
    }

    /// - Parameters:
    ///   - path: the key's labels below the prefix, top-level first.
    ///   - keyTTL: the etcd v2 node TTL or v3 lease TTL, when the key has one.
    public init(path: [String], service: ServiceRecord, keyTTL: UInt32?, defaultTTL: UInt32) throws(RecordError) {
        label = path.last ?? ""
        depth = UInt8(clamping: path.count)
        let target: Target
        if service.host.isEmpty {
            target = .none
        } else if let bytes = parseIPv4(service.host) {
            target = .ipv4(IPv4Address(bytes))
        } else if let bytes = parseIPv6(service.host) {
            target = .ipv6(IPv6Address(bytes))
        } else if let name = Self.hostName(service.host) {
            target = .name(name)
        } else {
            throw .invalidHost(service.host)
        }
        let effectiveTTL = service.ttl == 0 ? defaultTTL : service.ttl
        ttl = min(effectiveTTL, keyTTL ?? UInt32.max)
        priority16 = Int16(truncatingIfNeeded: service.priority)
        weight16 = Int16(truncatingIfNeeded: service.weight)
        if let extended = ExtendedFields(service, target: target) {
            storage = .extended(extended)
        } else if case .ipv4(let address) = target {
            storage = .ipv4(address)
        } else {
            storage = .none
        }
    }

    private var extended: ExtendedFields? {
        if case .extended(let fields) = storage { return fields }
        return nil
    }

    public var target: Target {
        switch storage {
        case .ipv4(let address): .ipv4(address)
        case .none: .none
        case .extended(let fields): fields.target
        }
    }

    public var priority: Int { extended?.widePriority ?? Int(priority16) }
    public var weight: Int { extended?.wideWeight ?? Int(weight16) }

    /// The host as the value gave it (an address in its usual text form).
    public var host: String {
        switch target {
        case .ipv4(let address): ARecord(bytes: address.bytes).description
        case .ipv6(let address): AAAARecord(bytes: address.bytes).description
        case .name: extended?.host ?? ""
        case .none: ""
        }
    }

    public var port: Int { extended?.port ?? 0 }
    public var text: String { extended?.text ?? "" }
    public var mail: Bool { extended?.mail ?? false }
    public var targetStrip: Int { extended?.targetStrip ?? 0 }
    public var group: String { extended?.group ?? "" }
    public var hasGroup: Bool { extended.map { !$0.group.isEmpty } ?? false }

    public static func == (lhs: StoredRecord, rhs: StoredRecord) -> Bool {
        lhs === rhs || (lhs.label == rhs.label && lhs.target == rhs.target && lhs.ttl == rhs.ttl && lhs.host == rhs.host
            && lhs.priority == rhs.priority && lhs.weight == rhs.weight && lhs.port == rhs.port && lhs.text == rhs.text
            && lhs.mail == rhs.mail && lhs.targetStrip == rhs.targetStrip && lhs.group == rhs.group)
    }

    /// A host that is a name must be one: letters, digits, `-`, `_`, `*` labels of 1 to 63 bytes.
    private static func hostName(_ host: String) -> DomainName? {
        guard let name = try? DomainName(host) else { return nil }
        let valid = name.labels.allSatisfy { label in
            label.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "*")
            }
        }
        return valid && !name.isRoot ? name : nil
    }
}

/// An IPv4 address held in one word, so a record carries it without an array allocation.
public struct IPv4Address: Hashable, Sendable {
    /// The address in host order: 10.0.0.1 is 0x0A000001.
    public let value: UInt32

    public init(_ bytes: [UInt8]) {
        precondition(bytes.count == 4)
        value = bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    public var bytes: [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }
}

/// An IPv6 address held in two words.
public struct IPv6Address: Hashable, Sendable {
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public init(_ bytes: [UInt8]) {
        precondition(bytes.count == 16)
        high = bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        low = bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
    }

    public var bytes: [UInt8] {
        (0..<16).map { index in
            UInt8(truncatingIfNeeded: (index < 8 ? high : low) >> (56 - 8 * (index % 8)))
        }
    }

    func write(to writer: inout WireWriter) {
        writer.writeUInt32(UInt32(truncatingIfNeeded: high >> 32))
        writer.writeUInt32(UInt32(truncatingIfNeeded: high))
        writer.writeUInt32(UInt32(truncatingIfNeeded: low >> 32))
        writer.writeUInt32(UInt32(truncatingIfNeeded: low))
    }
}
