public struct SOARecord: Hashable, Sendable {
    public var mname: DomainName
    public var rname: DomainName
    public var serial: UInt32
    public var refresh: UInt32
    public var retry: UInt32
    public var expire: UInt32
    public var minimum: UInt32

    public init(mname: DomainName, rname: DomainName, serial: UInt32, refresh: UInt32, retry: UInt32,
                expire: UInt32, minimum: UInt32) {
        self.mname = mname
        self.rname = rname
        self.serial = serial
        self.refresh = refresh
        self.retry = retry
        self.expire = expire
        self.minimum = minimum
    }

    init(from reader: inout WireReader) throws {
        mname = try reader.readName()
        rname = try reader.readName()
        serial = try reader.readUInt32()
        refresh = try reader.readUInt32()
        retry = try reader.readUInt32()
        expire = try reader.readUInt32()
        minimum = try reader.readUInt32()
    }

    /// Appends the RDATA (RFC 1035 §3.3.13); `compress` false writes both names whole.
    public func write(to writer: inout WireWriter, compress: Bool = true) {
        writer.writeName(mname, compress: compress)
        writer.writeName(rname, compress: compress)
        // One call each: the answer path writes an SOA per negative answer, without allocating.
        writer.writeUInt32(serial)
        writer.writeUInt32(refresh)
        writer.writeUInt32(retry)
        writer.writeUInt32(expire)
        writer.writeUInt32(minimum)
    }
}
