/// A JSON syntax error (RFC 8259), worded as Go's `encoding/json` words it, so that a bad
/// value in etcd is reported the way SkyDNS reported it.
public struct JSONSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }

    static let endOfInput = JSONSyntaxError("unexpected end of JSON input")
}

/// What the next value is, from its first byte.
public enum JSONKind: Sendable {
    case object, array, string, number, bool, null
}

/// A strict pull reader over one JSON document: the caller walks it value by value and keeps
/// only what it wants, so nothing is built for the parts it skips. Every value read or skipped
/// is checked against RFC 8259; nesting is limited to `maxDepth`.
///
///     var reader = JSONReader(bytes)
///     try reader.beginObject()
///     while let key = try reader.nextKey() {
///         if key == "host" { host = try reader.readString() } else { try reader.skipValue() }
///     }
///     try reader.finish()
public struct JSONReader {
    /// Deep enough for etcd v2's recursive answers, which nest two levels a key label (an IPv6
    /// reverse key has 34 labels); Foundation allowed 512 too.
    public static let maxDepth = 512

    private let bytes: [UInt8]
    private var position = 0
    private var depth = 0
    /// Just after `{` or `[`: the next member or element is the first (no comma before it).
    private var atFirstItem = false

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    // MARK: - Structure

    /// The kind of the next value; skips whitespace before it.
    public mutating func kind() throws(JSONSyntaxError) -> JSONKind {
        skipSpace()
        guard position < bytes.count else { throw .endOfInput }
        switch bytes[position] {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default: throw invalid("looking for beginning of value")
        }
    }

    /// Enters an object; read its members with `nextKey()`.
    public mutating func beginObject() throws(JSONSyntaxError) {
        try open(UInt8(ascii: "{"), "object")
    }

    /// Enters an array; read its elements with `nextElement()`.
    public mutating func beginArray() throws(JSONSyntaxError) {
        try open(UInt8(ascii: "["), "array")
    }

