public struct Question: Equatable, Sendable {
    public var name: DomainName
    public var type: RecordType
    public var recordClass: RecordClass

    public init(name: DomainName, type: RecordType, recordClass: RecordClass = .in) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
    }

    public static func read(from reader: inout WireReader) throws -> Question {
        Question(name: try reader.readName(), type: RecordType(try reader.readUInt16()),
                 recordClass: RecordClass(rawValue: try reader.readUInt16()))
    }

    public func write(to writer: inout WireWriter) {
        writer.writeName(name)
        writer.writeUInt16(type.rawValue)
        writer.writeUInt16(recordClass.rawValue)
    }
}
