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
    /// The TTL this record is answered with, before the per-answer minimum is taken; at most
    /// 2^31 − 1 (RFC 2181 §8).
    public let ttl: UInt32
    private let priority16: UInt16
    private let weight16: UInt16

    /// What kube2sky writes (an IPv4 host, nothing else but priority, weight and TTL) inline;
    /// anything else behind one reference.
    private enum Storage: Sendable {
        case ipv4(IPv4Address)
        case none
        case extended(ExtendedFields)
    }

    /// The target and value fields most records leave at their defaults, already in the form
    /// and range the wire needs.
    private final class ExtendedFields: Sendable {
        let target: Target
        /// The host as written, when it is a name (an address is printed from its bytes).
        let host: String
        let port: UInt16
        /// The text split into character strings, nil when there is none.
        let txt: TXTRecord?
        let mail: Bool
        /// Fewer than the labels of the name it strips (checked when the record is made).
        let targetStrip: UInt8
        let group: String

        /// nil when the record needs nothing beyond the inline fields.
        init?(_ service: ServiceRecord, target: Target, port: UInt16, txt: TXTRecord?, targetStrip: UInt8) {
            let inlineTarget = switch target {
            case .ipv4, .none: true
            case .ipv6, .name: false
            }
            guard !inlineTarget || port != 0 || txt != nil || service.mail || targetStrip != 0
                    || !service.group.isEmpty else { return nil }
            self.target = target
            if case .name = target { host = service.host } else { host = "" }
            self.port = port
            self.txt = txt
            mail = service.mail
            self.targetStrip = targetStrip
            group = service.group
        }
    }

    /// The longest `text` a record may hold, in bytes: split into 255-byte character strings,
    /// it still fits one DNS message (64 KiB) with its header, question, owner and OPT record.
    public static let maxTextBytes = 64_000

    /// The largest TTL a record is answered with: RFC 2181 §8 caps TTLs at 2^31 − 1.
    public static let maxTTL = UInt32(Int32.max)

    /// Builds the record the answer path uses from a decoded value, fitting every field to the
    /// wire once, here, so that answering has nothing left to check.
    ///
    /// - Parameters:
    ///   - path: the key's labels below the prefix, top-level first (each 1–63 bytes, at most
    ///     255 bytes as a name: `RecordKeyMapper.path` checks that).
    ///   - keyTTL: the etcd v2 node TTL or v3 lease TTL, when the key has one.
    ///   - clamped: gets one line for each field that was out of range and clamped.
    /// - Throws: `RecordError.invalidHost` for a host that is neither an address nor a host name;
    ///   `RecordError.outOfRange` for a port outside 0...65535, a `targetstrip` that is negative
    ///   or would strip every label, and a `text` over `maxTextBytes`.
    public init(path: [String], service: ServiceRecord, keyTTL: UInt32?, defaultTTL: UInt32,
                clamped: inout [String]) throws(RecordError) {
        label = path.last ?? ""
        depth = UInt8(clamping: path.count)
        let target: Target
        if service.host.isEmpty {
            target = .none
        } else if let bytes = parseIPv4(service.host) {
            target = .ipv4(IPv4Address(bytes))
        } else if let bytes = parseIPv6(service.host) {
            // An IPv4-mapped address (`::ffff:10.0.0.1`, as a dual-stack socket reports a peer)
            // is the IPv4 address it maps, an A record, as SkyDNS (Go's `To4`) answered it: such
            // addresses stay out of the DNS (RFC 4038 §4.2), and IPv4-only clients need the A.
            let isIPv4Mapped = bytes.prefix(10).allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
            target = isIPv4Mapped ? .ipv4(IPv4Address(Array(bytes[12...]))) : .ipv6(IPv6Address(bytes))
        } else if let name = Self.hostName(service.host) {
            target = .name(name)
        } else {
            throw .invalidHost(service.host)
        }
        guard let port = UInt16(exactly: service.port) else {
            throw .outOfRange("field \"port\": \(service.port) is not in 0...65535")
        }
        // SRV and MX strip the host name's labels, or the key's when the host is an address; the
        // target must keep at least one (the root is no host).
        let strippable = if case .name(let name) = target { name.labelCount } else { path.count }
        guard service.targetStrip >= 0, service.targetStrip < strippable, let targetStrip = UInt8(exactly: service.targetStrip) else {
            throw .outOfRange("field \"targetstrip\": \(service.targetStrip) is not in 0...\(strippable - 1) (the labels of the name it strips)")
        }
        let textBytes = service.text.utf8.count
        guard textBytes <= Self.maxTextBytes else {
            throw .outOfRange("field \"text\": \(textBytes) bytes, over the \(Self.maxTextBytes) that fit a DNS message")
        }
        priority16 = Self.clamp(service.priority, field: "priority", into: &clamped)
        weight16 = Self.clamp(service.weight, field: "weight", into: &clamped)
        var valueTTL = service.ttl == 0 ? defaultTTL : service.ttl
        if valueTTL > Self.maxTTL {
            clamped.append("field \"ttl\": \(valueTTL) clamped to \(Self.maxTTL) (RFC 2181 §8)")
            valueTTL = Self.maxTTL
        }
        ttl = min(valueTTL, keyTTL ?? UInt32.max)
        let txt = textBytes == 0 ? nil : TXTRecord(text: service.text)
        if let extended = ExtendedFields(service, target: target, port: port, txt: txt, targetStrip: targetStrip) {
            storage = .extended(extended)
        } else if case .ipv4(let address) = target {
            storage = .ipv4(address)
        } else {
            storage = .none
        }
    }

    /// SRV priority and weight are 16 bits on the wire; Go's ints are 64.
    private static func clamp(_ value: Int, field: String, into clamped: inout [String]) -> UInt16 {
        let fitted = UInt16(clamping: value)
        if Int(fitted) != value { clamped.append("field \"\(field)\": \(value) clamped to \(fitted)") }
        return fitted
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

    /// 0...65535.
    public var priority: Int { Int(priority16) }
    /// 0...65535.
    public var weight: Int { Int(weight16) }

    /// The host as the value gave it (an address in its usual text form).
    public var host: String {
        switch target {
        case .ipv4(let address): ARecord(bytes: address.bytes).description
        case .ipv6(let address): AAAARecord(bytes: address.bytes).description
        case .name: extended?.host ?? ""
        case .none: ""
        }
    }

    /// 0...65535.
    public var port: Int { Int(extended?.port ?? 0) }
    /// The TXT data, split into character strings at load; nil when the value has no text.
    public var txt: TXTRecord? { extended?.txt }
    /// The text as one string (the character strings joined).
    public var text: String { String(decoding: txt.map { Array($0.strings.joined()) } ?? [], as: UTF8.self) }
    public var mail: Bool { extended?.mail ?? false }
    /// Fewer than the labels of the name it strips, so a stripped target is never the root.
    public var targetStrip: Int { Int(extended?.targetStrip ?? 0) }
    public var group: String { extended?.group ?? "" }
    public var hasGroup: Bool { extended.map { !$0.group.isEmpty } ?? false }

    public static func == (lhs: StoredRecord, rhs: StoredRecord) -> Bool {
        lhs === rhs || (lhs.label == rhs.label && lhs.target == rhs.target && lhs.ttl == rhs.ttl && lhs.host == rhs.host
            && lhs.priority == rhs.priority && lhs.weight == rhs.weight && lhs.port == rhs.port && lhs.txt == rhs.txt
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

    /// - Parameter bytes: the address in network order; bytes past the fourth are ignored and
    ///   missing ones count as 0 (`parseIPv4` always gives four).
    public init(_ bytes: [UInt8]) {
        value = (0..<4).reduce(0) { $0 << 8 | UInt32(bytes.count > $1 ? bytes[$1] : 0) }
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

    /// - Parameter bytes: the address in network order; bytes past the sixteenth are ignored
    ///   and missing ones count as 0 (`parseIPv6` always gives sixteen).
    public init(_ bytes: [UInt8]) {
        high = (0..<8).reduce(0) { $0 << 8 | UInt64(bytes.count > $1 ? bytes[$1] : 0) }
        low = (8..<16).reduce(0) { $0 << 8 | UInt64(bytes.count > $1 ? bytes[$1] : 0) }
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
