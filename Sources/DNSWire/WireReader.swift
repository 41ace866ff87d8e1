/// Reads big-endian integers and compressed names from a message, bounds-checked at every step.
public struct WireReader: Sendable {
    public let bytes: [UInt8]
    public var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    /// The most compression pointers one name may be reached through: a name has at most 127
    /// labels (255 bytes), and an encoder needs no more than one pointer per label.
    public static let maxPointers = 127

    public mutating func readUInt8() throws -> UInt8 {
        guard offset < bytes.count else { throw WireError.truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readUInt16() throws -> UInt16 {
        guard offset + 2 <= bytes.count else { throw WireError.truncated }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    public mutating func readUInt32() throws -> UInt32 {
        guard offset + 4 <= bytes.count else { throw WireError.truncated }
        defer { offset += 4 }
        return bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    public mutating func readBytes(_ count: Int) throws -> [UInt8] {
        guard count >= 0, offset + count <= bytes.count else { throw WireError.truncated }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// Reads a possibly compressed name (RFC 1035 §4.1.4). A pointer must point strictly before
    /// the run of labels that holds it (not merely before itself: `01 61 C0 0C` at offset 12
    /// points behind itself yet loops), so every jump lands earlier than the last and loops are
    /// impossible. Labels over 63 bytes, the reserved label types and names over 255 bytes are
    /// rejected, and so are names reached through more than `maxPointers` pointers: a chain of
    /// pointers each naming the one before it is loop-free yet, 16,000 long in a 64 KiB message
    /// and named by thousands of owners, cost seconds of CPU per message.
    public mutating func readName() throws -> DomainName {
        var wire: [UInt8] = []
        var position = offset
        var runStart = offset
        var pointers = 0
        var endAfterFirstPointer: Int?
        while true {
            guard position < bytes.count else { throw WireError.truncated }
            let length = bytes[position]
            switch length & 0xC0 {
            case 0x00:
                if length == 0 {
                    wire.append(0)
                    guard wire.count <= DomainName.maxLength else { throw WireError.nameTooLong }
                    offset = endAfterFirstPointer ?? position + 1
                    return DomainName(uncheckedWire: wire)
                }
                let end = position + 1 + Int(length)
                guard end <= bytes.count else { throw WireError.truncated }
                wire.append(contentsOf: bytes[position..<end])
                guard wire.count < DomainName.maxLength else { throw WireError.nameTooLong }
                position = end
            case 0xC0:
                guard position + 1 < bytes.count else { throw WireError.truncated }
                let target = Int(length & 0x3F) << 8 | Int(bytes[position + 1])
                guard target <= position else { throw WireError.forwardPointer }
                guard target < runStart else { throw WireError.pointerLoop }
                pointers += 1
                guard pointers <= Self.maxPointers else { throw WireError.tooManyPointers }
                if endAfterFirstPointer == nil { endAfterFirstPointer = position + 2 }
                position = target
                runStart = target
            default:
                throw WireError.badLabelType(length)
            }
        }
    }
}
