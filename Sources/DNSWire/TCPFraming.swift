/// DNS over TCP prefixes every message with its length in two bytes (RFC 1035 §4.2.2,
/// RFC 7766). The deframer takes bytes as they arrive and yields whole messages.
public struct TCPDeframer: Sendable {
    private var buffer: [UInt8] = []
    private var consumed = 0

    public init() {}

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        // Drop what has been handed out. Waiting until everything is consumed is not enough: on a
        // pipelined connection whose reads never end on a message boundary that never happens and
        // the buffer would grow with every message ever received.
        if consumed > 0 {
            buffer.removeSubrange(..<consumed)
            consumed = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message, or nil until more bytes arrive.
    public mutating func nextMessage() -> ArraySlice<UInt8>? {
        let available = buffer.count - consumed
        guard available >= 2 else { return nil }
        let length = Int(buffer[consumed]) << 8 | Int(buffer[consumed + 1])
        guard available >= 2 + length else { return nil }
        let start = consumed + 2
        consumed = start + length
        return buffer[start..<consumed]
    }

    /// Whether a whole message is waiting to be taken.
    public var hasCompleteMessage: Bool {
        let available = buffer.count - consumed
        guard available >= 2 else { return false }
        return available >= 2 + (Int(buffer[consumed]) << 8 | Int(buffer[consumed + 1]))
    }

    /// Bytes received that do not yet form a whole message.
    public var pendingByteCount: Int { buffer.count - consumed }
}

public enum TCPFraming {
    public static func frame(_ message: [UInt8]) -> [UInt8] {
        var framed: [UInt8] = []
        append(message, to: &framed)
        return framed
    }

    /// Appends `message` with its two-byte length to `output` (replies gathered for one send).
    public static func append(_ message: some Collection<UInt8>, to output: inout [UInt8]) {
        precondition(message.count <= 65535, "a DNS message over TCP is at most 65535 bytes")
        output.append(UInt8(message.count >> 8))
        output.append(UInt8(message.count & 0xFF))
        output.append(contentsOf: message)
    }
}
