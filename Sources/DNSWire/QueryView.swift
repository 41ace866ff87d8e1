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
    /// Labels of the question name, the root's empty label not counted (0 for the root).
    public var labelCount: Int
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
    /// Where the OPT record's options lie in the packet (RFC 6891 §6.1.2), read only by the
    /// paths that need them (forwarding: the loop mark, the stub-zone marker).
    public var options: Range<Int> = 0..<0
}

/// Why a packet gets no answer from the records: the header alone was readable.
public enum QueryRejection: Error, Sendable, Equatable {
    /// Not even a header, or a response: say nothing.
    case drop
    /// The header was readable but the rest is not a query we can answer: reply with `rcode`.
    case reply(id: UInt16, flags: UInt16, rcode: ResponseCode)
}

public enum QueryParser {
    /// Size of the buffer `parse` writes the lower-cased question name into.
    public static let nameBufferSize = DomainName.maxLength

    /// Reads the header, the single question and the OPT record (RFC 1035 §4.1, RFC 6891 §6.1),
    /// writing the question name lower-cased into `name` (`nameBufferSize` bytes).
    /// - Throws: `QueryRejection.drop` for less than a header or a response;
    ///   `.reply(rcode: .notImp)` for an opcode other than QUERY, `.reply(rcode: .formErr)` for
    ///   anything but exactly one well-formed question, records that overrun the packet, bytes
    ///   after the last record, an owner name `WireReader.readName` would reject (pointer
    ///   chains included), or a second or misplaced OPT.
    public static func parse(_ packet: UnsafeRawBufferPointer,
                             lowercasedName name: UnsafeMutablePointer<UInt8>) throws(QueryRejection) -> QueryView {
        let count = packet.count
        guard count >= Header.size else { throw .drop }
        func u16(_ at: Int) -> UInt16 { UInt16(packet[at]) << 8 | UInt16(packet[at + 1]) }
        let id = u16(0)
        let flags = u16(2)
        if flags & Header.qrBit != 0 { throw .drop }
        guard Opcode(rawValue: UInt8((flags >> 11) & 0xF)) == .query else {
            throw .reply(id: id, flags: flags, rcode: .notImp)
        }
        guard u16(4) == 1 else { throw .reply(id: id, flags: flags, rcode: .formErr) }
        let recordCount = Int(u16(6)) + Int(u16(8)) + Int(u16(10))

        // The question name: plain labels only, since no earlier name exists to point to.
        var offset = Header.size
        var length = 0
        var labels = 0
        while true {
            guard offset < count else { throw .reply(id: id, flags: flags, rcode: .formErr) }
            let labelLength = Int(packet[offset])
            guard labelLength & 0xC0 == 0 else { throw .reply(id: id, flags: flags, rcode: .formErr) }
            guard offset + 1 + labelLength <= count, length + 1 + labelLength <= DomainName.maxLength else {
                throw .reply(id: id, flags: flags, rcode: .formErr)
            }
            name[length] = UInt8(labelLength)
            for index in 0..<labelLength {
                name[length + 1 + index] = asciiLowercase(packet[offset + 1 + index])
            }
            length += 1 + labelLength
            offset += 1 + labelLength
            if labelLength == 0 { break }
            labels += 1
        }
        guard offset + 4 <= count else { throw .reply(id: id, flags: flags, rcode: .formErr) }
        var view = QueryView(id: id, flags: flags, type: RecordType(u16(offset)),
                             recordClass: RecordClass(rawValue: u16(offset + 2)), nameLength: length,
                             labelCount: labels, questionEnd: offset + 4, edns: nil)
        offset += 4

        // Walk the remaining records to find the OPT record, checking each owner name as
        // `WireReader.readName` would: a query a full parse would reject is FORMERR here too.
        for index in 0..<recordCount {
            let isAdditional = index >= recordCount - Int(u16(10))
            guard let nameEnd = validNameEnd(packet, from: offset), nameEnd + 10 <= count else {
                throw .reply(id: id, flags: flags, rcode: .formErr)
            }
            let type = RecordType(u16(nameEnd))
            let dataLength = Int(u16(nameEnd + 8))
            guard nameEnd + 10 + dataLength <= count else { throw .reply(id: id, flags: flags, rcode: .formErr) }
            if isAdditional && type == .opt {
                guard view.edns == nil, nameEnd == offset + 1 else { throw .reply(id: id, flags: flags, rcode: .formErr) }
                view.edns = EDNSView(udpPayloadSize: u16(nameEnd + 2), version: packet[nameEnd + 5],
                                     dnssecOK: packet[nameEnd + 6] & 0x80 != 0,
                                     options: (nameEnd + 10)..<(nameEnd + 10 + dataLength))
            }
            offset = nameEnd + 10 + dataLength
        }
        // Bytes after the last record are no part of a message (RFC 1035 §4.1): a full parse
        // rejects them, and so does this one.
        guard offset == count else { throw .reply(id: id, flags: flags, rcode: .formErr) }
        return view
    }

