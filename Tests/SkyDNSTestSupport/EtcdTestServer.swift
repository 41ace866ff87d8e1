import Foundation
import StrictJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// etcd's answer to one HTTP request.
public struct EtcdResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A single-member etcd (v2 API on) on free loopback ports, in a temporary data directory.
///
/// `stop()` and `start()` restart it on the same ports and data. A guard shell ends etcd and
/// removes the directory once the test process is gone, so an etcd shared by a whole suite
/// (which has no teardown) does not outlive the run.
public final class EtcdTestServer: @unchecked Sendable {
    // @unchecked: `process` is only touched by `start`/`stop`, which a test calls from one task.

    /// The `etcd` binary on `PATH`, if any.
    public static let binary: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/etcd" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
    public static var isInstalled: Bool { binary != nil }

    public let directory: String
    public let clientPort: UInt16
    public let peerPort: UInt16
    private var process: Process?

    /// `http://127.0.0.1:<client port>`.
    public var endpoint: String { "http://127.0.0.1:\(clientPort)" }
    /// etcd's own log so far (for failure messages).
    public var log: String { (try? String(contentsOfFile: "\(directory)/etcd.log", encoding: .utf8)) ?? "" }

    /// Starts etcd and waits (up to 20 s) until `/health` says true.
    public init() throws {
        directory = NSTemporaryDirectory() + "skydns-etcd-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        clientPort = try freeLoopbackPort()
        peerPort = try freeLoopbackPort()
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts etcd (again, on the same data directory and ports) and waits until it is healthy.
    public func start() throws {
        guard let binary = Self.binary else { throw SupportError.notReady("etcd is not installed") }
        let peer = "http://127.0.0.1:\(peerPort)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--name", "t", "--data-dir", "\(directory)/data",
            "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "t=\(peer)",
            "--enable-v2=true", "--max-txn-ops", "10000", "--max-request-bytes", "10485760",
        ]
        let logPath = "\(directory)/etcd.log"
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        try startGuard(etcd: process.processIdentifier)
        let healthy = waitUntil(timeout: .seconds(20)) {
            if let health = try? request("GET", "/health", timeout: .seconds(1)), health.status == 200,
               health.text.contains("true") {
                return true
            }
            return !process.isRunning
        }
        guard healthy, process.isRunning else {
            stop()
            throw SupportError.notReady("etcd did not become healthy:\n\(self.log.suffix(2000))")
        }
    }

    /// A shell that ends etcd and removes the directory once this process is gone; it ends by
    /// itself when etcd stops first.
    private func startGuard(etcd: Int32) throws {
        let me = getpid()
        let guardShell = Process()
        guardShell.executableURL = URL(fileURLWithPath: "/bin/sh")
        guardShell.arguments = ["-c", """
            while kill -0 \(me) 2>/dev/null && kill -0 \(etcd) 2>/dev/null; do sleep 0.5; done
            kill -0 \(me) 2>/dev/null || { kill \(etcd) 2>/dev/null; rm -rf '\(directory)'; }
            """]
        guardShell.standardInput = FileHandle.nullDevice
        guardShell.standardOutput = FileHandle.nullDevice
        guardShell.standardError = FileHandle.nullDevice
        try guardShell.run()
    }

    /// Stops etcd (SIGTERM) and waits for it to exit.
    public func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
        self.process = nil
    }

    // MARK: Writing keys

    public func v2Set(_ key: String, _ value: String, ttl: Int? = nil) throws {
        var query = "value=" + (value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value)
        if let ttl { query += "&ttl=\(ttl)" }
        try expectOK(request("PUT", "/v2/keys\(key)?\(query)"))
    }

    public func v2Delete(_ key: String, directory: Bool = false) throws {
        try expectOK(request("DELETE", "/v2/keys\(key)" + (directory ? "?dir=true&recursive=true" : "")))
    }

    public func v3Put(_ key: String, _ value: String) throws {
        try expectOK(request("POST", "/v3/kv/put", json: ["key": .string(b64(key)), "value": .string(b64(value))]))
    }

    /// Writes all pairs in one transaction (one etcd revision; at most 10,000).
    public func v3PutAll(_ pairs: [(key: String, value: String)]) throws {
        let operations: [JSONValue] = pairs.map {
            ["requestPut": ["key": .string(b64($0.key)), "value": .string(b64($0.value))]]
        }
        try expectOK(request("POST", "/v3/kv/txn", json: ["success": .array(operations)]))
    }

    public func v3Delete(_ key: String) throws {
        try expectOK(request("POST", "/v3/kv/deleterange", json: ["key": .string(b64(key))]))
    }

    /// One HTTP/1.0 request to etcd's client port (the reply is unchunked and ends at close).
    public func request(_ method: String, _ path: String, json: JSONValue? = nil, timeout: Duration = .seconds(5))
        throws -> EtcdResponse
    {
        let fd = try connectedTCPSocket(port: clientPort, timeout: timeout, what: "etcd")
        defer { close(fd) }
        let body = json?.serialized ?? []
        let head = "\(method) \(path) HTTP/1.0\r\nHost: 127.0.0.1:\(clientPort)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
        try sendAll(fd, Array(head.utf8) + body)
        let response = try receiveAll(fd, what: "etcd")
        guard let end = response.firstRange(of: Array("\r\n\r\n".utf8)),
              let statusLine = String(decoding: response[..<end.lowerBound], as: UTF8.self)
                  .split(separator: "\r\n", maxSplits: 1).first,
              let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { throw SupportError.io("not an HTTP response: \(String(decoding: response.prefix(200), as: UTF8.self))") }
        return EtcdResponse(status: status, body: Array(response[end.upperBound...]))
    }

    private func expectOK(_ response: EtcdResponse) throws {
        guard (200..<300).contains(response.status) else { throw SupportError.http(response.status, response.text) }
    }

    private func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
}
