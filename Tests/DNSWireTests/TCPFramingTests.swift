import Testing
@testable import DNSWire

@Suite("TCP framing")
struct TCPFramingTests {
    static let messages: [[UInt8]] = [
        queryMessage("a.example.com"),
        [],
        queryMessage("b.example.com", type: .srv, edns: EDNS()),
        [UInt8](repeating: 0x5A, count: 300),
    ]
    static let stream: [UInt8] = messages.flatMap(TCPFraming.frame)

    func drain(_ deframer: inout TCPDeframer) -> [[UInt8]] {
        var out: [[UInt8]] = []
        while let message = deframer.nextMessage() { out.append(Array(message)) }
        return out
    }

    @Test("frame prefixes the big-endian length", arguments: [
        ([UInt8](), [UInt8(0), 0]),
        ([1, 2, 3], [0, 3, 1, 2, 3]),
        ([UInt8](repeating: 7, count: 256), [1, 0] + [UInt8](repeating: 7, count: 256)),
    ])
    func frame(message: [UInt8], framed: [UInt8]) {
        #expect(TCPFraming.frame(message) == framed)
    }

    @Test("byte-at-a-time feeding yields each message once it is complete")
    func byteAtATime() {
        var deframer = TCPDeframer()
        var out: [[UInt8]] = []
        for byte in Self.stream {
            deframer.append(CollectionOfOne(byte))
            out += drain(&deframer)
        }
        #expect(out == Self.messages)
        #expect(deframer.pendingByteCount == 0)
        #expect(deframer.nextMessage() == nil)
    }

    @Test("two messages in one chunk")
    func twoInOneChunk() {
        var deframer = TCPDeframer()
        deframer.append(TCPFraming.frame(Self.messages[0]) + TCPFraming.frame(Self.messages[2]))
        #expect(deframer.nextMessage().map(Array.init) == Self.messages[0])
        #expect(deframer.nextMessage().map(Array.init) == Self.messages[2])
        #expect(deframer.nextMessage() == nil)
    }

    @Test("partial length prefix waits for its second byte")
    func partialPrefix() {
        var deframer = TCPDeframer()
        let framed = TCPFraming.frame([UInt8](repeating: 1, count: 0x0102))
        deframer.append(framed.prefix(1))
        #expect(deframer.nextMessage() == nil)
        #expect(deframer.pendingByteCount == 1)
        deframer.append(framed[1..<2])
        #expect(deframer.nextMessage() == nil)
        deframer.append(framed[2..<100])
        #expect(deframer.nextMessage() == nil)
        #expect(deframer.pendingByteCount == 100)
        deframer.append(framed[100...])
        #expect(deframer.nextMessage()?.count == 0x0102)
        #expect(deframer.pendingByteCount == 0)
    }

    @Test("every two-chunk split of the stream yields the same messages")
    func everySplit() {
        for split in 0...Self.stream.count {
            var deframer = TCPDeframer()
            deframer.append(Self.stream[..<split])
            var out = drain(&deframer)
            deframer.append(Self.stream[split...])
            out += drain(&deframer)
            #expect(out == Self.messages, "split at \(split)")
        }
    }

    @Test("a 65535-byte message is framed and deframed")
    func largest() {
        let big = (0..<65535).map { UInt8(truncatingIfNeeded: $0) }
        var deframer = TCPDeframer()
        deframer.append(TCPFraming.frame(big))
        #expect(deframer.nextMessage().map(Array.init) == big)
    }

    @Test("the buffer stays small on a long stream whose chunks never end on a message boundary")
    func bufferStaysBounded() {
        let framed = TCPFraming.frame(queryMessage("x.skydns.local"))
        var deframer = TCPDeframer()
        // One odd byte first, then whole-message-sized chunks: every chunk ends one byte into a message.
        deframer.append(framed.prefix(1))
        let rotated = Array(framed[1...] + framed.prefix(1))
        var received = 0
        var largestBuffer = 0
        for _ in 0..<2000 {
            deframer.append(rotated)
            while let message = deframer.nextMessage() {
                #expect(Array(message) == Array(framed[2...]))
                received += 1
            }
            largestBuffer = max(largestBuffer, bufferCount(deframer))
        }
        #expect(received == 2000)
        #expect(deframer.pendingByteCount == 1)
        #expect(largestBuffer <= 2 * framed.count)
    }

    /// The deframer's internal buffer size, read by reflection so the type keeps its encapsulation.
    func bufferCount(_ deframer: TCPDeframer) -> Int {
        for child in Mirror(reflecting: deframer).children where child.label == "buffer" {
            return (child.value as? [UInt8])?.count ?? .max
        }
        return .max
    }
}
