public struct ResourceRecord: Hashable, Sendable {
    public var name: DomainName
    public var recordClass: RecordClass
    public var ttl: UInt32
    public var data: RData

    public init(name: DomainName, recordClass: RecordClass = .in, ttl: UInt32, data: RData) {
        self.name = name
        self.recordClass = recordClass
        self.ttl = ttl
        self.data = data
    }

    public var type: RecordType { data.type }

    /// Reads one record; OPT is returned as `.unknown` data with its raw fields (see `EDNS`).
    public static func read(from reader: inout WireReader) throws -> (record: ResourceRecord, rawType: RecordType, rawClass: UInt16) {
        let name = try reader.readName()
        let type = RecordType(try reader.readUInt16())
        let rawClass = try reader.readUInt16()
        let ttl = try reader.readUInt32()
        let length = Int(try reader.readUInt16())
        guard reader.remaining >= length else { throw WireError.truncated }
        let end = reader.offset + length
        let data = try RData.read(type: type, from: &reader, length: length)
        guard reader.offset == end else { throw WireError.badRDataLength }
        return (ResourceRecord(name: name, recordClass: RecordClass(rawValue: rawClass), ttl: ttl, data: data), type, rawClass)
    }

    /// Appends the record; returns false, having written nothing, when its RDATA would exceed
    /// the 65,535 bytes RDLENGTH can state (RFC 1035 §3.2.1).
    @discardableResult
    public func write(to writer: inout WireWriter) -> Bool {
        let start = writer.mark
        writer.writeName(name)
        writer.writeUInt16(type.rawValue)
        writer.writeUInt16(recordClass.rawValue)
        writer.writeUInt32(ttl)
        let lengthOffset = writer.count
        writer.writeUInt16(0)
        data.write(to: &writer)
        guard let length = UInt16(exactly: writer.count - lengthOffset - 2) else {
            writer.rollBack(to: start)
            return false
        }
        writer.setUInt16(length, at: lengthOffset)
        return true
    }
}

/// What makes records one RRset (RFC 2181 §5): owner (any case), class and type, an RRSIG's
/// type being the type it covers, so that signatures go with what they sign (RFC 4034 §3).
public struct RRsetKey: Hashable, Sendable {
    public let name: DomainName
    public let recordClass: RecordClass
    public let type: RecordType

    public init(_ record: ResourceRecord) {
        name = record.name
        recordClass = record.recordClass
        if case .unknown(let type, let rdata) = record.data, type == .rrsig, rdata.count >= 2 {
            self.type = RecordType(UInt16(rdata[0]) << 8 | UInt16(rdata[1]))
        } else {
            self.type = record.type
        }
    }
}
