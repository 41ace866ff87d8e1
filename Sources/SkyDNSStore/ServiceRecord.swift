/// One SkyDNS record value, as kube2sky and other writers store it in etcd
/// (`{"host":"172.28.0.12","priority":10,"weight":10,"ttl":30}`). Every field is optional.
public struct ServiceRecord: Equatable, Sendable {
    public var host: String
    public var port: Int
    public var priority: Int
    public var weight: Int
    public var text: String
    public var mail: Bool
    public var ttl: UInt32
    public var targetStrip: Int
    public var group: String

    public init(host: String = "", port: Int = 0, priority: Int = 0, weight: Int = 0, text: String = "",
                mail: Bool = false, ttl: UInt32 = 0, targetStrip: Int = 0, group: String = "") {
        self.host = host
        self.port = port
        self.priority = priority
        self.weight = weight
        self.text = text
        self.mail = mail
        self.ttl = ttl
        self.targetStrip = targetStrip
        self.group = group
    }

    /// Decodes an etcd value with the rules of Go's `encoding/json`, which SkyDNS used: keys
    /// match whatever their case, unknown keys (of any shape) and `null` are ignored, the last of
    /// duplicate keys wins, and a value of the wrong type or range is an error naming the field.
    /// Hand-written because every record of a large cluster passes through here at start-up.
    public static func decode(_ value: [UInt8]) throws(RecordError) -> ServiceRecord {
        var parser = FlatJSONParser(value)
        var record = ServiceRecord()
        try parser.parseObject { key, parser throws(RecordError) in
            switch key.lowercased() {
            case "host": record.host = try parser.string(field: "host") ?? ""
            case "text": record.text = try parser.string(field: "text") ?? ""
            case "group": record.group = try parser.string(field: "group") ?? ""
            case "port": record.port = try parser.integer(field: "port", in: Int64(Int.min)...Int64(Int.max)).map { Int($0) } ?? 0
            case "priority": record.priority = try parser.integer(field: "priority", in: Int64(Int.min)...Int64(Int.max)).map { Int($0) } ?? 0
            case "weight": record.weight = try parser.integer(field: "weight", in: Int64(Int.min)...Int64(Int.max)).map { Int($0) } ?? 0
            case "targetstrip": record.targetStrip = try parser.integer(field: "targetstrip", in: Int64(Int.min)...Int64(Int.max)).map { Int($0) } ?? 0
            case "ttl": record.ttl = try parser.integer(field: "ttl", in: 0...Int64(UInt32.max)).map { UInt32($0) } ?? 0
            case "mail": record.mail = try parser.boolean(field: "mail") ?? false
            default: try parser.skipValue()
            }
        }
        return record
    }
}

/// Why a key or value from etcd was left out of the answers.
public enum RecordError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidJSON(String)
    case invalidKey(String)
    case invalidHost(String)
    case outOfRange(String)

    public var description: String {
        switch self {
        case .invalidJSON(let why): "value is not SkyDNS JSON: \(why)"
        case .invalidKey(let why): "key is not a valid name: \(why)"
        case .invalidHost(let host): "host \"\(host)\" is neither an IP address nor a domain name"
        case .outOfRange(let why): why
        }
    }
}

/// Writing values back (tools and tests) uses SkyDNS's field names.
extension ServiceRecord: Encodable {
    enum CodingKeys: String, CodingKey {
        case host, port, priority, weight, text, mail, ttl, group
        case targetStrip = "targetstrip"
    }
}
