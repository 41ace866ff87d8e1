public struct MXRecord: Hashable, Sendable {
    public var preference: UInt16
    public var exchange: DomainName

    public init(preference: UInt16, exchange: DomainName) {
        self.preference = preference
        self.exchange = exchange
    }

    init(from reader: inout WireReader) throws {
        preference = try reader.readUInt16()
        exchange = try reader.readName()
    }

    func write(to writer: inout WireWriter) {
        writer.writeUInt16(preference)
        writer.writeName(exchange)
    }
}
