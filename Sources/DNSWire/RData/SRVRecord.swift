public struct SRVRecord: Hashable, Sendable {
    public var priority: UInt16
    public var weight: UInt16
    public var port: UInt16
    public var target: DomainName

    public init(priority: UInt16, weight: UInt16, port: UInt16, target: DomainName) {
        self.priority = priority
        self.weight = weight
        self.port = port
        self.target = target
    }

    init(from reader: inout WireReader) throws {
        priority = try reader.readUInt16()
        weight = try reader.readUInt16()
        port = try reader.readUInt16()
        target = try reader.readName()
    }

    /// RFC 2782: the target is never compressed.
    func write(to writer: inout WireWriter) {
        writer.writeUInt16(priority)
        writer.writeUInt16(weight)
        writer.writeUInt16(port)
        writer.writeName(target, compress: false)
    }
}
