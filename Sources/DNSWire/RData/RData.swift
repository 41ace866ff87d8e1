/// The data of a record, one case per type this server speaks; anything else is kept as bytes.
public enum RData: Hashable, Sendable {
    case a(ARecord)
    case aaaa(AAAARecord)
    case cname(CNAMERecord)
    case ns(NSRecord)
    case ptr(PTRRecord)
    case mx(MXRecord)
    case srv(SRVRecord)
    case txt(TXTRecord)
    case soa(SOARecord)
    case unknown(RecordType, [UInt8])

    public var type: RecordType {
        switch self {
        case .a: .a
        case .aaaa: .aaaa
        case .cname: .cname
        case .ns: .ns
        case .ptr: .ptr
        case .mx: .mx
        case .srv: .srv
        case .txt: .txt
        case .soa: .soa
        case .unknown(let type, _): type
        }
    }

    static func read(type: RecordType, from reader: inout WireReader, length: Int) throws -> RData {
        switch type {
        case .a: .a(try ARecord(from: &reader, length: length))
        case .aaaa: .aaaa(try AAAARecord(from: &reader, length: length))
        case .cname: .cname(CNAMERecord(target: try reader.readName()))
        case .ns: .ns(NSRecord(target: try reader.readName()))
        case .ptr: .ptr(PTRRecord(target: try reader.readName()))
        case .mx: .mx(try MXRecord(from: &reader))
        case .srv: .srv(try SRVRecord(from: &reader))
        case .txt: .txt(try TXTRecord(from: &reader, length: length))
        case .soa: .soa(try SOARecord(from: &reader))
        default: .unknown(type, try reader.readBytes(length))
        }
    }

    func write(to writer: inout WireWriter) {
        switch self {
        case .a(let record): writer.writeBytes(record.bytes)
        case .aaaa(let record): writer.writeBytes(record.bytes)
        case .cname(let record): writer.writeName(record.target)
        case .ns(let record): writer.writeName(record.target)
        case .ptr(let record): writer.writeName(record.target)
        case .mx(let record): record.write(to: &writer)
        case .srv(let record): record.write(to: &writer)
        case .txt(let record): record.write(to: &writer)
        case .soa(let record): record.write(to: &writer)
        case .unknown(_, let bytes): writer.writeBytes(bytes)
        }
    }
}
