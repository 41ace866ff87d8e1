import DNSWire
import Foundation
import Logging
import SkyDNSConfig
import SkyDNSServer
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Helpers for the record-semantics suite: a real etcd on free loopback ports, real
// `DNSServer`s on free loopback ports, and DNS over real UDP/TCP sockets.

enum SupportError: Error, CustomStringConvertible {
    case io(String)
    case timeout(String)
    case http(Int, String)
    case notReady(String)

    var description: String {
        switch self {
        case .io(let what): "I/O error: \(what)"
        case .timeout(let what): "timed out: \(what)"
        case .http(let status, let body): "etcd answered HTTP \(status): \(body)"
        case .notReady(let what): what
        }
    }
}

// MARK: - Sockets

private func errnoText() -> String { String(cString: strerror(errno)) }

private func loopback(_ port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

private func connectSocket(_ fd: Int32, port: UInt16) -> Bool {
    var address = loopback(port)
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

private func setTimeouts(_ fd: Int32, seconds: Double) {
    var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1e6))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
}

/// A port the kernel hands out for an ephemeral TCP bind on 127.0.0.1 (free right now).
func freeLoopbackPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SupportError.io("socket: \(errnoText())") }
    defer { close(fd) }
    var address = loopback(0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
        }
    }
    guard bound else { throw SupportError.io("bind: \(errnoText())") }
    return UInt16(bigEndian: address.sin_port)
}

private func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    var sent = 0
    while sent < bytes.count {
        let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw SupportError.io("send: \(errnoText())") }
        sent += n
    }
}

private func receiveExactly(_ fd: Int32, _ count: Int, what: String) throws -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: count)
    var received = 0
    while received < count {
        let n = buffer[received...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw SupportError.timeout(what) }
        guard n > 0 else { throw SupportError.io("\(what): connection closed after \(received) of \(count) bytes") }
        received += n
    }
    return buffer
}

/// Sends one datagram to 127.0.0.1:`port` and returns the first reply with the same ID.
func udpExchange(_ query: [UInt8], port: UInt16, timeout: Double = 2) throws -> [UInt8] {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { throw SupportError.io("socket: \(errnoText())") }
    defer { close(fd) }
    guard connectSocket(fd, port: port) else { throw SupportError.io("connect: \(errnoText())") }
    setTimeouts(fd, seconds: timeout)
    try sendAll(fd, query)
    let deadline = Date().addingTimeInterval(timeout)
    var buffer = [UInt8](repeating: 0, count: 65536)
    while Date() < deadline {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
        guard n >= 0 else { throw SupportError.io("recv: \(errnoText())") }
        if n >= 2 && buffer[0] == query[0] && buffer[1] == query[1] { return Array(buffer[0..<n]) }
    }
    throw SupportError.timeout("no UDP reply from 127.0.0.1:\(port) within \(timeout)s")
}

/// Sends one query over a new TCP connection (2-byte length framing) and returns the reply.
func tcpExchange(_ query: [UInt8], port: UInt16, timeout: Double = 5) throws -> [UInt8] {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SupportError.io("socket: \(errnoText())") }
    defer { close(fd) }
    setTimeouts(fd, seconds: timeout)
    guard connectSocket(fd, port: port) else { throw SupportError.io("connect: \(errnoText())") }
    try sendAll(fd, TCPFraming.frame(query))
    let prefix = try receiveExactly(fd, 2, what: "TCP reply length from 127.0.0.1:\(port)")
    let length = Int(prefix[0]) << 8 | Int(prefix[1])
    return try receiveExactly(fd, length, what: "TCP reply body from 127.0.0.1:\(port)")
}

// MARK: - DNS queries

enum Transport: String, Sendable {
    case udp, tcp
}

struct Reply {
    var bytes: [UInt8]
    var message: Message
}

/// Builds a query (RD set, like dig), sends it, and parses the reply, checking that it is a
/// response to this query: same ID, QR set, the question echoed with the client's casing.
func query(_ name: String, _ type: RecordType, class recordClass: RecordClass = .in, port: UInt16,
           transport: Transport = .udp, ednsSize: UInt16? = nil, timeout: Double = 2) throws -> Reply {
    let question = Question(name: try DomainName(name), type: type, recordClass: recordClass)
    let id = UInt16.random(in: 1...UInt16.max)
    let request = Message(header: Header(id: id, flags: Header.rdBit), questions: [question],
                          edns: ednsSize.map { EDNS(udpPayloadSize: $0) })
    let bytes = request.encode()
    let reply = switch transport {
    case .udp: try udpExchange(bytes, port: port, timeout: timeout)
    case .tcp: try tcpExchange(bytes, port: port, timeout: timeout)
    }
    let message = try Message(parsing: reply)
    #expect(message.header.id == id)
    #expect(message.header.isResponse)
    #expect(message.questions.count == 1)
    if let echoed = message.questions.first {
        #expect(echoed.name.wire == question.name.wire, "question echoed with the client's casing")
        #expect(echoed.type == type && echoed.recordClass == recordClass)
    }
    return Reply(bytes: reply, message: message)
}

