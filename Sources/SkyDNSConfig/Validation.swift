#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks of setting values. Each returns the normalized value or throws a reason (the text after
/// `invalid value "…" for flag -x: `).
enum Validation {
    struct Reason: Error, Equatable {
        var text: String
        init(_ text: String) { self.text = text }
    }

    // MARK: Addresses

    /// net.SplitHostPort, with Go's error texts.
    static func splitHostPort(_ hostport: String) throws(Reason) -> (host: String, port: String) {
        func fail(_ why: String) -> Reason { Reason("address \(hostport): \(why)") }
        let s = Array(hostport.unicodeScalars)
        guard let i = s.lastIndex(of: ":") else { throw fail("missing port in address") }
        var host: String
        var j = 0
        var k = 0
        if s.first == "[" {
            guard let end = s.firstIndex(of: "]") else { throw fail("missing ']' in address") }
            if end + 1 == s.count {
                throw fail("missing port in address")
            } else if end + 1 != i {
                if s[end + 1] == ":" { throw fail("too many colons in address") }
                throw fail("missing port in address")
            }
            host = String(String.UnicodeScalarView(s[1..<end]))
            j = 1
            k = end + 1
        } else {
            host = String(String.UnicodeScalarView(s[0..<i]))
            if host.unicodeScalars.contains(":") { throw fail("too many colons in address") }
        }
        if s[j...].contains("[") { throw fail("unexpected '[' in address") }
        if s[k...].contains("]") { throw fail("unexpected ']' in address") }
        return (host, String(String.UnicodeScalarView(s[(i + 1)...])))
    }

    static func isIPv4(_ s: String) -> Bool {
        // inet_pton stops at a NUL, which a /skydns/config value can hold.
        guard !s.utf8.contains(0) else { return false }
        var addr = in_addr()
        return s.withCString { inet_pton(AF_INET, $0, &addr) } == 1
    }

    static func isIPv6(_ s: String) -> Bool {
        // Allow a zone (`fe80::1%eth0`), as Go's ParseIP-based checks in net.Listen do.
        var address = Substring(s)
        if let percent = s.firstIndex(of: "%") {
            if s.index(after: percent) == s.endIndex { return false }
            address = s[..<percent]
        }
        guard !s.utf8.contains(0) else { return false }
        var addr = in6_addr()
        return String(address).withCString { inet_pton(AF_INET6, $0, &addr) } == 1
    }

    /// Decimal port, no sign, within `range`.
    static func port(_ text: String, in range: ClosedRange<Int>) throws(Reason) -> Int {
        guard !text.isEmpty, text.utf8.count <= 5, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let value = Int(text), range.contains(value)
        else { throw Reason("bad port number \(GoSyntax.quote(text)) (must be \(range.lowerBound)-\(range.upperBound))") }
        return value
    }

    /// A listening address: `ip:port`, `[ipv6]:port` or `:port` (all interfaces); port 0-65535.
    static func listenAddress(_ text: String) throws(Reason) -> String {
        let (host, portText) = try splitHostPort(text)
        try checkHost(host, of: text, allowEmpty: true)
        _ = try port(portText, in: 0...65535)
        return text
    }

    /// A server to send queries to: `ip:port` or `[ipv6]:port`; port 1-65535.
    static func serverAddress(_ text: String) throws(Reason) -> String {
        let (host, portText) = try splitHostPort(text)
        try checkHost(host, of: text, allowEmpty: false)
        _ = try port(portText, in: 1...65535)
        return text
    }

    private static func checkHost(_ host: String, of text: String, allowEmpty: Bool) throws(Reason) {
        if host.isEmpty {
            if allowEmpty { return }
            throw Reason("address \(text): missing IP address")
        }
        let bracketed = text.hasPrefix("[")
        if bracketed ? isIPv6(host) : isIPv4(host) { return }
        if !bracketed && isIPv6(host) {
            throw Reason("address \(text): an IPv6 address needs brackets, e.g. [\(host)]:53")
        }
        throw Reason("bad IP address: \(host)")
    }

    // MARK: Lists

    /// Splits a comma list and trims blanks around each entry.
    static func commaList(_ text: String) -> [String] {
        text.split(separator: ",", omittingEmptySubsequences: false).map { trim($0) }
    }

