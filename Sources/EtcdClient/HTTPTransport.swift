import CLibCurl

/// libcurl must be initialised once, before any handle is used from any thread; a global
/// `let` is initialised lazily and exactly once.
private let curlGlobalInit: Void = {
    _ = skydns_curl_global_init_all()
}()

struct HTTPRequest {
    var method: String = "GET"
    var url: String
    var body: [UInt8]? = nil
    var headers: [String] = []
    /// Connect timeout in seconds.
    var connectTimeout: Double
    /// Whole-transfer limit in seconds, nil for none.
    var totalTimeout: Double? = nil
    /// Abort when no byte arrives for this many seconds, nil for none.
    var idleTimeout: Double? = nil
    /// Basic-auth user and password (the v2 API); the v3 gateway takes a token header instead.
    var basicAuth: (user: String, password: String)? = nil
    /// A collected body longer than this fails the request: an endpoint is not trusted to end.
    var maxBody: Int = HTTPRequest.largestBody

    /// The most a collected answer may hold: a v2 read of a million keys is a few hundred MiB.
    static let largestBody = 1 << 30
    /// For answers that hold a key or a header: etcd values are at most 1.5 MiB by default.
    static let smallBody = 4 << 20
}

struct HTTPResponse {
    enum Ending {
        case complete
        /// The total or idle timeout fired after the response had started.
        case timedOut
        /// The streaming consumer asked to stop.
        case consumerStopped
    }

    var status: Int
    /// Lower-cased names.
    var headers: [String: String]
    /// Empty when the body was streamed to a consumer.
    var body: [UInt8]
    var ending: Ending

    func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// TLS settings applied to every request.
struct HTTPTransportOptions: Sendable {
    var caCertPath: String?
    var tlsCertPath: String?
    var tlsKeyPath: String?
}

/// One libcurl easy handle. Reusing it across requests keeps the connection alive.
/// Not thread-safe: each thread owns its own transport.
final class HTTPTransport {
    private let handle: UnsafeMutableRawPointer
    private let options: HTTPTransportOptions
    private let isCancelled: @Sendable () -> Bool

    /// - Parameter isCancelled: polled during transfers (at least once a second) so stop()
    ///   interrupts a long watch.
    init(options: HTTPTransportOptions, isCancelled: @escaping @Sendable () -> Bool = { false }) {
        _ = curlGlobalInit
        guard let h = curl_easy_init() else {
            fatalError("curl_easy_init failed: libcurl is out of memory")
        }
        self.handle = h
        self.options = options
        self.isCancelled = isCancelled
    }

    deinit {
        curl_easy_cleanup(handle)
    }

    /// Performs the request. With `onData` the body is streamed to it chunk by chunk (return
    /// false to stop the transfer) and a timeout after the response started ends the call
    /// normally with `.timedOut`; without it the body is collected and any timeout throws.
    func perform(_ request: HTTPRequest, onData: ((UnsafeRawBufferPointer) -> Bool)? = nil) throws -> HTTPResponse {
        let state = TransferState(onData: onData, isCancelled: isCancelled, maxBody: request.maxBody)
        curl_easy_reset(handle)

        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        var allHeaders = request.headers
        if request.body != nil {
            allHeaders.append("Content-Type: application/json")
        }
        // A watch POST must not wait a second for "100 Continue".
        allHeaders.append("Expect:")
        for header in allHeaders {
            headerList = curl_slist_append(headerList, header)
        }

        // libcurl's generic error text ("Failure when receiving data from the peer") hides
        // the cause, such as a rejected client certificate; its error buffer names it.
        var errorText = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        setString(CURLOPT_URL, request.url)
        setLong(CURLOPT_NOSIGNAL, 1)  // required with threads: no SIGALRM for DNS timeouts
        setLong(CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout * 1000))
        if let total = request.totalTimeout {
            setLong(CURLOPT_TIMEOUT_MS, max(1, Int(total * 1000)))
        }
        if let idle = request.idleTimeout {
            setLong(CURLOPT_LOW_SPEED_LIMIT, 1)
            setLong(CURLOPT_LOW_SPEED_TIME, max(1, Int(idle.rounded(.up))))
        }
        // Detects a peer that vanished without closing the connection during a quiet watch.
        setLong(CURLOPT_TCP_KEEPALIVE, 1)
        setLong(CURLOPT_TCP_KEEPIDLE, 15)
        setLong(CURLOPT_TCP_KEEPINTVL, 5)
        _ = skydns_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, headerList)

        if request.method == "POST" {
            setLong(CURLOPT_POST, 1)
        } else if request.method != "GET" {
            setString(CURLOPT_CUSTOMREQUEST, request.method)
        }
        if let body = request.body {
            setLong(CURLOPT_POSTFIELDSIZE, body.count)
            // COPYPOSTFIELDS copies, so the buffer need not outlive this call.
            if body.isEmpty {
                setString(CURLOPT_COPYPOSTFIELDS, "")
            } else {
                body.withUnsafeBytes { _ = skydns_curl_setopt_ptr(handle, CURLOPT_COPYPOSTFIELDS, $0.baseAddress) }
            }
        }

