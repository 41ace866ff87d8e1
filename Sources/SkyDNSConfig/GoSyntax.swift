// Go's value syntaxes, reproduced exactly so that command lines written for SkyDNS (a Go
// program using the standard `flag` package) mean the same thing here:
//   - integers: strconv.ParseInt / ParseUint with base 0 (`0x1f`, `0o17`, `017`, `0b101`, `1_000`)
//   - booleans: strconv.ParseBool
//   - durations: time.ParseDuration and time.Duration.String
//   - quoting: strconv.Quote (for error messages, like Go's %q)

/// Why a Go value failed to parse; the texts are the ones Go's `flag` package prints.
enum GoSyntaxError: Error, Equatable {
    case syntax   // "parse error"
    case range    // "value out of range"

    var text: String {
        switch self {
        case .syntax: return "parse error"
        case .range: return "value out of range"
        }
    }
}

enum GoSyntax {
    // MARK: Booleans

    /// strconv.ParseBool.
    static func parseBool(_ s: String) throws(GoSyntaxError) -> Bool {
        switch s {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: throw .syntax
        }
    }

    // MARK: Integers

    /// strconv.ParseUint(s, 0, 64).
    static func parseUInt64(_ s: String) throws(GoSyntaxError) -> UInt64 {
        let bytes = Array(s.utf8)
        if bytes.isEmpty { throw .syntax }
        var base: UInt64 = 10
        var i = 0
        if bytes[0] == UInt8(ascii: "0") {
            if bytes.count >= 3 {
                switch bytes[1] | 0x20 {
                case UInt8(ascii: "b"): base = 2; i = 2
                case UInt8(ascii: "o"): base = 8; i = 2
                case UInt8(ascii: "x"): base = 16; i = 2
                default: base = 8; i = 1
                }
            } else if bytes.count == 2 {
                // "0x" and friends alone are syntax errors; "07" is octal.
                let c = bytes[1] | 0x20
                if c == UInt8(ascii: "b") || c == UInt8(ascii: "o") || c == UInt8(ascii: "x") { throw .syntax }
                base = 8; i = 1
            }
        }
        var value: UInt64 = 0
        var sawUnderscore = false
        var overflow = false
        while i < bytes.count {
            let c = bytes[i]
            i += 1
            if c == UInt8(ascii: "_") { sawUnderscore = true; continue }
            let digit: UInt64
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): digit = UInt64(c - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): digit = UInt64(c - UInt8(ascii: "A")) + 10
            default: throw .syntax
            }
            if digit >= base { throw .syntax }
            if overflow { continue }
            let (m, o1) = value.multipliedReportingOverflow(by: base)
            let (a, o2) = m.addingReportingOverflow(digit)
            if o1 || o2 { overflow = true } else { value = a }
        }
        if sawUnderscore && !underscoreOK(bytes) { throw .syntax }
        if overflow { throw .range }
        return value
    }

    /// strconv.ParseInt(s, 0, 64).
    static func parseInt64(_ s: String) throws(GoSyntaxError) -> Int64 {
        var body = Substring(s)
        var negative = false
        if let first = body.first, first == "+" || first == "-" {
            negative = first == "-"
            body = body.dropFirst()
        }
        let magnitude = try parseUInt64(String(body))
        if negative {
            if magnitude > UInt64(Int64.max) + 1 { throw .range }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        if magnitude > UInt64(Int64.max) { throw .range }
        return Int64(magnitude)
    }

    /// strconv's underscoreOK: underscores only between digits (or after a base prefix).
    private static func underscoreOK(_ input: [UInt8]) -> Bool {
        var s = input[...]
        var saw: UInt8 = UInt8(ascii: "^")
        if let first = s.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") { s = s.dropFirst() }
        var hex = false
        var i = s.startIndex
        if s.count >= 2, s[i] == UInt8(ascii: "0") {
            let c = s[i + 1] | 0x20
            if c == UInt8(ascii: "b") || c == UInt8(ascii: "o") || c == UInt8(ascii: "x") {
                i += 2
                saw = UInt8(ascii: "0")
                hex = c == UInt8(ascii: "x")
            }
        }
        while i < s.endIndex {
            let c = s[i]
            i += 1
            let lower = c | 0x20
            if (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                || (hex && lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "f")) {
                saw = UInt8(ascii: "0")
                continue
            }
            if c == UInt8(ascii: "_") {
                if saw != UInt8(ascii: "0") { return false }
                saw = UInt8(ascii: "_")
                continue
            }
            if saw == UInt8(ascii: "_") { return false }
            saw = UInt8(ascii: "!")
        }
        return saw != UInt8(ascii: "_")
    }

    // MARK: Quoting

    /// strconv.Quote for the characters that matter in error messages.
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\u{0B}": out += "\\v"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\x" + hex(scalar.value, width: 2)
                } else if scalar.value >= 0x80 && scalar.value < 0xA0 {
                    out += "\\u" + hex(scalar.value, width: 4)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private static func hex(_ v: UInt32, width: Int) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

/// Go's time.Duration syntax (`300ms`, `1.5h`, `2h45m`, `-1.5s`), held as nanoseconds.
public enum GoDuration {
    private static let unitNanoseconds: [String: UInt64] = [
        "ns": 1,
        "us": 1_000,
        "\u{00B5}s": 1_000,  // U+00B5 micro sign
        "\u{03BC}s": 1_000,  // U+03BC Greek small letter mu
        "ms": 1_000_000,
        "s": 1_000_000_000,
        "m": 60 * 1_000_000_000,
        "h": 3600 * 1_000_000_000,
    ]

    /// time.ParseDuration: returns nanoseconds, or nil when `text` is not a Go duration.
    public static func parse(_ text: String) -> Int64? {
        try? parseNanoseconds(text)
    }

    static func parseNanoseconds(_ text: String) throws(GoSyntaxError) -> Int64 {
        var s = Array(text.unicodeScalars)[...]
        var negative = false
        if let first = s.first, first == "-" || first == "+" {
            negative = first == "-"
            s = s.dropFirst()
        }
        if s.count == 1 && s.first == "0" { return 0 }
        if s.isEmpty { throw .syntax }
        var total: UInt64 = 0
        func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }
        while !s.isEmpty {
            guard let c = s.first, c == "." || isDigit(c) else { throw .syntax }
            // Integer part.
            var v: UInt64 = 0
            var pre = false
            while let c = s.first, isDigit(c) {
                pre = true
                s = s.dropFirst()
                if v > (1 << 63) / 10 { throw .syntax }  // Go: "invalid duration" on overflow
                v = v * 10 + UInt64(c.value - 48)
                if v > 1 << 63 { throw .syntax }
            }
            // Fraction.
            var f: UInt64 = 0
            var scale: Double = 1
            var post = false
            if s.first == "." {
                s = s.dropFirst()
                var overflow = false
                while let c = s.first, isDigit(c) {
                    post = true
                    s = s.dropFirst()
                    if overflow { continue }
                    if f > (1 << 63 - 1) / 10 { overflow = true; continue }
                    let y = f * 10 + UInt64(c.value - 48)
                    if y > 1 << 63 { overflow = true; continue }
                    f = y
                    scale *= 10
                }
            }
            if !pre && !post { throw .syntax }
            // Unit.
            var unit = ""
            while let c = s.first, c != ".", !isDigit(c) {
                unit.unicodeScalars.append(c)
                s = s.dropFirst()
            }
            if unit.isEmpty { throw .syntax }  // missing unit
            guard let perUnit = unitNanoseconds[unit] else { throw .syntax }  // unknown unit
            if v > (1 << 63) / perUnit { throw .syntax }
            v *= perUnit
            if f > 0 {
                let (sum, overflow) = v.addingReportingOverflow(UInt64(Double(f) * (Double(perUnit) / scale)))
                if overflow || sum > 1 << 63 { throw .syntax }
                v = sum
            }
            let (sum, overflow) = total.addingReportingOverflow(v)
            if overflow || sum > 1 << 63 { throw .syntax }
            total = sum
        }
        if negative { return total == 1 << 63 ? Int64.min : -Int64(total) }
        if total > UInt64(Int64.max) { throw .syntax }
        return Int64(total)
    }

    /// time.Duration.String: `2s`, `1m30s`, `500ms`, `1.5µs`, `2h0m0s`.
    public static func format(nanoseconds d: Int64) -> String {
        if d == 0 { return "0s" }
        let negative = d < 0
        var u = d.magnitude
        var out: String
        if u < 1_000_000_000 {
            let prec: Int
            let unit: String
            if u < 1_000 { prec = 0; unit = "ns" }
            else if u < 1_000_000 { prec = 3; unit = "\u{00B5}s" }
            else { prec = 6; unit = "ms" }
            let (frac, rest) = fraction(u, precision: prec)
            out = String(rest) + frac + unit
        } else {
            let (frac, secondsTotal) = fraction(u, precision: 9)
            u = secondsTotal
            out = String(u % 60) + frac + "s"
            u /= 60
            if u > 0 {
                out = String(u % 60) + "m" + out
                u /= 60
                if u > 0 { out = String(u) + "h" + out }
            }
        }
        return negative ? "-" + out : out
    }

    /// Go's fmtFrac: the fractional digits of v / 10^precision without trailing zeros.
    private static func fraction(_ v: UInt64, precision: Int) -> (String, UInt64) {
        var v = v
        var digits: [Character] = []
        var printed = false
        for _ in 0..<precision {
            let digit = v % 10
            printed = printed || digit != 0
            if printed { digits.append(Character(String(digit))) }
            v /= 10
        }
        if printed { return ("." + String(digits.reversed()), v) }
        return ("", v)
    }
}
