#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SkyDNSStore
import SkyDNSTestSupport
import Testing

@testable import EtcdClient

/// A loopback port that completes TCP handshakes (the kernel's backlog) and never reads or
/// answers: an etcd member that is wedged, or a proxy in front of a dead one.
private final class HungEndpoint {
    private let fd: Int32
    let endpoint: String

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 64) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else {
            close(fd)
            throw SupportError.io("a listening socket on 127.0.0.1")
        }
        endpoint = "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
    }

    deinit { close(fd) }
}

/// The reads made outside the watch for one query (hidden v2 paths, the first-read fallback)
/// share their time between the endpoints: a hung one listed first leaves time for the rest.
@Suite(
    "One-shot reads across endpoints",
    .enabled(if: EtcdTestServer.isInstalled, "the etcd binary is not installed (apt-get install etcd-server)"))
struct OneShotReadTests {
    @Test func hiddenReadGetsPastAHungFirstEndpoint() throws {
        let etcd = try EtcdTestServer()
        let hidden = "/skydns/local/kafka/_broker/_tcp"
        try etcd.v2Set(hidden + "/k1", "srv1")
        let hung = try HungEndpoint()
        // Not started: the read needs no watch, and the keyspace is given.
        let watcher = EventRecorder().makeWatcher(EtcdClientConfig(endpoints: [hung.endpoint, etcd.endpoint], api: .v2))
        defer { watcher.stop() }
        #expect(watcher.fetchHidden(key: hidden, timeout: .seconds(4)) == [KeyValue(key: hidden + "/k1", value: Array("srv1".utf8))])
    }

    @Test func smallSubtreeReadGetsPastAHungFirstEndpoint() throws {
        let etcd = try EtcdTestServer()
        try etcd.v3Put("/skydns/local/kafka/a", "a")
        try etcd.v3Put("/skydns/local/kafka/b", "b")
        let hung = try HungEndpoint()
        let watcher = EventRecorder().makeWatcher(EtcdClientConfig(endpoints: [hung.endpoint, etcd.endpoint], api: .v3))
        defer { watcher.stop() }
        guard case .keys(let found) = watcher.fetchSmallSubtree(key: "/skydns/local/kafka", limit: 8, timeout: .seconds(4)) else {
            Issue.record("the second endpoint was not asked")
            return
        }
        #expect(found.map(\.key) == ["/skydns/local/kafka/a", "/skydns/local/kafka/b"])
    }
}
