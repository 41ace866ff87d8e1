/// A domain name held in uncompressed wire form (length-prefixed labels ending in the root's zero
/// byte), keeping the case it was given. Equality and hashing ignore ASCII case (RFC 4343).
public struct DomainName: Hashable, Sendable, CustomStringConvertible {
    public static let maxLength = 255
    public static let maxLabelLength = 63
    public static let root = DomainName(uncheckedWire: [0])

    /// The name in wire form, always ending in a zero byte.
    public private(set) var wire: [UInt8]

    init(uncheckedWire: [UInt8]) { self.wire = uncheckedWire }

    /// Builds a name from labels (without dots). Fails on empty or over-long labels or names.
    public init<S: Sequence>(labels: S) throws where S.Element: Collection, S.Element.Element == UInt8 {
        var wire: [UInt8] = []
        for label in labels {
            guard !label.isEmpty else { throw WireError.emptyLabel }
            guard label.count <= Self.maxLabelLength else { throw WireError.labelTooLong }
            wire.append(UInt8(label.count))
            wire.append(contentsOf: label)
        }
        wire.append(0)
        guard wire.count <= Self.maxLength else { throw WireError.nameTooLong }
        self.wire = wire
    }

    /// Takes an uncompressed wire-form name (as found in a query's question), checking its shape.
    public init<C: Collection>(wire bytes: C) throws where C.Element == UInt8 {
        let wire = Array(bytes)
        var index = 0
        while index < wire.count && wire[index] != 0 {
            guard wire[index] <= Self.maxLabelLength else { throw WireError.labelTooLong }
            index += Int(wire[index]) + 1
        }
        guard index == wire.count - 1 else { throw WireError.truncated }
        guard wire.count <= Self.maxLength else { throw WireError.nameTooLong }
        self.wire = wire
    }

    /// The name without its first `count` labels: the root when it has no more, the name itself
    /// when `count` is 0 or negative. The work is bounded by the name's labels, whatever `count`.
    public func droppingFirstLabels(_ count: Int) -> DomainName {
        var index = 0
        var dropped = 0
        while dropped < count && wire[index] != 0 {
            index += Int(wire[index]) + 1
            dropped += 1
        }
        return DomainName(uncheckedWire: Array(wire[index...]))
    }

    /// The name with `label` put in front.
    public func prepending(_ label: String) throws -> DomainName {
        let count = label.utf8.count
        guard count > 0 else { throw WireError.emptyLabel }
        guard count <= Self.maxLabelLength else { throw WireError.labelTooLong }
        guard wire.count + count + 1 <= Self.maxLength else { throw WireError.nameTooLong }
        var prefixed: [UInt8] = []
        prefixed.reserveCapacity(wire.count + count + 1)
        prefixed.append(UInt8(count))
        prefixed.append(contentsOf: label.utf8)
        prefixed.append(contentsOf: wire)
        return DomainName(uncheckedWire: prefixed)
    }

    /// Parses presentation form: `kafka.domeos.sohu` or `kafka.domeos.sohu.`; `.` is the root.
    /// `\.` and `\DDD` escapes are understood.
    public init(_ text: String) throws {
        if text == "." || text.isEmpty { self = .root; return }
        var labels: [[UInt8]] = []
        var label: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            switch byte {
            case UInt8(ascii: "."):
                guard !label.isEmpty else { throw WireError.emptyLabel }
                labels.append(label)
                label = []
            case UInt8(ascii: "\\"):
                guard let next = bytes.popFirst() else { throw WireError.invalidText(text) }
                if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(next) {
                    guard bytes.count >= 2 else { throw WireError.invalidText(text) }
                    let digits = [next, bytes.removeFirst(), bytes.removeFirst()]
                    guard digits.allSatisfy({ (48...57).contains($0) }) else { throw WireError.invalidText(text) }
                    let value = digits.reduce(0) { $0 * 10 + Int($1 - 48) }
                    guard value <= 255 else { throw WireError.invalidText(text) }
                    label.append(UInt8(value))
                } else {
                    label.append(next)
                }
            default:
                label.append(byte)
            }
        }
        if !label.isEmpty { labels.append(label) }
        try self.init(labels: labels)
    }

    public var isRoot: Bool { wire.count == 1 }

    /// The labels from left to right, as slices of `wire`.
    public var labels: [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var index = 0
        while wire[index] != 0 {
            let length = Int(wire[index])
            result.append(wire[(index + 1)..<(index + 1 + length)])
            index += length + 1
        }
        return result
    }

    public var labelCount: Int { labels.count }

    /// The same name in lower case, as keys are stored.
    public func lowercased() -> DomainName {
        DomainName(uncheckedWire: wire.map(asciiLowercase))
    }

    /// True when `self` equals `other` or lies below it.
    public func isSubdomain(of other: DomainName) -> Bool {
        guard wire.count >= other.wire.count else { return false }
        // Walk label boundaries so that `xa.b` is not taken as below `a.b`.
        var index = 0
        let target = wire.count - other.wire.count
        while index < target {
            index += Int(wire[index]) + 1
        }
        guard index == target else { return false }
        return zip(wire[index...], other.wire).allSatisfy { asciiLowercase($0) == asciiLowercase($1) }
    }

    public static func == (lhs: DomainName, rhs: DomainName) -> Bool {
        lhs.wire.count == rhs.wire.count
            && zip(lhs.wire, rhs.wire).allSatisfy { asciiLowercase($0) == asciiLowercase($1) }
    }

    public func hash(into hasher: inout Hasher) {
        for byte in wire { hasher.combine(asciiLowercase(byte)) }
    }

    /// Presentation form with the final dot; dots and unprintable bytes inside labels escaped.
    public var description: String {
        if isRoot { return "." }
        var text = ""
        for label in labels {
            for byte in label {
                switch byte {
                case UInt8(ascii: "."), UInt8(ascii: "\\"):
                    text.append("\\")
                    text.append(Character(Unicode.Scalar(byte)))
                case 0x21...0x7E:
                    text.append(Character(Unicode.Scalar(byte)))
                default:
                    let digits = String(byte)
                    text.append("\\" + String(repeating: "0", count: 3 - digits.count) + digits)
                }
            }
            text.append(".")
        }
        return text
    }
}

@inline(__always)
public func asciiLowercase(_ byte: UInt8) -> UInt8 {
    byte &+ ((byte &- 0x41) < 26 ? 0x20 : 0)
}
