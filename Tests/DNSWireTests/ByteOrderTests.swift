import DNSWire
import Testing

// The one big-endian writer (network byte order, RFC 1035 §2.3.2), used by `WireWriter` and by
// DNSSEC's canonical forms.

@Suite("Big-endian integers")
struct ByteOrderTests {
    enum Value: Sendable {
        case sixteen(UInt16)
        case thirtyTwo(UInt32)
    }

    static let cases: [(Value, [UInt8])] = [
        (.sixteen(0), [0, 0]), (.sixteen(0x0102), [1, 2]), (.sixteen(0xFF00), [0xFF, 0]), (.sixteen(0x00FF), [0, 0xFF]),
        (.sixteen(0xFFFF), [0xFF, 0xFF]),
        (.thirtyTwo(0), [0, 0, 0, 0]), (.thirtyTwo(0x0102_0304), [1, 2, 3, 4]), (.thirtyTwo(0x8000_0000), [0x80, 0, 0, 0]),
        (.thirtyTwo(0x0000_00FF), [0, 0, 0, 0xFF]), (.thirtyTwo(0xFFFF_FFFF), [0xFF, 0xFF, 0xFF, 0xFF]),
    ]

    @Test("most significant byte first, appended and through WireWriter", arguments: cases)
    func bigEndian(value: Value, bytes: [UInt8]) {
        var appended: [UInt8] = [9]
        var writer = WireWriter()
        switch value {
        case .sixteen(let value):
            appended.appendBigEndian(value)
            writer.writeUInt16(value)
            #expect(writer.uint16(at: 0) == value)
        case .thirtyTwo(let value):
            appended.appendBigEndian(value)
            writer.writeUInt32(value)
            #expect(writer.uint32(at: 0) == value)
        }
        #expect(appended == [9] + bytes)
        #expect(writer.bytes == bytes)
    }
}
