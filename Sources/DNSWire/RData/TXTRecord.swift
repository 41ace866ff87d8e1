public struct TXTRecord: Hashable, Sendable {
    /// Character strings of at most 255 bytes each.
    public var strings: [[UInt8]]

    public init(strings: [[UInt8]]) { self.strings = strings }

    /// Splits `text` into 255-byte character strings, as SkyDNS does for long values.
    public init(text: String) {
        let bytes = Array(text.utf8)
        strings = bytes.isEmpty ? [[]] : stride(from: 0, to: bytes.count, by: 255).map {
            Array(bytes[$0..<min($0 + 255, bytes.count)])
        }
    }

    init(from reader: inout WireReader, length: Int) throws {
        let end = reader.offset + length
        strings = []
        while reader.offset < end {
            let count = Int(try reader.readUInt8())
            guard reader.offset + count <= end else { throw WireError.badRDataLength }
            strings.append(try reader.readBytes(count))
        }
    }

    /// A string over 255 bytes (only `init(strings:)` can make one) is written as its first 255.
    func write(to writer: inout WireWriter) {
        for string in strings {
            let length = UInt8(clamping: string.count)
            writer.writeUInt8(length)
            writer.writeBytes(string.prefix(Int(length)))
        }
    }
}
