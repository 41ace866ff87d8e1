/// The fixed 12-byte message header (RFC 1035 §4.1.1). Flags stay packed in one word, as on the
/// wire, so copying a header is cheap and unknown bits survive a round trip.
public struct Header: Equatable, Sendable {
    public static let size = 12

    public var id: UInt16
    public var flags: UInt16
    public var questionCount: UInt16
    public var answerCount: UInt16
    public var authorityCount: UInt16
    public var additionalCount: UInt16

    public init(id: UInt16 = 0, flags: UInt16 = 0, questionCount: UInt16 = 0, answerCount: UInt16 = 0,
                authorityCount: UInt16 = 0, additionalCount: UInt16 = 0) {
        self.id = id
        self.flags = flags
        self.questionCount = questionCount
        self.answerCount = answerCount
        self.authorityCount = authorityCount
        self.additionalCount = additionalCount
    }

    public static let qrBit: UInt16 = 0x8000
    public static let aaBit: UInt16 = 0x0400
    public static let tcBit: UInt16 = 0x0200
    public static let rdBit: UInt16 = 0x0100
    public static let raBit: UInt16 = 0x0080
    public static let adBit: UInt16 = 0x0020
    public static let cdBit: UInt16 = 0x0010

    private func bit(_ mask: UInt16) -> Bool { flags & mask != 0 }
    private mutating func set(_ mask: UInt16, _ on: Bool) { flags = on ? flags | mask : flags & ~mask }

    public var isResponse: Bool { get { bit(Self.qrBit) } set { set(Self.qrBit, newValue) } }
    public var isAuthoritative: Bool { get { bit(Self.aaBit) } set { set(Self.aaBit, newValue) } }
    public var isTruncated: Bool { get { bit(Self.tcBit) } set { set(Self.tcBit, newValue) } }
    public var recursionDesired: Bool { get { bit(Self.rdBit) } set { set(Self.rdBit, newValue) } }
    public var recursionAvailable: Bool { get { bit(Self.raBit) } set { set(Self.raBit, newValue) } }
    public var checkingDisabled: Bool { get { bit(Self.cdBit) } set { set(Self.cdBit, newValue) } }

    public var opcode: Opcode {
        get { Opcode(rawValue: UInt8((flags >> 11) & 0xF)) }
        set { flags = (flags & ~0x7800) | (UInt16(newValue.rawValue & 0xF) << 11) }
    }

    public var responseCode: ResponseCode {
        get { ResponseCode(rawValue: UInt8(flags & 0xF)) }
        set { flags = (flags & ~0xF) | UInt16(newValue.rawValue & 0xF) }
    }

    public static func read(from reader: inout WireReader) throws -> Header {
        Header(id: try reader.readUInt16(), flags: try reader.readUInt16(),
               questionCount: try reader.readUInt16(), answerCount: try reader.readUInt16(),
               authorityCount: try reader.readUInt16(), additionalCount: try reader.readUInt16())
    }

    public func write(to writer: inout WireWriter) {
        writer.writeUInt16(id)
        writer.writeUInt16(flags)
        writer.writeUInt16(questionCount)
        writer.writeUInt16(answerCount)
        writer.writeUInt16(authorityCount)
        writer.writeUInt16(additionalCount)
    }
}
