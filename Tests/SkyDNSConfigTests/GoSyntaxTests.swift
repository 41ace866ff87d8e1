import Testing
@testable import SkyDNSConfig

@Suite("Go value syntax")
struct GoSyntaxTests {
    @Test("strconv.ParseInt(s, 0, 64)", arguments: [
        ("0", Int64(0)), ("-0", 0), ("+7", 7), ("-7", -7), ("010", 8), ("0x10", 16), ("-0x10", -16),
        ("0b11", 3), ("0o777", 511), ("1_000_000", 1_000_000), ("0x_1f", 31), ("9223372036854775807", .max),
        ("-9223372036854775808", .min),
    ])
    func parseInt(text: String, expected: Int64) throws {
        #expect(try GoSyntax.parseInt64(text) == expected)
    }

    @Test("strconv.ParseInt errors", arguments: [
        ("", GoSyntaxError.syntax), ("+", .syntax), ("-", .syntax), ("1.0", .syntax), ("1e3", .syntax),
        (" 1", .syntax), ("1 ", .syntax), ("0x", .syntax), ("09", .syntax), ("1_", .syntax), ("_1", .syntax),
        ("1__2", .syntax), ("0xg", .syntax), ("--1", .syntax),
        ("9223372036854775808", .range), ("-9223372036854775809", .range), ("99999999999999999999999", .range),
    ])
    func parseIntErrors(text: String, expected: GoSyntaxError) {
        #expect(throws: expected) { try GoSyntax.parseInt64(text) }
    }

    @Test("strconv.ParseUint rejects signs")
    func parseUIntSign() throws {
        #expect(throws: GoSyntaxError.syntax) { try GoSyntax.parseUInt64("+1") }
        #expect(throws: GoSyntaxError.syntax) { try GoSyntax.parseUInt64("-1") }
        #expect(throws: GoSyntaxError.range) { try GoSyntax.parseUInt64("18446744073709551616") }
        #expect(try GoSyntax.parseUInt64("18446744073709551615") == .max)
    }

    @Test("strconv.ParseBool accepts exactly Go's twelve spellings")
    func parseBool() throws {
        for t in ["1", "t", "T", "TRUE", "true", "True"] { #expect(try GoSyntax.parseBool(t)) }
        for f in ["0", "f", "F", "FALSE", "false", "False"] { #expect(try !GoSyntax.parseBool(f)) }
        for bad in ["", "yes", "no", "tRUE", "on", "2", " true"] {
            #expect(throws: GoSyntaxError.syntax) { try GoSyntax.parseBool(bad) }
        }
    }

    @Test("time.ParseDuration", arguments: [
        ("0", Int64(0)), ("-0", 0), ("+0", 0), ("0s", 0), ("5s", 5_000_000_000), ("30s", 30_000_000_000),
        ("1478s", 1_478_000_000_000), ("-5s", -5_000_000_000), ("5.0s", 5_000_000_000), ("5.6s", 5_600_000_000),
        ("5.s", 5_000_000_000), (".5s", 500_000_000), ("1.004s", 1_004_000_000), ("100.00100s", 100_001_000_000),
        ("10ns", 10), ("11us", 11_000), ("12µs", 12_000), ("12μs", 12_000), ("13ms", 13_000_000),
        ("14s", 14_000_000_000), ("15m", 900_000_000_000), ("16h", 57_600_000_000_000),
        ("3h30m", 12_600_000_000_000), ("10.5s4m", 250_500_000_000), ("-2m3.4s", -123_400_000_000),
        ("1h2m3s4ms5us6ns", 3_723_004_005_006), ("39h9m14.425s", 140_954_425_000_000),
        ("52763797000ns", 52_763_797_000), ("0.3333333333333333333h", 1_200_000_000_000),
        ("9007199254740993ns", 9_007_199_254_740_993), ("9223372036854775807ns", .max),
        ("-9223372036854775808ns", .min), ("0.100000000000000000000h", 360_000_000_000),
    ])
    func parseDuration(text: String, nanoseconds: Int64) {
        #expect(GoDuration.parse(text) == nanoseconds)
    }

    @Test("time.ParseDuration errors", arguments: [
        "", "3", "-", "s", ".", "-.", ".s", "+.s", "1d", "\u{0085}\u{0085}", "\u{FFFD}", "3000000h",
        "9223372036854775808ns", "9223372036854775.808us", "-9223372036854775809ns", "1s ", " 1s",
    ])
    func parseDurationErrors(text: String) {
        #expect(GoDuration.parse(text) == nil)
    }

    @Test("time.Duration.String", arguments: [
        (Int64(0), "0s"), (1, "1ns"), (1_100, "1.1µs"), (2_200_000, "2.2ms"), (3_300_000_000, "3.3s"),
        (240_000_000_000, "4m0s"), (302_000_000_000, "5m2s"), (308_000_000_000, "5m8s"),
        (4_000_000_000, "4s"), (2_000_000_000, "2s"), (500_000_000, "500ms"), (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"), (4_001_000_000_000, "1h6m41s"),
        (-1, "-1ns"), (-1_100, "-1.1µs"), (Int64.max, "2562047h47m16.854775807s"),
        (Int64.min, "-2562047h47m16.854775808s"),
    ] as [(Int64, String)])
    func formatDuration(nanoseconds: Int64, expected: String) {
        #expect(GoDuration.format(nanoseconds: nanoseconds) == expected)
    }

    @Test("strconv.Quote for error messages", arguments: [
        ("abc", #""abc""#), ("", #""""#), ("a\"b", #""a\"b""#), ("a\\b", #""a\\b""#), ("\n\t", #""\n\t""#),
        ("\u{01}", #""\x01""#), ("é", #""é""#),
    ])
    func quote(text: String, expected: String) {
        #expect(GoSyntax.quote(text) == expected)
    }
}
