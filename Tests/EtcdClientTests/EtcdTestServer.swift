import Foundation
import Logging
import SkyDNSStore
import StrictJSON
import Testing

@testable import EtcdClient

#if canImport(Glibc)
import Glibc
#endif

/// A single-member etcd on free loopback ports in a temporary data directory, with v2 enabled.
final class EtcdTestServer {
    static let binary: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/etcd" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
    static var isInstalled: Bool { binary != nil }

    let directory: URL
    let clientPort: UInt16
    let peerPort: UInt16
    private var process: Process?

    var endpoint: String { "http://127.0.0.1:\(clientPort)" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("etcd-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        clientPort = try freeLoopbackPort()
        peerPort = try freeLoopbackPort()
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Starts etcd (again, on the same data directory and ports) and waits until it is healthy.
    func start() throws {
        let binary = try #require(Self.binary)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        let peer = "http://127.0.0.1:\(peerPort)"
        process.arguments = [
            "--name", "t", "--data-dir", directory.appendingPathComponent("data").path,
            "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", "t=\(peer)", "--enable-v2=true",
        ]
        let log = directory.appendingPathComponent("etcd.log")
        if !FileManager.default.fileExists(atPath: log.path) {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let response = try? request("GET", "/health"), response.status == 200,
                String(decoding: response.body, as: UTF8.self).contains("true")
            {
                return
            }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        throw TestServerError.notHealthy(String(output.suffix(2000)))
    }

    func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
        self.process = nil
    }

    // MARK: Writing keys

    func v2Set(_ key: String, _ value: String, ttl: Int? = nil) throws {
        var query = "value=" + (value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value)
        if let ttl { query += "&ttl=\(ttl)" }
        try expectOK(request("PUT", "/v2/keys\(key)?\(query)"))
    }

    func v2Delete(_ key: String, directory: Bool = false) throws {
        try expectOK(request("DELETE", "/v2/keys\(key)" + (directory ? "?dir=true&recursive=true" : "")))
    }

    func v3Put(_ key: String, _ value: String) throws {
        try expectOK(request("POST", "/v3/kv/put", json: ["key": .string(b64(key)), "value": .string(b64(value))]))
    }

    func v3Delete(_ key: String) throws {
        try expectOK(request("POST", "/v3/kv/deleterange", json: ["key": .string(b64(key))]))
    }

    func request(_ method: String, _ path: String, json: JSONValue? = nil) throws -> HTTPResponse {
        let transport = HTTPTransport(options: HTTPTransportOptions())
        return try transport.perform(HTTPRequest(
            method: method, url: endpoint + path, body: json?.serialized, connectTimeout: 2, totalTimeout: 5))
    }

    private func expectOK(_ response: HTTPResponse) throws {
        guard (200..<300).contains(response.status) else {
            throw TestServerError.failedWrite(response.status, String(decoding: response.body, as: UTF8.self))
        }
    }

    private func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }
}

enum TestServerError: Error {
    case notHealthy(String)
    case failedWrite(Int, String)
    case noPort
}

/// A port nothing listens on right now (the kernel's pick for an ephemeral bind).
func freeLoopbackPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestServerError.noPort }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
        }
    }
    guard bound else { throw TestServerError.noPort }
    return UInt16(bigEndian: address.sin_port)
}

/// Applies delivered events to a key → value map the way the record store would, and keeps
/// everything seen for assertions.
final class EventRecorder: @unchecked Sendable {
    // Safe to share: every field is only touched under `lock`.
    private let lock = NSLock()
    private var records: [String: String] = [:]
    private var events: [StoreChange] = []
    private var states: [EtcdConnectionState] = []

    func apply(_ batch: [StoreChange]) {
        lock.withLock {
            events += batch
            for event in batch {
                switch event {
                case .replaceAll(let kvs):
                    records = Dictionary(kvs.map { ($0.key, String(decoding: $0.value, as: UTF8.self)) }) { $1 }
                case .put(let kv):
                    records[kv.key] = String(decoding: kv.value, as: UTF8.self)
                case .delete(let key):
                    records[key] = nil
                case .deleteTree(let key):
                    records = records.filter { $0.key != key && !$0.key.hasPrefix(key + "/") }
                case .firstReadPage(let kvs, let first, _):
                    if first { records = [:] }
                    for kv in kvs { records[kv.key] = String(decoding: kv.value, as: UTF8.self) }
                }
            }
        }
    }

    func record(_ state: EtcdConnectionState) {
        lock.withLock { states.append(state) }
    }

    var current: [String: String] { lock.withLock { records } }
    var allEvents: [StoreChange] { lock.withLock { events } }
    var allStates: [EtcdConnectionState] { lock.withLock { states } }
    /// The full reads delivered whole.
    var fullReads: [[KeyValue]] {
        allEvents.compactMap { if case .replaceAll(let kvs) = $0 { kvs } else { nil } }
    }

    func makeWatcher(_ config: EtcdClientConfig) -> EtcdWatcher {
        var logger = Logger(label: "etcd-test")
        logger.logLevel = .debug
        return EtcdWatcher(
            config: config, logger: logger,
            onChanges: { [self] in apply($0) },
            onStateChange: { [self] in record($0) })
    }
}

/// Polls `condition` until it holds or `timeout` passes; records an issue on timeout.
func eventually(
    _ what: String, timeout: Double = 10, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () throws -> Bool
) rethrows {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        Thread.sleep(forTimeInterval: 0.02)
    }
    if try condition() { return }
    Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
}
