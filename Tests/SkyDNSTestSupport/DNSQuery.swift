import DNSWire
import Testing

/// How a test query travels.
public enum QueryTransport: String, Sendable {
    case udp, tcp
}

/// A reply as received and as parsed.
public struct Reply {
    public var bytes: [UInt8]
    public var message: Message

    public init(bytes: [UInt8], message: Message) {
        self.bytes = bytes
        self.message = message
    }
}

/// Builds a query (RD set, as dig sends it), sends it to 127.0.0.1:`port`, and parses the reply,
/// checking that it answers this query: same ID, QR set, the question echoed with the client's
/// casing.
public func query(_ name: String, _ type: RecordType, class recordClass: RecordClass = .in, port: UInt16,
                  transport: QueryTransport = .udp, ednsSize: UInt16? = nil, timeout: Duration = .seconds(2),
                  sourceLocation: SourceLocation = #_sourceLocation) throws -> Reply {
    let question = Question(name: try DomainName(name), type: type, recordClass: recordClass)
    let id = UInt16.random(in: 1...UInt16.max)
    let request = Message(header: Header(id: id, flags: Header.rdBit), questions: [question],
                          edns: ednsSize.map { EDNS(udpPayloadSize: $0) })
    let bytes = request.encode()
    let reply = switch transport {
    case .udp: try udpExchange(bytes, port: port, timeout: timeout)
    case .tcp: try tcpExchange(bytes, port: port, timeout: timeout)
    }
    let message = try Message(parsing: reply)
    #expect(message.header.id == id, sourceLocation: sourceLocation)
    #expect(message.header.isResponse, sourceLocation: sourceLocation)
    #expect(message.questions.count == 1, sourceLocation: sourceLocation)
    if let echoed = message.questions.first {
        #expect(echoed.name.wire == question.name.wire, "question echoed with the client's casing",
                sourceLocation: sourceLocation)
        #expect(echoed.type == type && echoed.recordClass == recordClass, sourceLocation: sourceLocation)
    }
    return Reply(bytes: reply, message: message)
}
