/// The parts of a query the answer path needs, read straight from the packet without building
/// a `Message`: the header, the single question and the OPT record. The question name is copied
/// lower-cased into a caller-owned buffer, so parsing allocates nothing.
public struct QueryView: Sendable {
    public var id: UInt16
    public var flags: UInt16
    public var type: RecordType
    public var recordClass: RecordClass
    /// Length of the question name in wire form (it is never compressed in a valid query).
    public var nameLength: Int
    /// Offset just past the question; bytes 12..<questionEnd are echoed in the response.
    public var questionEnd: Int
    public var edns: EDNSView?

    public var opcode: Opcode { Opcode(rawValue: UInt8((flags >> 11) & 0xF)) }
    public var recursionDesired: Bool { flags & Header.rdBit != 0 }
    public var checkingDisabled: Bool { flags & Header.cdBit != 0 }

    /// The largest response the client accepts over UDP.
    public var udpLimit: Int {
        guard let edns else { return 512 }
        return Int(max(edns.udpPayloadSize, EDNS.minimumPayloadSize))
    }
}

public struct EDNSView: Sendable, Equatable {
    public var udpPayloadSize: UInt16
    public var version: UInt8
    public var dnssecOK: Bool
}

public enum QueryParseResult: Sendable {
    case query(QueryView)
    /// The header was readable but the rest is not a query we can answer: reply with `rcode`.
    case reject(id: UInt16, flags: UInt16, rcode: ResponseCode)
    /// Not even a header, or a response: say nothing.
    case drop
}

public enum QueryParser {
    /// Size of the buffer `parse` writes the lower-cased question name into.
    public static let nameBufferSize = DomainName.maxLength

    public static func parse(_ packet: UnsafeRawBufferPointer, lowercasedName name: UnsafeMutablePointer<UInt8>) -> QueryParseResult {
        let count = packet.count
        guard count >= Header.size else { return .drop }
        func u16(_ at: Int) -> UInt16 { UInt16(packet[at]) << 8 | UInt16(packet[at + 1]) }
        let id = u16(0)
        let flags = u16(2)
        if flags & Header.qrBit != 0 { return .drop }
        guard Opcode(rawValue: UInt8((flags >> 11) & 0xF)) == .query else {
            return .reject(id: id, flags: flags, rcode: .notImp)
        }
        guard u16(4) == 1 else { return .reject(id: id, flags: flags, rcode: .formErr) }
        let recordCount = Int(u16(6)) + Int(u16(8)) + Int(u16(10))

        // The question name: plain labels only, since no earlier name exists to point to.
        var offset = Header.size
        var length = 0
        while true {
            guard offset < count else { return .reject(id: id, flags: flags, rcode: .formErr) }
            let labelLength = Int(packet[offset])
            guard labelLength & 0xC0 == 0 else { return .reject(id: id, flags: flags, rcode: .formErr) }
            guard offset + 1 + labelLength <= count, length + 1 + labelLength <= DomainName.maxLength else {
                return .reject(id: id, flags: flags, rcode: .formErr)
            }
            name[length] = UInt8(labelLength)
            for index in 0..<labelLength {
                name[length + 1 + index] = asciiLowercase(packet[offset + 1 + index])
            }
            length += 1 + labelLength
            offset += 1 + labelLength
            if labelLength == 0 { break }
        }
        guard offset + 4 <= count else { return .reject(id: id, flags: flags, rcode: .formErr) }
        var view = QueryView(id: id, flags: flags, type: RecordType(u16(offset)),
                             recordClass: RecordClass(rawValue: u16(offset + 2)), nameLength: length,
                             questionEnd: offset + 4, edns: nil)
        offset += 4

        // Walk the remaining records only to find the OPT record.
        for index in 0..<recordCount {
            let isAdditional = index >= recordCount - Int(u16(10))
            guard let nameEnd = skipName(packet, from: offset), nameEnd + 10 <= count else {
                return .reject(id: id, flags: flags, rcode: .formErr)
            }
            let type = RecordType(u16(nameEnd))
            let dataLength = Int(u16(nameEnd + 8))
            guard nameEnd + 10 + dataLength <= count else { return .reject(id: id, flags: flags, rcode: .formErr) }
            if isAdditional && type == .opt {
                guard view.edns == nil, nameEnd == offset + 1 else { return .reject(id: id, flags: flags, rcode: .formErr) }
                view.edns = EDNSView(udpPayloadSize: u16(nameEnd + 2), version: packet[nameEnd + 5],
                                     dnssecOK: packet[nameEnd + 6] & 0x80 != 0)
            }
            offset = nameEnd + 10 + dataLength
        }
        return .query(view)
    }

    /// Offset just past a possibly compressed name, without following pointers.
    private static func skipName(_ packet: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var offset = start
        while offset < packet.count {
            let labelLength = packet[offset]
            switch labelLength & 0xC0 {
            case 0x00:
                if labelLength == 0 { return offset + 1 }
                offset += 1 + Int(labelLength)
            case 0xC0:
                return offset + 2 <= packet.count ? offset + 2 : nil
            default:
                return nil
            }
        }
        return nil
    }
}
