import StrictJSON
import Synchronization

/// The endpoint list of one watcher and which one is in use. Shared by the watcher's threads
/// so that a failover found by one of them is used by all.
final class EndpointRing: @unchecked Sendable {
    // Safe to share: `index` is a Mutex; `endpoints` is immutable.
    private let endpoints: [String]
    private let index = Mutex(0)

    init(_ endpoints: [String]) {
        // Every final slash goes (`http://etcd:2379//` as a manifest may write it, which Go's
        // path.Join cleaned): one left behind makes `//v2/keys`, which etcd answers with a 301.
        let trimmed = endpoints.map { endpoint in
            var trimmed = Substring(endpoint)
            while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
            return String(trimmed)
        }.filter { !$0.isEmpty }
        self.endpoints = trimmed.isEmpty ? ["http://127.0.0.1:2379"] : trimmed
    }

    var count: Int { endpoints.count }

    func current() -> (index: Int, url: String) {
        index.withLock { ($0, endpoints[$0]) }
    }

    func url(at position: Int) -> String { endpoints[position % endpoints.count] }

    /// Moves on to the next endpoint, unless another thread already moved on from `failed`.
    func advance(past failed: Int) {
        index.withLock { index in
            if index == failed { index = (index + 1) % endpoints.count }
        }
    }
}

/// Where one connection's requests go, shared with its transfer's cancellation check.
private final class InFlightEndpoint: Sendable {
    let index = Atomic(0)
}

/// Sends etcd requests for one thread: picks the current endpoint, adds v3 auth, and
/// turns HTTP failures into `EtcdError`.
final class EtcdConnection {
    let config: EtcdClientConfig
    private let endpoints: EndpointRing
    private let transport: HTTPTransport
    /// The ring position of the request in flight (or the last one); the cancellation check reads it.
    private let inFlight: InFlightEndpoint
    var usedEndpoint: Int { inFlight.index.load(ordering: .relaxed) }
    /// Always this endpoint (a health probe), rather than the ring's current one.
    private let pinned: Int?
    /// The v3 gateway takes a token from /v3/auth/authenticate instead of basic auth;
    /// "" when credentials are configured but etcd has auth disabled.
    private var v3Token: String?

    /// - Parameter isCancelled: polled during a transfer with the ring position the request goes to;
    ///   true ends the request (it throws).
    init(config: EtcdClientConfig, endpoints: EndpointRing, pinned: Int? = nil,
         isCancelled: @escaping @Sendable (_ endpoint: Int) -> Bool) {
        self.config = config
        self.endpoints = endpoints
        self.pinned = pinned
        let inFlight = InFlightEndpoint()
        self.inFlight = inFlight
        self.transport = HTTPTransport(
            options: HTTPTransportOptions(
                caCertPath: config.caCertPath, tlsCertPath: config.tlsCertPath, tlsKeyPath: config.tlsKeyPath),
            isCancelled: { isCancelled(inFlight.index.load(ordering: .relaxed)) })
    }

    var endpoint: String { endpoints.current().url }

    /// Call after a failed exchange so the next request goes to another endpoint.
    func failover() {
        endpoints.advance(past: usedEndpoint)
        v3Token = nil
    }

    /// - Parameter path: path and query, e.g. "/v2/keys/skydns?recursive=true".
    func send(
        method: String = "GET", path: String, json: JSONValue? = nil,
        totalTimeout: Double?, idleTimeout: Double? = nil, maxBody: Int = HTTPRequest.largestBody,
        onData: ((UnsafeRawBufferPointer) -> Bool)? = nil
    ) throws -> HTTPResponse {
        let (index, base) = pinned.map { ($0, endpoints.url(at: $0)) } ?? endpoints.current()
        inFlight.index.store(index, ordering: .relaxed)
        var request = HTTPRequest(
            method: method, url: base + path, body: json?.serialized,
            connectTimeout: config.requestSeconds, totalTimeout: totalTimeout, idleTimeout: idleTimeout, maxBody: maxBody)
        if path.hasPrefix("/v3/") {
            if let token = try v3AuthToken(base: base), !token.isEmpty {
                request.headers.append("Authorization: \(token)")
            }
        } else if let user = config.username {
            request.basicAuth = (user, config.password ?? "")
        }
        let response = try transport.perform(request, onData: onData)
        if response.status >= 500 {
            throw EtcdError.server(status: response.status, message: bodySummary(response.body))
        }
        if path.hasPrefix("/v3/") && response.status == 401 {
            v3Token = nil  // expired token: authenticate again on the retry
        }
        return response
    }

    private func v3AuthToken(base: String) throws -> String? {
        guard let name = config.username else { return nil }
        if let token = v3Token { return token }
        let request = HTTPRequest(
            method: "POST", url: base + "/v3/auth/authenticate",
            body: JSONValue.object([("name", .string(name)), ("password", .string(config.password ?? ""))]).serialized,
            connectTimeout: config.requestSeconds, totalTimeout: config.requestSeconds, maxBody: HTTPRequest.smallBody)
        let response = try transport.perform(request)
        if response.status == 200, let token = (try? JSONValue.parse(response.body))?["token"]?.string {
            v3Token = token
        } else if bodySummary(response.body).contains("authentication is not enabled") {
            v3Token = ""
        } else {
            throw EtcdError.server(status: response.status, message: "v3 authentication failed: \(bodySummary(response.body))")
        }
        return v3Token
    }
}

/// The start of a body, for log and error messages.
func bodySummary(_ body: [UInt8]) -> String {
    String(decoding: trimmingASCIIWhitespace(body.prefix(300)), as: UTF8.self)
}

/// `bytes` without leading and trailing spaces, tabs, CRs and LFs.
func trimmingASCIIWhitespace<C: BidirectionalCollection<UInt8>>(_ bytes: C) -> C.SubSequence {
    func blank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
    guard let first = bytes.firstIndex(where: { !blank($0) }), let last = bytes.lastIndex(where: { !blank($0) }) else {
        return bytes[bytes.endIndex...]
    }
    return bytes[first...last]
}
