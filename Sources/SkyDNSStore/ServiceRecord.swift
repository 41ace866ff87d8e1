import StrictJSON

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
    public static func decode(_ value: [UInt8]) throws(RecordError) -> ServiceRecord {
        var reader = JSONReader(value)
        var record = ServiceRecord()
        guard try reader.syntax({ reader throws(JSONSyntaxError) in try reader.kind() }) == .object else {
            throw .invalidJSON("not a JSON object")
        }
        try reader.syntax { reader throws(JSONSyntaxError) in try reader.beginObject() }
        while let key = try reader.syntax({ reader throws(JSONSyntaxError) in try reader.nextKey() }) {
            switch key.lowercased() {
            case "host": record.host = try reader.string(field: "host") ?? record.host
            case "text": record.text = try reader.string(field: "text") ?? record.text
            case "group": record.group = try reader.string(field: "group") ?? record.group
            case "port": record.port = try reader.integer(field: "port", as: Int.self) ?? record.port
            case "priority": record.priority = try reader.integer(field: "priority", as: Int.self) ?? record.priority
            case "weight": record.weight = try reader.integer(field: "weight", as: Int.self) ?? record.weight
            case "targetstrip": record.targetStrip = try reader.integer(field: "targetstrip", as: Int.self) ?? record.targetStrip
            case "ttl": record.ttl = try reader.integer(field: "ttl", as: UInt32.self) ?? record.ttl
            case "mail": record.mail = try reader.boolean(field: "mail") ?? record.mail
            default: try reader.syntax { reader throws(JSONSyntaxError) in try reader.skipValue() }
            }
        }
        try reader.syntax { reader throws(JSONSyntaxError) in try reader.finish() }
        return record
    }
}

/// A record's fields as encoding/json fills them: `null` leaves a field as it is (nil here);
/// a value of another type, or a number the field cannot hold, is an error naming the field.
private extension JSONReader {
    mutating func string(field: String) throws(RecordError) -> String? {
        guard try fieldKind(field, expected: .string, "string") else { return nil }
        return try syntax { reader throws(JSONSyntaxError) in try reader.readString() }
    }

    mutating func boolean(field: String) throws(RecordError) -> Bool? {
        guard try fieldKind(field, expected: .bool, "boolean") else { return nil }
        return try syntax { reader throws(JSONSyntaxError) in try reader.readBool() }
    }

    mutating func integer<Value: FixedWidthInteger>(field: String, as type: Value.Type) throws(RecordError) -> Value? {
        guard try fieldKind(field, expected: .number, "number") else { return nil }
        let literal = try syntax { reader throws(JSONSyntaxError) in try reader.readNumberLiteral() }
        // Go: a fraction or exponent cannot go into an integer field; nor can a number too big for it.
        guard let value = Value(literal) else {
            throw .outOfRange("field \"\(field)\": \(literal) is not an integer in \(Value.min)...\(Value.max)")
        }
        return value
    }

    /// False after consuming a `null`; true when the value is of the `expected` kind.
    private mutating func fieldKind(_ field: String, expected: JSONKind, _ name: String) throws(RecordError) -> Bool {
        switch try syntax({ reader throws(JSONSyntaxError) in try reader.kind() }) {
        case .null:
            try syntax { reader throws(JSONSyntaxError) in _ = try reader.readNull() }
            return false
        case expected: return true
        default: throw .invalidJSON("field \"\(field)\": expected a \(name)")
        }
    }

    /// Runs a read, reporting a syntax error as a value that is not SkyDNS JSON.
    mutating func syntax<Value>(_ read: (inout JSONReader) throws(JSONSyntaxError) -> Value) throws(RecordError) -> Value {
        do throws(JSONSyntaxError) {
            return try read(&self)
        } catch {
            throw .invalidJSON(error.description)
        }
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