// MARK: - Presentation

private let typeNames: [UInt16: String] = [
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
]

func typeName(_ type: RecordType) -> String { typeNames[type.rawValue] ?? "TYPE\(type.rawValue)" }

func className(_ recordClass: RecordClass) -> String {
    switch recordClass.rawValue {
    case 1: "IN"
    case 3: "CH"
    case 4: "HS"
    default: "CLASS\(recordClass.rawValue)"
    }
}

/// `"…"` with `"` and `\` escaped and unprintable bytes as `\DDD` (RFC 1035 §5.1).
func quoted(_ bytes: [UInt8]) -> String {
    var text = "\""
    for byte in bytes {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"):
            text += "\\" + String(Character(Unicode.Scalar(byte)))
        case 0x20...0x7E:
            text.append(Character(Unicode.Scalar(byte)))
        default:
            let digits = String(byte)
            text += "\\" + String(repeating: "0", count: 3 - digits.count) + digits
        }
    }
    return text + "\""
}

/// Character strings (TXT, HINFO) read from raw RDATA; nil if they do not parse.
private func characterStrings(_ data: [UInt8]) -> [[UInt8]]? {
    var strings: [[UInt8]] = []
    var index = 0
    while index < data.count {
        let length = Int(data[index])
        guard index + 1 + length <= data.count else { return nil }
        strings.append(Array(data[(index + 1)..<(index + 1 + length)]))
        index += 1 + length
    }
    return strings
}

/// Zone-file form, e.g. `svc.skydns.test. 3600 IN SRV 10 33 8080 a.svc.skydns.test.`. The SOA
/// serial prints as `SERIAL` (it follows the data and the clock); read it from the record itself.
func presentation(_ record: ResourceRecord) -> String {
    let data: String
    switch record.data {
    case .a(let a): data = a.description
    case .aaaa(let aaaa): data = aaaa.description
    case .cname(let r): data = r.target.description
    case .ns(let r): data = r.target.description
    case .ptr(let r): data = r.target.description
    case .mx(let r): data = "\(r.preference) \(r.exchange)"
    case .srv(let r): data = "\(r.priority) \(r.weight) \(r.port) \(r.target)"
    case .txt(let r): data = r.strings.map(quoted).joined(separator: " ")
    case .soa(let r): data = "\(r.mname) \(r.rname) SERIAL \(r.refresh) \(r.retry) \(r.expire) \(r.minimum)"
    case .unknown(let type, let bytes):
        if type.rawValue == 13, let strings = characterStrings(bytes) {
            data = strings.map(quoted).joined(separator: " ")
        } else {
            data = "\\# \(bytes.count) " + bytes.map { String(format: "%02x", $0) }.joined()
        }
    }
    return "\(record.name) \(record.ttl) \(className(record.recordClass)) \(typeName(record.type)) \(data)"
}

// MARK: - etcd

/// A tiny blocking HTTP/1.0 client (etcd's v3 JSON gateway needs nothing more; HTTP/1.0 keeps
/// the reply unchunked and closes the connection at its end).
func httpRequest(port: UInt16, method: String, path: String, body: [UInt8] = [], timeout: Double = 5) throws
    -> (status: Int, body: String)
{
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SupportError.io("socket: \(errnoText())") }
    defer { close(fd) }
    setTimeouts(fd, seconds: timeout)
    guard connectSocket(fd, port: port) else { throw SupportError.io("connect to etcd: \(errnoText())") }
    let head = "\(method) \(path) HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\n"
        + "Content-Length: \(body.count)\r\n\r\n"
    try sendAll(fd, Array(head.utf8) + body)
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 { throw SupportError.io("reading from etcd: \(errnoText())") }
        if n == 0 { break }
        response += buffer[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let statusLine = text.split(separator: "\r\n", maxSplits: 1).first,
          let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
    else { throw SupportError.io("not an HTTP response: \(text.prefix(200))") }
    let bodyText = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
    return (status, bodyText)
}

/// A single-member etcd on free loopback ports in a temporary directory. A shell watchdog ends it
/// (and removes the directory) once the test process is gone, since suites have no teardown.
final class EtcdProcess: Sendable {
    static let binary: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/etcd" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
    static var isInstalled: Bool { binary != nil }

