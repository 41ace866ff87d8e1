@testable import SkyDNSOperator
import Testing

private func feed(_ chunks: [String]) -> (HTTPRequestHead, HTTPRequestHead.State) {
    var head = HTTPRequestHead()
    var state = HTTPRequestHead.State.incomplete
    for chunk in chunks {
        state = Array(chunk.utf8).withUnsafeBytes { head.append($0) }
    }
    return (head, state)
}

@Suite("Operator HTTP: reading a request head")
struct HTTPRequestHeadTests {
    @Test("the blank line ends the head, however the bytes are split", arguments: [
        ["GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"],
        ["GET /metrics HTTP/1.1\r\nHost: x\r", "\n", "\r", "\n"],
        ["GET /metrics HTTP/1.1\r\nHost: x\r\n\r", "\n"],
        ["GET /metrics HTTP/1.0\n\n"],
        "GET /metrics HTTP/1.1\r\nUser-Agent: kube-probe/1.30\r\n\r\n".map { String($0) },
    ])
    func complete(chunks: [String]) {
        let (head, state) = feed(chunks)
        #expect(state == .complete)
        #expect(head.room == 0)
        guard case .success(let line) = head.requestLine() else { Issue.record("not parsed"); return }
        #expect(line.method == .get && line.path == "/metrics")
    }

    @Test("no blank line yet is incomplete", arguments: [
        ["GET /metrics HTTP/1.1\r\n"], ["GET /metrics HTTP/1.1\r\nHost: x\r\n\r"], ["GET"], [""],
    ])
    func incomplete(chunks: [String]) {
        #expect(feed(chunks).1 == .incomplete)
    }

    @Test("a head over 8 KiB is refused at the limit and no more is taken")
    func tooLarge() {
        var head = HTTPRequestHead()
        let line = Array("GET / HTTP/1.1\r\nX-Big: ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        var offset = 0
        var state = HTTPRequestHead.State.incomplete
        while state == .incomplete {
            let take = min(head.room, 4096)
            state = line[offset..<(offset + take)].withUnsafeBytes { head.append($0) }
            offset += take
        }
        #expect(state == .tooLarge)
        #expect(offset == HTTPRequestHead.limit)
        #expect(head.bytes.count == HTTPRequestHead.limit)
        #expect(head.room == 0)
        // More bytes are not taken.
        #expect(Array("\r\n\r\n".utf8).withUnsafeBytes { head.append($0) } == .tooLarge)
        #expect(head.bytes.count == HTTPRequestHead.limit)
    }

    @Test("the request line: method, path up to ?, or 400", arguments: [
        ("GET /metrics HTTP/1.1", "get /metrics"),
        ("HEAD /readyz?verbose=1 HTTP/1.1", "head /readyz"),
        ("POST /metrics HTTP/1.1", "other /metrics"),
        ("GET http://host/metrics HTTP/1.1", "400"),
        ("GET /metrics", "400"),
        ("GET  /metrics HTTP/1.1", "400"),
        ("GET /metrics HTTP/2.0", "400"),
        ("GET /metrics HTTP/1.1 extra", "400"),
        ("\u{0}\u{1} / HTTP/1.1", "other /"),
    ])
    func requestLine(line: String, expected: String) {
        let (head, state) = feed([line + "\r\n\r\n"])
        #expect(state == .complete)
        switch head.requestLine() {
        case .success(let request):
            #expect("\(request.method) \(request.path)" == expected)
        case .failure(let status):
            #expect(String(status.rawValue) == expected)
        }
    }

    @Test("responses say Content-Length and Connection: close; HEAD leaves the body out")
    func response() {
        let response = HTTPResponse(.serviceUnavailable, text: "not ready: shutting down")
        #expect(String(decoding: response.serialized(includeBody: true), as: UTF8.self)
            == "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 25\r\nConnection: close\r\n\r\nnot ready: shutting down\n")
        #expect(String(decoding: response.serialized(includeBody: false), as: UTF8.self).hasSuffix("Connection: close\r\n\r\n"))
    }

    @Test("-metrics-addr forms", arguments: [
        ("127.0.0.1:9153", true), (":9153", true), ("[::1]:9153", true), ("0.0.0.0:0", true),
        ("localhost:9153", false), ("127.0.0.1", false), ("127.0.0.1:70000", false), ("[::1:9153", false), ("::1:9153", false),
    ])
    func address(text: String, valid: Bool) {
        #expect((ListenAddress(text) != nil) == valid)
    }
}
