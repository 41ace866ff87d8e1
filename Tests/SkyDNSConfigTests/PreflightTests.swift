import Glibc
import Testing
@testable import SkyDNSConfig

@Suite("Checks before serving")
struct PreflightTests {
    /// A file in a fresh temporary directory holding `text`; returns its path.
    private func file(_ name: String, _ text: String) throws -> String {
        var template = Array("/tmp/skydns-preflight-XXXXXX".utf8CString)
        let directory = try #require(template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.flatMap { mkdtemp($0) }
        })
        let path = String(cString: directory) + "/" + name
        let stream = try #require(fopen(path, "w"))
        fputs(text, stream)
        fclose(stream)
        return path
    }

    @Test("no TLS settings: nothing to check")
    func nothing() throws {
        #expect(try configuration([]).preflight() == [])
    }

    @Test("PEM files that exist pass")
    func good() throws {
        let ca = try file("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        let key = try file("k.key", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")
        let rsa = try file("r.key", "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n")
        #expect(try configuration(["-ca-cert=\(ca)", "-tls-pem=\(ca)", "-tls-key=\(key)"]).preflight() == [])
        #expect(try configuration(["-tls-pem=\(ca)", "-tls-key=\(rsa)"]).preflight() == [])
    }

    @Test("each problem names its flag and file")
    func problems() throws {
        let garbage = try file("garbage.pem", "hello")
        let found = try configuration([
            "-ca-cert=/nonexistent/ca.pem", "-tls-pem=/tmp", "-tls-key=\(garbage)",
        ]).preflight().map(\.description)
        #expect(found == [
            #"-ca-cert: cannot read "/nonexistent/ca.pem": No such file or directory"#,
            #"-tls-pem: cannot read "/tmp": not a regular file"#,
            #"-tls-key: "\#(garbage)" holds no PEM private key (no "PRIVATE KEY-----" line)"#,
        ])
    }

    @Test("half a client certificate pair, or a password without a user")
    func pairs() throws {
        let cert = try file("c.pem", "-----BEGIN CERTIFICATE-----\n")
        #expect(try configuration(["-tls-pem=\(cert)"]).preflight().map(\.description)
            == ["-tls-key: -tls-pem is set, so -tls-key is needed too"])
        #expect(try configuration(["-password=x"]).preflight().map(\.description)
            == ["-username: -password is set without -username"])
    }

    @Test("a device is refused without reading it")
    func device() throws {
        #expect(try configuration(["-ca-cert=/dev/zero"]).preflight().map(\.description)
            == [#"-ca-cert: cannot read "/dev/zero": not a regular file"#])
    }
}
