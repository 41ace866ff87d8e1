import Foundation
import SkyDNSTestSupport
import StrictJSON
import Testing

@testable import EtcdClient

/// How many keys the next v3 range page asks for.
@Suite("v3 range paging")
struct PagingTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var limit: Int, pageSize: Int, pageBytes: Int, keys: Int, bytes: Int, next: Int
        var testDescription: String { "\(limit) keys (\(keys) read in \(bytes) B) → \(next)" }
    }

    @Test(arguments: [
        // Small values: double from the first page, up to four times it.
        Case(limit: 100, pageSize: 100, pageBytes: 1 << 20, keys: 100, bytes: 10_000, next: 200),
        Case(limit: 400, pageSize: 100, pageBytes: 1 << 20, keys: 400, bytes: 40_000, next: 400),
        // Large values: as many keys as the byte budget holds at the last page's bytes per key.
        Case(limit: 100, pageSize: 100, pageBytes: 1 << 20, keys: 100, bytes: 10 << 20, next: 10),
        Case(limit: 10, pageSize: 100, pageBytes: 1 << 20, keys: 10, bytes: 1 << 20, next: 10),
        // A key larger than the budget: one key a page, never none.
        Case(limit: 1, pageSize: 100, pageBytes: 1 << 20, keys: 1, bytes: 5 << 20, next: 1),
        // Back from one key a page once values shrink: doubling again.
        Case(limit: 1, pageSize: 100, pageBytes: 1 << 20, keys: 1, bytes: 100, next: 2),
        // An empty or unmeasured page does not change the doubling.
        Case(limit: 50, pageSize: 100, pageBytes: 1 << 20, keys: 0, bytes: 0, next: 100),
        // Out-of-range settings saturate instead of trapping.
        Case(limit: Int.max, pageSize: Int.max, pageBytes: Int.max, keys: 1, bytes: 1, next: Int.max),
    ])
    func nextLimit(_ c: Case) {
        #expect(PageReader.nextLimit(after: c.limit, pageSize: c.pageSize, pageBytes: c.pageBytes, keys: c.keys,
                                     bytes: c.bytes) == c.next)
    }
}

/// A prefix of large values is read in pages of bounded bytes, all at one revision.
@Suite(
    "v3 range paging against a real etcd",
    .enabled(if: EtcdTestServer.isInstalled, "the etcd binary is not installed (apt-get install etcd-server)"))
struct PagingIntegrationTests {
    @Test func largeValuesArePagedByBytes() throws {
        let etcd = try EtcdTestServer()
        let value = String(repeating: "v", count: 100_000)
        for i in 0..<12 { try etcd.v3Put("/skydns/big/k\(i < 10 ? "0" : "")\(i)", value) }
        let connection = EtcdConnection(
            config: EtcdClientConfig(endpoints: [etcd.endpoint]), endpoints: EndpointRing([etcd.endpoint]),
            isCancelled: { _ in false })
        // 100 keys a page by count; 150 kB a page by bytes (a cut-off at 600 kB): 100 kB values
        // (133 kB in base64) read one or two at a time.
        var v3 = EtcdV3(connection: connection, pageSize: 100)
        v3.pageBytes = 150_000
        var pages: [Int] = []
        var keys: [String] = []
        _ = try v3.readPrefix("/skydns/big/") { page, _ in
            pages.append(page.count)
            keys += page.map(\.key)
        }
        #expect(keys == (0..<12).map { "/skydns/big/k\($0 < 10 ? "0" : "")\($0)" })
        #expect(pages.allSatisfy { $0 <= 4 }, "pages of \(pages) keys")
        #expect(pages.count >= 3)
    }

    /// Keys are bytes in etcd; one that is not UTF-8 ends a page like any other: the next page
    /// starts after its bytes, not after its `String` (which replaces them, and so may sort
    /// before it, asking the same page for ever).
    @Test func keysThatAreNotUTF8EndPagesToo() throws {
        let etcd = try EtcdTestServer()
        let keys: [[UInt8]] = [Array("/skydns/k/a".utf8), Array("/skydns/k/z".utf8),
                               Array("/skydns/k/".utf8) + [0xFF, 0x31], Array("/skydns/k/".utf8) + [0xFF, 0x32]]
        for key in keys {
            let response = try etcd.request("POST", "/v3/kv/put", json: [
                "key": .string(Data(key).base64EncodedString()), "value": .string(Data("v".utf8).base64EncodedString()),
            ])
            #expect(response.status == 200)
        }
        let connection = EtcdConnection(
            config: EtcdClientConfig(endpoints: [etcd.endpoint]), endpoints: EndpointRing([etcd.endpoint]),
            isCancelled: { _ in false })
        // Pages of 1, 2 and 4 keys: the second ends on the first key that is not UTF-8.
        let (read, _) = try EtcdV3(connection: connection, pageSize: 1).readPrefix("/skydns/k/")
        #expect(read.map(\.key) == ["/skydns/k/a", "/skydns/k/z", "/skydns/k/\u{FFFD}1", "/skydns/k/\u{FFFD}2"])
    }
}