    /// The next member's key, positioned at its value (which must be read or skipped before
    /// the next call); nil at the end of the object, which is then left.
    public mutating func nextKey() throws(JSONSyntaxError) -> String? {
        guard try nextItem(close: UInt8(ascii: "}"), after: "after object key:value pair") else { return nil }
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
            throw invalid("looking for beginning of object key string")
        }
        let key = try stringValue()
        skipSpace()
        guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw invalid("after object key") }
        position += 1
        return key
    }

    /// Whether another element follows, positioned at it; false at the end of the array, which
    /// is then left.
    public mutating func nextElement() throws(JSONSyntaxError) -> Bool {
        try nextItem(close: UInt8(ascii: "]"), after: "after array element")
    }

    /// Checks that nothing but whitespace follows the document.
    public mutating func finish() throws(JSONSyntaxError) {
        skipSpace()
        guard position == bytes.count else { throw invalid("after top-level value") }
    }

    // MARK: - Values

    /// A string value, unescaped.
    public mutating func readString() throws(JSONSyntaxError) -> String {
        guard try kind() == .string else { throw invalid("looking for beginning of string") }
        return try stringValue()
    }

    /// A string value's bytes, unescaped: a slice of the document itself when it holds no escape.
    public mutating func readStringBytes() throws(JSONSyntaxError) -> ArraySlice<UInt8> {
        guard try kind() == .string else { throw invalid("looking for beginning of string") }
        return try stringBytes()
    }

    /// A number's literal, checked against the JSON grammar, as written (so that integers can
    /// be read exactly, whatever their size).
    public mutating func readNumberLiteral() throws(JSONSyntaxError) -> Substring {
        guard try kind() == .number else { throw invalid("looking for beginning of number") }
        let start = position
        try skipNumber()
        return Substring(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// An integer written as a number or, as etcd's v3 gateway writes 64-bit integers, as a
    /// string; nil for anything else (the value is consumed either way).
    public mutating func readInt64() throws(JSONSyntaxError) -> Int64? {
        switch try kind() {
        case .number: return Int64(try readNumberLiteral())
        case .string: return Int64(String(decoding: try stringBytes(), as: UTF8.self))
        default:
            try skipValue()
            return nil
        }
    }

    public mutating func readBool() throws(JSONSyntaxError) -> Bool {
        guard try kind() == .bool else { throw invalid("looking for beginning of boolean") }
        if bytes[position] == UInt8(ascii: "t") {
            try literal("true")
            return true
        }
        try literal("false")
        return false
    }

    /// Consumes a `null` and returns true, or returns false and consumes nothing.
    public mutating func readNull() throws(JSONSyntaxError) -> Bool {
        guard try kind() == .null else { return false }
        try literal("null")
        return true
    }

    /// Skips one value of any kind, checking its syntax all the way down.
    public mutating func skipValue() throws(JSONSyntaxError) {
        switch try kind() {
        case .object:
            try beginObject()
            while try nextKey() != nil { try skipValue() }
        case .array:
            try beginArray()
            while try nextElement() { try skipValue() }
        case .string: _ = try stringBytes()
        case .number: try skipNumber()
        case .bool: _ = try readBool()
        case .null: try literal("null")
        }
    }

    // MARK: - Scanning

    private mutating func open(_ bracket: UInt8, _ what: String) throws(JSONSyntaxError) {
        guard try kind() == (bracket == UInt8(ascii: "{") ? .object : .array) else {
            throw invalid("looking for beginning of \(what)")
        }
        guard depth < Self.maxDepth else { throw invalid("exceeded max depth") }
        depth += 1
        position += 1
        atFirstItem = true
    }

    /// Steps over the comma before an item, or the closing bracket; true when an item follows.
    private mutating func nextItem(close: UInt8, after: String) throws(JSONSyntaxError) -> Bool {
        skipSpace()
        guard position < bytes.count else { throw .endOfInput }
        let first = atFirstItem
        atFirstItem = false
        if bytes[position] == close {
            position += 1
            depth -= 1
            return false
        }
        if !first {
            guard bytes[position] == UInt8(ascii: ",") else { throw invalid(after) }
            position += 1
            skipSpace()
        }
        return true
    }

    private mutating func skipSpace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        for index in 0..<word.utf8CodeUnitCount {
            guard position < bytes.count else { throw .endOfInput }
            let expected = word.utf8Start[index]
            guard bytes[position] == expected else {
                throw invalid("in literal \(word) (expecting \(Self.quoted(expected)))")
            }
            position += 1
        }
        atFirstItem = false
    }

    private func isDigit(_ index: Int) -> Bool {
        index < bytes.count && bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9")
    }

    private mutating func skipNumber() throws(JSONSyntaxError) {
        atFirstItem = false
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard isDigit(position) else { throw position < bytes.count ? invalid("in numeric literal") : .endOfInput }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1  // no leading zeros: what follows a 0 is not part of the number
        } else {
            while isDigit(position) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard isDigit(position) else { throw invalid("after decimal point in numeric literal") }
            while isDigit(position) { position += 1 }
        }
        if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard isDigit(position) else { throw invalid("in exponent of numeric literal") }
            while isDigit(position) { position += 1 }
        }
    }

    private mutating func stringValue() throws(JSONSyntaxError) -> String {
        String(decoding: try stringBytes(), as: UTF8.self)
    }

    /// At an opening quote: the string's unescaped bytes.
    private mutating func stringBytes() throws(JSONSyntaxError) -> ArraySlice<UInt8> {
        atFirstItem = false
        position += 1
        let start = position
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return bytes[start..<(position - 1)]
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw controlCharacter(byte) }
            position += 1
        }
        var unescaped = Array(bytes[start..<position])
        while true {
            guard position < bytes.count else { throw .endOfInput }
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return unescaped[...]
            case UInt8(ascii: "\\"):
                try unescape(into: &unescaped)
            default:
                guard byte >= 0x20 else { throw controlCharacter(byte) }
                unescaped.append(byte)
            }
        }
    }

    /// After a backslash: appends what the escape stands for.
    private mutating func unescape(into unescaped: inout [UInt8]) throws(JSONSyntaxError) {
        guard position < bytes.count else { throw .endOfInput }
        let escape = bytes[position]
        position += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): unescaped.append(escape)
        case UInt8(ascii: "b"): unescaped.append(0x08)
        case UInt8(ascii: "f"): unescaped.append(0x0C)
        case UInt8(ascii: "n"): unescaped.append(0x0A)
        case UInt8(ascii: "r"): unescaped.append(0x0D)
        case UInt8(ascii: "t"): unescaped.append(0x09)
        case UInt8(ascii: "u"):
            var code = try hex4()
            if (0xD800..<0xDC00).contains(code) {
                // A high surrogate makes a character with a low one after it; alone it is U+FFFD.
                let save = position
                if position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                    position += 2
                    let low = try hex4()
                    if (0xDC00..<0xE000).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        position = save
                        code = 0xFFFD
                    }
                } else {
                    code = 0xFFFD
                }
            }
            let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"  // a lone low surrogate
            unescaped.append(contentsOf: String(Character(scalar)).utf8)
        default:
            position -= 1
            throw invalid("in string escape code")
        }
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard position < bytes.count else { throw .endOfInput }
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw invalid("in \\u hexadecimal character escape")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    // MARK: - Errors

    /// "invalid character 'x' CONTEXT", or the end-of-input error at the end.
    private func invalid(_ context: String) -> JSONSyntaxError {
        guard position < bytes.count else { return .endOfInput }
        return JSONSyntaxError("invalid character \(Self.quoted(bytes[position])) \(context)")
    }

    private func controlCharacter(_ byte: UInt8) -> JSONSyntaxError {
        JSONSyntaxError("invalid character \(Self.quoted(byte)) in string literal")
    }

    /// A byte as Go's scanner quotes it: the byte read as a character (Latin-1), in single
    /// quotes, escaped as strconv.Quote escapes it.
    private static func quoted(_ byte: UInt8) -> String {
        let hex = Array("0123456789abcdef".utf8)
        let inside: String = switch byte {
        case UInt8(ascii: "'"): "\\'"
        case UInt8(ascii: "\\"): "\\\\"
        case 0x07: "\\a"
        case 0x08: "\\b"
        case 0x0C: "\\f"
        case 0x0A: "\\n"
        case 0x0D: "\\r"
        case 0x09: "\\t"
        case 0x0B: "\\v"
        case ..<0x20, 0x7F: "\\x" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
        case 0x80...0x9F, 0xAD: "\\u00" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
        default: String(Character(Unicode.Scalar(byte)))
        }
        return "'" + inside + "'"
    }
}