    /// Offset just past a possibly compressed name (RFC 1035 §4.1.4), having followed its
    /// pointers under `WireReader.readName`'s rules: each jump lands before the run of labels
    /// holding it, at most `WireReader.maxPointers` jumps, at most 255 bytes, no reserved label
    /// types. Nil when the name breaks one. At most 255 steps, so a 64 KiB query costs at most
    /// about 1.4 million steps however its names chain, and nothing is allocated.
    private static func validNameEnd(_ packet: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var position = start
        var runStart = start
        var endAfterFirstPointer: Int?
        var pointers = 0
        var length = 0
        while position < packet.count {
            let labelLength = Int(packet[position])
            switch labelLength & 0xC0 {
            case 0x00:
                length += 1 + labelLength
                guard length <= DomainName.maxLength else { return nil }
                if labelLength == 0 { return endAfterFirstPointer ?? position + 1 }
                position += 1 + labelLength
            case 0xC0:
                guard position + 1 < packet.count else { return nil }
                let target = (labelLength & 0x3F) << 8 | Int(packet[position + 1])
                guard target < runStart, pointers < WireReader.maxPointers else { return nil }
                pointers += 1
                if endAfterFirstPointer == nil { endAfterFirstPointer = position + 2 }
                position = target
                runStart = target
            default:
                return nil
            }
        }
        return nil
    }
}

extension EDNSView {
    /// Calls `body` with each option's code and where its data lies in `packet`, in order
    /// (RFC 6891 §6.1.2). False when the options do not tile the record's data exactly; `body`
    /// may have seen the options before the fault.
    public func walkOptions(in packet: UnsafeRawBufferPointer, _ body: (UInt16, Range<Int>) -> Void) -> Bool {
        guard options.lowerBound >= 0, options.upperBound <= packet.count else { return false }
        var offset = options.lowerBound
        while offset < options.upperBound {
            guard options.upperBound - offset >= 4 else { return false }
            let code = UInt16(packet[offset]) << 8 | UInt16(packet[offset + 1])
            let length = Int(packet[offset + 2]) << 8 | Int(packet[offset + 3])
            guard options.upperBound - offset - 4 >= length else { return false }
            body(code, (offset + 4)..<(offset + 4 + length))
            offset += 4 + length
        }
        return true
    }

    /// The OPT record's options (RFC 6891 §6.1.2), read from `packet` where the parse found
    /// them; nil when they do not tile the record's data exactly.
    public func readOptions(in packet: UnsafeRawBufferPointer) -> [EDNS.Option]? {
        var found: [EDNS.Option] = []
        let tiled = walkOptions(in: packet) { code, data in
            found.append(EDNS.Option(code: code, data: Array(packet[data])))
        }
        return tiled ? found : nil
    }
}
