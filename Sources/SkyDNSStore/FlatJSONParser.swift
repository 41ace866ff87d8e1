/// A strict JSON reader for one object of scalar fields (RFC 8259), reading each field's value
/// as the caller asks for it. Nested objects and arrays are skipped, not kept.
struct FlatJSONParser {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    private func fail(_ why: String) -> RecordError { .invalidJSON(why) }

    /// Calls `field` for each key, positioned at its value, which `field` must consume.
    mutating func parseObject(_ field: (String, inout FlatJSONParser) throws(RecordError) -> Void) throws(RecordError) {
        skipSpace()
        guard peek() == UInt8(ascii: "{") else { throw fail("not a JSON object") }
        index += 1
        skipSpace()
        if peek() == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipSpace()
                guard peek() == UInt8(ascii: "\"") else { throw fail("expected a key at byte \(index)") }
                let key = try readString()
                skipSpace()
                guard peek() == UInt8(ascii: ":") else { throw fail("expected ':' after \"\(key)\"") }
                index += 1
                skipSpace()
                try field(key, &self)
                skipSpace()
                if peek() == UInt8(ascii: ",") { index += 1; continue }
                guard peek() == UInt8(ascii: "}") else { throw fail("expected ',' or '}' at byte \(index)") }
                index += 1
                break
            }
        }
        skipSpace()
        guard index == bytes.count else { throw fail("unexpected data after the object at byte \(index)") }
    }

    /// A string value; nil for `null`.
    mutating func string(field: String) throws(RecordError) -> String? {
        if try readNull() { return nil }
        guard peek() == UInt8(ascii: "\"") else { throw typeError(field, "string") }
        return try readString()
    }

    /// An integer value within `range`; nil for `null`.
    mutating func integer(field: String, in range: ClosedRange<Int64>) throws(RecordError) -> Int64? {
        if try readNull() { return nil }
        let start = index
        let text = try readNumber(field: field)
        guard let value = Int64(text) else {
            // Go: a fraction or exponent cannot go into an integer field; nor can a huge number.
            throw RecordError.outOfRange("field \"\(field)\": \(String(decoding: bytes[start..<index], as: UTF8.self)) is not an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        guard range.contains(value) else {
            throw RecordError.outOfRange("field \"\(field)\": \(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A boolean value; nil for `null`.
    mutating func boolean(field: String) throws(RecordError) -> Bool? {
        if try readNull() { return nil }
        if matchLiteral("true") { return true }
        if matchLiteral("false") { return false }
        throw typeError(field, "boolean")
    }

    /// Skips any value, nested or not.
    mutating func skipValue() throws(RecordError) {
        switch peek() {
        case UInt8(ascii: "\""): _ = try readString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            repeat {
                guard let byte = peek() else { throw fail("unterminated value") }
                switch byte {
                case UInt8(ascii: "\""): _ = try readString(); continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                default: break
                }
                index += 1
            } while depth > 0
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            guard matchLiteral("true") || matchLiteral("false") || matchLiteral("null") else { throw fail("bad literal at byte \(index)") }
        default:
            _ = try readNumber(field: "?")
        }
    }

    private func typeError(_ field: String, _ expected: String) -> RecordError {
        fail("field \"\(field)\": expected a \(expected)")
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipSpace() {
        while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }

    private mutating func matchLiteral(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        let matches = literal.withUTF8Buffer { literal in (0..<count).allSatisfy { bytes[index + $0] == literal[$0] } }
        if matches { index += count }
        return matches
    }

    private mutating func readNull() throws(RecordError) -> Bool {
        matchLiteral("null")
    }

    private mutating func readNumber(field: String) throws(RecordError) -> String {
        let start = index
        if peek() == UInt8(ascii: "-") { index += 1 }
        let digitsStart = index
        while let byte = peek(), (0x30...0x39).contains(byte) { index += 1 }
        guard index > digitsStart else { throw typeError(field, "number") }
        if bytes[digitsStart] == 0x30 && index - digitsStart > 1 { throw fail("number with a leading zero at byte \(start)") }
        if peek() == UInt8(ascii: ".") {
            index += 1
            let fraction = index
            while let byte = peek(), (0x30...0x39).contains(byte) { index += 1 }
            guard index > fraction else { throw fail("bad number at byte \(start)") }
        }
        if let byte = peek(), byte | 0x20 == UInt8(ascii: "e") {
            index += 1
            if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { index += 1 }
            let exponent = index
            while let byte = peek(), (0x30...0x39).contains(byte) { index += 1 }
            guard index > exponent else { throw fail("bad number at byte \(start)") }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func readString() throws(RecordError) -> String {
        index += 1
        var scalars: [UInt8] = []
        let start = index
        while let byte = peek(), byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
            guard byte >= 0x20 else { throw fail("control character in a string at byte \(index)") }
            index += 1
        }
        if peek() == UInt8(ascii: "\"") {
            index += 1
            return String(decoding: bytes[start..<(index - 1)], as: UTF8.self)
        }
        scalars.append(contentsOf: bytes[start..<index])
        while true {
            guard let byte = peek() else { throw fail("unterminated string") }
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: scalars, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let escape = peek() else { throw fail("unterminated string") }
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try readHex4()
                    if (0xD800..<0xDC00).contains(code), matchLiteral("\\u") {
                        let low = try readHex4()
                        if (0xDC00..<0xE000).contains(low) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        }
                    }
                    let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                    scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    throw fail("bad escape at byte \(index - 1)")
                }
            default:
                guard byte >= 0x20 else { throw fail("control character in a string at byte \(index - 1)") }
                scalars.append(byte)
            }
        }
    }

    private mutating func readHex4() throws(RecordError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index] | 0x20
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x61...0x66: digit = byte - 0x61 + 10
            default: throw fail("bad \\u escape at byte \(index)")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }
}
