#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Parses a textual IPv4 address into its four bytes; nil for anything else, including text
/// with a NUL byte (`inet_pton` would read only what comes before it: "10.0.0.1\0.evil").
public func parseIPv4(_ text: String) -> [UInt8]? {
    guard !text.utf8.contains(0) else { return nil }
    var address = in_addr()
    guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
    return withUnsafeBytes(of: &address) { Array($0) }
}

/// Parses a textual IPv6 address into its sixteen bytes; nil for anything else (a NUL byte too).
public func parseIPv6(_ text: String) -> [UInt8]? {
    guard !text.utf8.contains(0) else { return nil }
    var address = in6_addr()
    guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
    return withUnsafeBytes(of: &address) { Array($0) }
}

enum AddressFamily { case v4, v6 }

func formatAddress(_ bytes: [UInt8], family: AddressFamily) -> String {
    var buffer = [CChar](repeating: 0, count: 64)
    bytes.withUnsafeBytes { raw in
        _ = inet_ntop(family == .v4 ? AF_INET : AF_INET6, raw.baseAddress, &buffer, socklen_t(buffer.count))
    }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