    let clientPort: UInt16
    let directory: String
    var endpoint: String { "http://127.0.0.1:\(clientPort)" }

    init() throws {
        guard let binary = Self.binary else { throw SupportError.notReady("etcd is not installed") }
        directory = NSTemporaryDirectory() + "skydns-semantics-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        clientPort = try freeLoopbackPort()
        let peerPort = try freeLoopbackPort()
        let client = "http://127.0.0.1:\(clientPort)"
        let peer = "http://127.0.0.1:\(peerPort)"
        let arguments = [
            binary, "--name", "sem", "--data-dir", "\(directory)/data",
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", "sem=\(peer)", "--max-txn-ops", "10000", "--max-request-bytes", "10485760",
        ].map { "'\($0)'" }.joined(separator: " ")
        let script = """
            \(arguments) >'\(directory)/etcd.log' 2>&1 &
            etcd=$!
            while kill -0 \(getpid()) 2>/dev/null && kill -0 $etcd 2>/dev/null; do sleep 0.5; done
            kill $etcd 2>/dev/null; wait $etcd; rm -rf '\(directory)'
            """
        let watchdog = Process()
        watchdog.executableURL = URL(fileURLWithPath: "/bin/sh")
        watchdog.arguments = ["-c", script]
        watchdog.standardInput = FileHandle.nullDevice
        watchdog.standardOutput = FileHandle.nullDevice
        watchdog.standardError = FileHandle.nullDevice
        try watchdog.run()

        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let health = try? httpRequest(port: clientPort, method: "GET", path: "/health", timeout: 1),
               health.status == 200, health.body.contains("true")
            {
                return
            }
            guard watchdog.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let log = (try? String(contentsOfFile: "\(directory)/etcd.log", encoding: .utf8)) ?? ""
        throw SupportError.notReady("etcd did not become healthy:\n\(log.suffix(2000))")
    }

    private func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    private func post(_ path: String, _ json: Any) throws {
        let body = try JSONSerialization.data(withJSONObject: json)
        let response = try httpRequest(port: clientPort, method: "POST", path: path, body: Array(body))
        guard (200..<300).contains(response.status) else { throw SupportError.http(response.status, response.body) }
    }

    func put(_ key: String, _ value: String) throws {
        try post("/v3/kv/put", ["key": b64(key), "value": b64(value)])
    }

    /// Writes all pairs in one transaction (one etcd revision).
    func putAll(_ pairs: [(String, String)]) throws {
        let operations = pairs.map { ["requestPut": ["key": b64($0.0), "value": b64($0.1)]] }
        try post("/v3/kv/txn", ["success": operations])
    }
}

// MARK: - Servers

/// One in-process server on a free loopback port.
struct RunningServer: Sendable {
    let service: DNSServer
    let port: UInt16
    let configuration: SkyDNSConfiguration

    /// Starts a server for `domain` against `etcd` (v3 API, `-no-rec`, one UDP worker) and waits
    /// until it has read etcd (its apex SOA stops being REFUSED).
    static func start(domain: String, etcd: EtcdProcess, configure: (inout SkyDNSConfiguration) -> Void = { _ in })
        throws -> RunningServer
    {
        var lastError: Error?
        for _ in 0..<5 {
            var configuration = SkyDNSConfiguration()
            let port = try freeLoopbackPort()
            configuration.addr = "127.0.0.1:\(port)"
            configuration.domain = domain
            configuration.machines = [etcd.endpoint]
            configuration.etcd3 = true
            configuration.noRec = true
            configuration.hostmaster = ""
            configure(&configuration)
            var logger = Logger(label: "skydns-semantics \(domain)")
            logger.logLevel = .error
            let service: DNSServer
            do {
                service = try DNSServer(configuration: configuration, logger: logger, udpWorkers: 1)
                try service.start()
            } catch {
                // The UDP side of a port found free for TCP may be taken: pick another port.
                lastError = error
                continue
            }
            let deadline = Date().addingTimeInterval(15)
            while Date() < deadline {
                if let reply = try? query(domain, .soa, port: port, timeout: 0.5),
                   reply.message.header.responseCode == .noError
                {
                    return RunningServer(service: service, port: port, configuration: configuration)
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
            throw SupportError.notReady("server for \(domain) on port \(port) did not answer its apex SOA within 15 s")
        }
        throw lastError ?? SupportError.notReady("could not start a server for \(domain)")
    }
}

/// Polls `condition` until it holds or `timeout` passes.
func waitUntil(timeout: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return try condition()
}
