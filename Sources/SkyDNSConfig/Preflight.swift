#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A setting that cannot work, found before serving: the server exits 2 naming it rather than
/// run refusing its domain (SkyDNS failed at start too, when its TLS files did not load).
public struct PreflightError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The flag, e.g. `ca-cert`.
    public var flag: String
    public var problem: String
    public var description: String { "-\(flag): \(problem)" }
}

extension SkyDNSConfiguration {
    /// Checks what can be checked before serving: the etcd TLS files exist, are readable regular
    /// files holding what their flag needs (a PEM certificate, a PEM private key), and come as a
    /// pair. Reads at most `PreflightFile.maxBytes` of each file. Returns every problem found.
    public func preflight() -> [PreflightError] {
        var problems: [PreflightError] = []
        func check(_ flag: String, _ path: String, needs marker: String, what: String) {
            guard !path.isEmpty else { return }
            switch PreflightFile.contents(path) {
            case .failure(let reason):
                problems.append(PreflightError(flag: flag, problem: "cannot read \(GoSyntax.quote(path)): \(reason)"))
            case .success(let text):
                if !text.contains(marker) {
                    problems.append(PreflightError(
                        flag: flag, problem: "\(GoSyntax.quote(path)) holds no PEM \(what) (no \"\(marker)\" line)"))
                }
            }
        }
        check("ca-cert", caCert, needs: "-----BEGIN CERTIFICATE-----", what: "certificate")
        check("tls-pem", tlsPem, needs: "-----BEGIN CERTIFICATE-----", what: "certificate")
        check("tls-key", tlsKey, needs: "PRIVATE KEY-----", what: "private key")
        if tlsPem.isEmpty != tlsKey.isEmpty {
            let (given, missing) = tlsPem.isEmpty ? ("tls-key", "tls-pem") : ("tls-pem", "tls-key")
            problems.append(PreflightError(flag: missing, problem: "-\(given) is set, so -\(missing) is needed too"))
        }
        if !password.isEmpty && username.isEmpty {
            problems.append(PreflightError(flag: "username", problem: "-password is set without -username"))
        }
        return problems
    }
}

/// Reading a file named by a flag: bounded, and only a regular file (a FIFO or a device could
/// block or never end).
enum PreflightFile {
    static let maxBytes = 1 << 20

    static func contents(_ path: String) -> Result<String, ReadFailure> {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return .failure(ReadFailure(errno: errno)) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(ReadFailure(errno: errno)) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return .failure(ReadFailure(text: "not a regular file")) }
        var bytes = [UInt8](repeating: 0, count: maxBytes)
        var count = 0
        while count < maxBytes {
            let got = bytes.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return read(fd, base + count, maxBytes - count)
            }
            if got < 0 {
                if errno == EINTR { continue }
                return .failure(ReadFailure(errno: errno))
            }
            if got == 0 { break }
            count += got
        }
        return .success(String(decoding: bytes[..<count], as: UTF8.self))
    }

    struct ReadFailure: Error {
        var text: String
        init(text: String) { self.text = text }
        init(errno code: Int32) { text = String(cString: strerror(code)) }
    }
}

extension PreflightFile.ReadFailure: CustomStringConvertible {
    var description: String { text }
}