    static func trim<S: StringProtocol>(_ s: S) -> String {
        var scalars = Substring(s).unicodeScalars[...]
        while let f = scalars.first, f == " " || f == "\t" || f == "\n" || f == "\r" { scalars = scalars.dropFirst() }
        while let l = scalars.last, l == " " || l == "\t" || l == "\n" || l == "\r" { scalars = scalars.dropLast() }
        return String(String.UnicodeScalarView(scalars))
    }

    static func machines(_ text: String) throws(Reason) -> [String] {
        let list = commaList(text)
        if list.count == 1 && list[0].isEmpty { throw Reason("at least one etcd URL is needed") }
        for machine in list {
            try checkMachine(machine)
        }
        return list
    }

    static func checkMachine(_ machine: String) throws(Reason) {
        if machine.isEmpty { throw Reason("empty etcd URL in the list") }
        let lower = machine.lowercased()
        let scheme = lower.hasPrefix("http://") ? "http://" : lower.hasPrefix("https://") ? "https://" : nil
        guard let scheme else {
            throw Reason("etcd URL \(GoSyntax.quote(machine)) must start with http:// or https://")
        }
        if machine.count == scheme.count {
            throw Reason("etcd URL \(GoSyntax.quote(machine)) has no host")
        }
        if machine.unicodeScalars.contains(where: { $0 == " " || $0 == "\t" || $0.value < 0x20 }) {
            throw Reason("etcd URL \(GoSyntax.quote(machine)) contains blanks")
        }
    }

    static func nameservers(_ text: String) throws(Reason) -> [String] {
        if trim(text).isEmpty { return [] }
        let list = commaList(text)
        for server in list {
            if server.isEmpty { throw Reason("empty entry in the nameserver list") }
            _ = try serverAddress(server)
        }
        return list
    }

    // MARK: Names

    /// Lower case with exactly one final dot; labels 1-63 characters, at most 253 characters in all.
    /// The root (`.`) is accepted, as SkyDNS did: every name is then the served domain's.
    static func domain(_ text: String) throws(Reason) -> String {
        var name = text.lowercased()
        if name.isEmpty { throw Reason("the domain must not be empty") }
        if name.unicodeScalars.contains(where: { $0 == " " || $0 == "\t" || $0.value < 0x20 || $0.value == 0x7F }) {
            throw Reason("the domain must not contain blanks or control characters")
        }
        if name == "." { return name }
        if !name.hasSuffix(".") { name += "." }
        let labels = name.dropLast().split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            if label.isEmpty { throw Reason("empty label in domain") }
            if label.utf8.count > 63 { throw Reason("label \(GoSyntax.quote(String(label))) is longer than 63 characters") }
        }
        if name.utf8.count - 1 > 253 { throw Reason("the domain is longer than 253 characters") }
        return name
    }

    /// SkyDNS: `@` becomes `.` (an SOA mailbox has no @) and the name ends in a dot.
    static func hostmaster(_ text: String) throws(Reason) -> String {
        var name = String(text.map { $0 == "@" ? "." : $0 })
        if name.isEmpty { return "" }
        if name.unicodeScalars.contains(where: { $0 == " " || $0 == "\t" || $0.value < 0x20 }) {
            throw Reason("the hostmaster must not contain blanks or control characters")
        }
        if !name.hasSuffix(".") { name += "." }
        return name
    }

    static func hostmasterDefault(domain: String) -> String {
        domain == "." ? "hostmaster." : "hostmaster." + domain
    }

    /// Go's dns.Fqdn for `-local`.
    static func fqdn(_ text: String) -> String {
        text.isEmpty || text.hasSuffix(".") ? text : text + "."
    }

    // MARK: Numbers

    static func nonNegative(_ value: Int64) throws(Reason) -> Int {
        if value < 0 { throw Reason("must not be negative") }
        return Int(value)
    }

    static func positiveDuration(_ nanoseconds: Int64) throws(Reason) -> Duration {
        if nanoseconds <= 0 { throw Reason("must be positive") }
        return .nanoseconds(nanoseconds)
    }

    static func logFormat(_ text: String) throws(Reason) -> String {
        switch text {
        case "text", "json": return text
        default: throw Reason("must be text or json")
        }
    }

    static func metricsPath(_ text: String) throws(Reason) -> String {
        if !text.hasPrefix("/") { throw Reason("must start with /") }
        return text
    }
}
