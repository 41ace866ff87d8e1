import Testing
@testable import SkyDNSServer

/// Text log lines quote etcd keys and values as they are: control characters must not break
/// the line or reach the terminal.
@Suite struct TextLogHandlerTests {
    @Test(arguments: [
        ("skipping etcd key /skydns/a/1", "skipping etcd key /skydns/a/1"),
        ("/skydns/inj\n2026-11-30T12:00:00+0000 critical forged", "/skydns/inj\\n2026-11-30T12:00:00+0000 critical forged"),
        ("a\u{1B}[2Jb", "a\\x1b[2Jb"),
        ("cr\rnul\u{0}del\u{7F}", "cr\\x0dnul\\x00del\\x7f"),
        ("tab\there", "tab\\there"),
        ("ünï \u{0080}", "ünï \u{0080}"),
    ])
    func controlCharactersEscaped(text: String, expected: String) {
        #expect(TextLogHandler.escaped(text) == expected)
    }
}
