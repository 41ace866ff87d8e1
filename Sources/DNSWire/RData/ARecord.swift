public struct ARecord: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(_ text: String) {
        guard let bytes = parseIPv4(text) else { return nil }
        self.bytes = bytes
    }

    /// - Precondition: `bytes` holds four bytes.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 4, "an IPv4 address is four bytes")
        self.bytes = bytes
    }

    init(from reader: inout WireReader, length: Int) throws {
        guard length == 4 else { throw WireError.badRDataLength }
        bytes = try reader.readBytes(4)
    }

    public var description: String { formatAddress(bytes, family: .v4) }
}