        if let ca = options.caCertPath { setString(CURLOPT_CAINFO, ca) }
        if let cert = options.tlsCertPath { setString(CURLOPT_SSLCERT, cert) }
        if let key = options.tlsKeyPath { setString(CURLOPT_SSLKEY, key) }
        if let (user, password) = request.basicAuth {
            setString(CURLOPT_USERNAME, user)
            setString(CURLOPT_PASSWORD, password)
        }

        let context = Unmanaged.passUnretained(state).toOpaque()
        _ = skydns_curl_setopt_write_callback(handle) { data, size, count, context in
            let state = Unmanaged<TransferState>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            let chunk = UnsafeRawBufferPointer(start: data, count: length)
            if let onData = state.onData {
                if !onData(chunk) {
                    state.consumerStopped = true
                    return 0
                }
            } else {
                guard state.body.count + length <= state.maxBody else {
                    state.tooLarge = true
                    return 0
                }
                state.body.append(contentsOf: chunk)
            }
            return length
        }
        _ = skydns_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, context)
        _ = skydns_curl_setopt_header_callback(handle) { data, size, count, context in
            let state = Unmanaged<TransferState>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            state.addHeaderLine(UnsafeRawBufferPointer(start: data, count: length))
            return length
        }
        _ = skydns_curl_setopt_ptr(handle, CURLOPT_HEADERDATA, context)
        setLong(CURLOPT_NOPROGRESS, 0)
        _ = skydns_curl_setopt_xferinfo_callback(handle) { context, _, _, _, _ in
            let state = Unmanaged<TransferState>.fromOpaque(context!).takeUnretainedValue()
            return state.isCancelled() ? 1 : 0
        }
        _ = skydns_curl_setopt_ptr(handle, CURLOPT_XFERINFODATA, context)

        let code = errorText.withUnsafeMutableBufferPointer { buffer in
            _ = skydns_curl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, buffer.baseAddress)
            defer { _ = skydns_curl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, nil) }
            return withExtendedLifetime(state) { curl_easy_perform(handle) }
        }

        var status = 0
        _ = skydns_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        let response = HTTPResponse(status: status, headers: state.headers, body: state.body, ending: .complete)
        switch code {
        case CURLE_OK:
            return response
        case CURLE_ABORTED_BY_CALLBACK:
            throw EtcdError.cancelled
        case CURLE_WRITE_ERROR where state.tooLarge:
            throw EtcdError.tooLarge("\(request.url): answer longer than \(request.maxBody) bytes")
        case CURLE_WRITE_ERROR where state.consumerStopped:
            var stopped = response
            stopped.ending = .consumerStopped
            return stopped
        case CURLE_OPERATION_TIMEDOUT where onData != nil && status != 0:
            var timedOut = response
            timedOut.ending = .timedOut
            return timedOut
        default:
            let detail = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let summary = String(cString: curl_easy_strerror(code))
            var message = "\(request.url): \(detail.isEmpty || detail == summary ? summary : "\(summary) (\(detail))")"
            // With TLS 1.3 a server that rejects our certificate (or its absence) just closes the
            // connection after the handshake, and libcurl can only say the peer went away.
            if request.url.hasPrefix("https:") && (code == CURLE_SEND_ERROR || code == CURLE_RECV_ERROR) {
                message += options.tlsCertPath == nil
                    ? "; etcd closed the TLS connection: it may require a client certificate (-tls-pem, -tls-key)"
                    : "; etcd closed the TLS connection: check that it trusts the client certificate's CA"
            }
            throw EtcdError.transport(message)
        }
    }

    private func setLong(_ option: CURLoption, _ value: Int) {
        _ = skydns_curl_setopt_long(handle, option, value)
    }

    private func setString(_ option: CURLoption, _ value: String) {
        // libcurl copies string options, so the C string need only live for the call.
        _ = value.withCString { skydns_curl_setopt_ptr(handle, option, $0) }
    }
}

/// What the C callbacks of one transfer read and write, reached through their context pointer.
private final class TransferState {
    let onData: ((UnsafeRawBufferPointer) -> Bool)?
    let isCancelled: @Sendable () -> Bool
    var body: [UInt8] = []
    var headers: [String: String] = [:]
    var consumerStopped = false
    let maxBody: Int
    var tooLarge = false

    init(onData: ((UnsafeRawBufferPointer) -> Bool)?, isCancelled: @escaping @Sendable () -> Bool, maxBody: Int) {
        self.onData = onData
        self.isCancelled = isCancelled
        self.maxBody = maxBody
    }

    func addHeaderLine(_ raw: UnsafeRawBufferPointer) {
        let line = String(decoding: raw, as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            // A new status line (e.g. after "100 Continue"): earlier headers belong to it.
            headers = [:]
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].lowercased()
        let value = String(decoding: trimmingASCIIWhitespace(line[line.index(after: colon)...].utf8), as: UTF8.self)
        headers[name] = value
    }
}
