@testable import SkyDNSServer
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// TCP limits are counted per source: an IPv4 address, an IPv6 client's /64, and an IPv4 client
/// seen through an IPv6 socket as itself.
@Suite struct SourceKeyTests {
    private func key(_ text: String) throws -> SourceKey {
        SourceKey(try SocketAddress(text.contains(":") ? "[\(text)]:53" : "\(text):53").storage)
    }

    @Test(arguments: [
        ("10.0.0.1", "10.0.0.1", true),
        ("10.0.0.1", "10.0.0.2", false),
        ("10.0.0.1", "::ffff:10.0.0.1", true),
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true),
        ("2001:db8:1:2::1", "2001:db8:1:3::1", false),
        ("::1", "::2", false),
        ("::1", "0.0.0.1", false),
    ])
    func sameSource(first: String, second: String, same: Bool) throws {
        #expect((try key(first) == key(second)) == same)
    }

}
