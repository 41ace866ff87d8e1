/// The head of an HTTP/1.1 request (RFC 9112 §2-3: request line and header fields), read into a
/// buffer of at most `limit` bytes. Each `append` scans only the bytes it added (plus the three
/// before them, for a terminator split across reads), so a head trickled in byte by byte costs
/// its length once, and a head longer than `limit` is refused without reading the rest.
struct HTTPRequestHead {
    enum State: Equatable {
        case incomplete
        /// The blank line ending the head was found.
        case complete
        /// `limit` bytes arrived without the blank line: answered 431 (RFC 6585 §5).
        case tooLarge
    }

    /// Request line and header fields, in bytes: Prometheus and kubelet send a few hundred.
    static let limit = 8192

    private(set) var bytes: [UInt8] = []
    private(set) var state = State.incomplete

    init() { bytes.reserveCapacity(Self.limit) }

    /// How many more bytes may be read before the limit.
    var room: Int { state == .incomplete ? Self.limit - bytes.count : 0 }

    /// Adds what was read (at most `room` bytes are taken) and looks for the end of the head.
    mutating func append(_ data: UnsafeRawBufferPointer) -> State {
        guard state == .incomplete else { return state }
        let start = max(bytes.count - 3, 0)
        bytes.append(contentsOf: data.prefix(room))
        var index = start
        while index < bytes.count {
            if bytes[index] == 0x0A {
                // LF LF, or LF CR LF: the blank line (RFC 9112 §2.2 lets a bare LF end a line).
                if index + 1 < bytes.count && bytes[index + 1] == 0x0A { state = .complete; return state }
                if index + 2 < bytes.count && bytes[index + 1] == 0x0D && bytes[index + 2] == 0x0A {
                    state = .complete
                    return state
                }
            }
            index += 1
        }
        if bytes.count >= Self.limit { state = .tooLarge }
        return state
    }

    enum Method: Equatable { case get, head, other }

    /// The request line's method and path (the target up to `?`), or the status to refuse it with:
    /// 400 for a line that is not `method SP origin-form SP HTTP/1.x`.
    func requestLine() -> Result<(method: Method, path: String), HTTPStatus> {
        let end = bytes.firstIndex(of: 0x0A) ?? bytes.count
        var line = bytes[..<end]
        if line.last == 0x0D { line = line.dropLast() }
        let parts = line.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[2].starts(with: Array("HTTP/1.".utf8)), parts[2].count == 8,
              parts[1].first == UInt8(ascii: "/"), !parts[1].contains(0x20)
        else { return .failure(.badRequest) }
        let method: Method = parts[0].elementsEqual("GET".utf8) ? .get : parts[0].elementsEqual("HEAD".utf8) ? .head : .other
        let path = parts[1].prefix { $0 != UInt8(ascii: "?") }
        return .success((method, String(decoding: path, as: UTF8.self)))
    }
}

/// The statuses the operator endpoint answers with (RFC 9110 §15, RFC 6585 §5).
enum HTTPStatus: Int, Error, Sendable {
    case ok = 200
    case badRequest = 400
    case notFound = 404
    case methodNotAllowed = 405
    case requestHeaderFieldsTooLarge = 431
    case serviceUnavailable = 503

    var reason: String {
        switch self {
        case .ok: "OK"
        case .badRequest: "Bad Request"
        case .notFound: "Not Found"
        case .methodNotAllowed: "Method Not Allowed"
        case .requestHeaderFieldsTooLarge: "Request Header Fields Too Large"
        case .serviceUnavailable: "Service Unavailable"
        }
    }
}

/// A whole response: status line, `Content-Type`, `Content-Length`, `Connection: close`, and the
/// body unless the request was HEAD.
struct HTTPResponse {
    var status: HTTPStatus
    var contentType = "text/plain; charset=utf-8"
    var body: [UInt8]
    var extraHeader: String?

    init(_ status: HTTPStatus, text: String) {
        self.status = status
        body = Array((text + "\n").utf8)
    }

    init(_ status: HTTPStatus, contentType: String, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    func serialized(includeBody: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(status.rawValue) \(status.reason)\r\nContent-Type: \(contentType)\r\n"
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n"
        if let extraHeader { head += extraHeader + "\r\n" }
        var bytes = Array((head + "\r\n").utf8)
        if includeBody { bytes += body }
        return bytes
    }
}
