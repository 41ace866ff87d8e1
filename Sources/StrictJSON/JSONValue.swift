/// A whole JSON document as a tree, for documents read or written at once (a config key, a
/// request body, an etcd v2 answer); large streams are read with `JSONReader` instead. Numbers keep their literal, so that integers are read exactly as Go reads
/// them; object members keep their order and duplicates.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func integer(_ value: some BinaryInteger) -> JSONValue { .number(String(value)) }

    /// encoding/json's name for the kind, as in its "cannot unmarshal X into …" errors.
    public var kind: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .number(let literal): "number " + literal
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    public var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var array: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    /// An integer written as a number or, as etcd's v3 gateway writes 64-bit integers, as a string.
    public var int64: Int64? {
        switch self {
        case .number(let literal), .string(let literal): Int64(literal)
        default: nil
        }
    }

    /// The value of the last member named `key` of an object (encoding/json: the last wins).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.0 == key }?.1
    }

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a.elementsEqual(b) { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// Reads one whole document.
    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        var reader = JSONReader(bytes)
        let value = try reader.readValue()
        try reader.finish()
        return value
    }

    /// The document's bytes, compact.
    public var serialized: [UInt8] {
        var out: [UInt8] = []
        write(to: &out)
        return out
    }

    private func write(to out: inout [UInt8]) {
        switch self {
        case .null: out += "null".utf8
        case .bool(let value): out += (value ? "true" : "false").utf8
        case .number(let literal): out += literal.utf8
        case .string(let text): Self.writeString(text, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func writeString(_ text: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out += [UInt8(ascii: "\\"), byte]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case ..<0x20: out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Request bodies read as literals: `["key": .string(k), "limit": 10, "keys_only": true]`.
extension JSONValue: ExpressibleByDictionaryLiteral, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral
{
    public init(dictionaryLiteral members: (String, JSONValue)...) { self = .object(members) }
    public init(stringLiteral text: String) { self = .string(text) }
    public init(integerLiteral value: Int) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }

    /// This object with one more member.
    public func adding(_ key: String, _ value: JSONValue) -> JSONValue {
        guard case .object(let members) = self else { return self }
        return .object(members + [(key, value)])
    }
}

extension JSONReader {
    /// The next value, whole.
    public mutating func readValue() throws(JSONSyntaxError) -> JSONValue {
        switch try kind() {
        case .object:
            var members: [(String, JSONValue)] = []
            try beginObject()
            while let key = try nextKey() { members.append((key, try readValue())) }
            return .object(members)
        case .array:
            var items: [JSONValue] = []
            try beginArray()
            while try nextElement() { items.append(try readValue()) }
            return .array(items)
        case .string: return .string(try readString())
        case .number: return .number(String(try readNumberLiteral()))
        case .bool: return .bool(try readBool())
        case .null:
            _ = try readNull()
            return .null
        }
    }
}
