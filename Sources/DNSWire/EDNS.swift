/// The EDNS0 OPT pseudo-record (RFC 6891), lifted out of the additional section.
public struct EDNS: Equatable, Sendable {
    public struct Option: Equatable, Sendable {
        public var code: UInt16
        public var data: [UInt8]
        public init(code: UInt16, data: [UInt8]) {
            self.code = code
            self.data = data
        }
    }

    /// Below 512 the advertised size means 512 (RFC 6891 §6.2.5).
    public static let minimumPayloadSize: UInt16 = 512

    public var udpPayloadSize: UInt16
    public var extendedRCode: UInt8
    public var version: UInt8
    public var dnssecOK: Bool
    public var options: [Option]

    public init(udpPayloadSize: UInt16 = 1232, extendedRCode: UInt8 = 0, version: UInt8 = 0,
                dnssecOK: Bool = false, options: [Option] = []) {
        self.udpPayloadSize = udpPayloadSize
        self.extendedRCode = extendedRCode
        self.version = version
        self.dnssecOK = dnssecOK
        self.options = options
    }

    init(rawClass: UInt16, ttl: UInt32, data: [UInt8]) throws {
        udpPayloadSize = rawClass
        extendedRCode = UInt8(ttl >> 24)
        version = UInt8((ttl >> 16) & 0xFF)
        dnssecOK = ttl & 0x8000 != 0
        options = []
        var reader = WireReader(data)
        while reader.remaining > 0 {
            let code = try reader.readUInt16()
            let length = Int(try reader.readUInt16())
            options.append(Option(code: code, data: try reader.readBytes(length)))
        }
    }

    public var encodedLength: Int { 11 + options.reduce(0) { $0 + 4 + $1.data.count } }

    public func write(to writer: inout WireWriter) {
        writer.writeUInt8(0)
        writer.writeUInt16(RecordType.opt.rawValue)
        writer.writeUInt16(udpPayloadSize)
        writer.writeUInt32(UInt32(extendedRCode) << 24 | UInt32(version) << 16 | (dnssecOK ? 0x8000 : 0))
        writer.writeUInt16(UInt16(options.reduce(0) { $0 + 4 + $1.data.count }))
        for option in options {
            writer.writeUInt16(option.code)
            writer.writeUInt16(UInt16(option.data.count))
            writer.writeBytes(option.data)
        }
    }
}
