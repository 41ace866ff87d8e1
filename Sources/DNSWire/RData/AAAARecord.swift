public struct AAAARecord: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(_ text: String) {
        guard let bytes = parseIPv6(text) else { return nil }
        self.bytes = bytes
    }

    /// - Precondition: `bytes` holds sixteen bytes.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 16, "an IPv6 address is sixteen bytes")
        self.bytes = bytes
    }

    init(from reader: inout WireReader, length: Int) throws {
        guard length == 16 else { throw WireError.badRDataLength }
        bytes = try reader.readBytes(16)
    }

    public var description: String { formatAddress(bytes, family: .v6) }
}
