#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSWire
@testable import SkyDNSServer
import SkyDNSTestSupport
import Synchronization
import Testing

// The upstream engine against fake upstreams on loopback sockets, in process: which server's
// reply is taken, what moves it to the next server, what it ignores, and its bounds.

private func name(_ text: String) -> DomainName { try! DomainName(text) }

/// What a fake upstream (UpstreamEngineTests) sends back to one query: datagrams, in order.
enum Behaviour: Sendable {
    case answer
    case silent
    /// A reply whose answer count runs past its records.
    case malformed
    /// First a reply with another ID, then one to another question, then the real answer.
    case spoofsThenAnswer
    /// A truncated UDP reply; the whole answer over TCP on the same port.
    case truncatedThenTCP
    /// SERVFAIL carrying the loop mark (the query came back to its sender).
    case loop
}

/// A UDP (and, for `.truncatedThenTCP`, TCP) server on 127.0.0.1 answering by `behaviour`,
/// on a thread of its own until `stop()`.
private final class FakeUpstream: Sendable {
    let address: SocketAddress
    let queries = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let udp: Int32
    private let tcp: Int32

    init(_ behaviour: Behaviour) throws {
        let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(udp, $0, length) } }
        _ = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(udp, $0, &length) } }
        let port = UInt16(bigEndian: local.sin_port)
        let tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(tcp, $0, length) } }
        listen(tcp, 8)
        self.udp = udp
        self.tcp = tcp
        address = try SocketAddress("127.0.0.1:\(port)")
        spawnThread { [self] in serve(behaviour) }
    }

    func stop() { stopped.store(true, ordering: .releasing) }

    private func serve(_ behaviour: Behaviour) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !stopped.load(ordering: .relaxed) {
            var fds = [pollfd(fd: udp, events: Int16(POLLIN), revents: 0), pollfd(fd: tcp, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 2, 50) > 0 else { continue }
            if fds[1].revents != 0 { serveTCP() }
            guard fds[0].revents != 0 else { continue }
            var peer = sockaddr_storage()
            var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let count = withUnsafeMutablePointer(to: &peer) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(udp, &buffer, buffer.count, 0, $0, &peerLength) }
            }
            guard count > 0, let query = try? Message(parsing: Array(buffer[..<count])) else { continue }
            queries.add(1, ordering: .relaxed)
            for datagram in Self.replies(to: query, behaviour) {
                _ = withUnsafePointer(to: &peer) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(udp, datagram, datagram.count, 0, $0, peerLength)
                    }
                }
            }
        }
        close(udp)
        close(tcp)
    }

    /// One TCP query, answered whole.
    private func serveTCP() {
        let connection = accept(tcp, nil, nil)
        guard connection >= 0 else { return }
        defer { close(connection) }
        var deframer = TCPDeframer()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            if let message = deframer.nextMessage(), let query = try? Message(parsing: Array(message)) {
                let framed = TCPFraming.frame(Self.answer(to: query).encode())
                _ = send(connection, framed, framed.count, Int32(MSG_NOSIGNAL))
                return
            }
            let count = recv(connection, &buffer, buffer.count, 0)
            guard count > 0 else { return }
            deframer.append(buffer[..<count])
        }
    }

    static func answer(to query: Message, truncated: Bool = false) -> Message {
        var header = Header(id: query.header.id, flags: Header.qrBit | Header.rdBit | Header.raBit)
        header.isTruncated = truncated
        let records = truncated ? [] : [ResourceRecord(name: query.questions[0].name, ttl: 60,
                                                       data: .a(ARecord(bytes: [192, 0, 2, 53])))]
        return Message(header: header, questions: query.questions, answers: records)
    }

    private static func replies(to query: Message, _ behaviour: Behaviour) -> [[UInt8]] {
        switch behaviour {
        case .answer:
            return [answer(to: query).encode()]
        case .silent:
            return []
        case .malformed:
            var bytes = answer(to: query).encode()
            bytes[7] = 9
            return [bytes]
        case .spoofsThenAnswer:
            var otherID = answer(to: query)
            otherID.header.id &+= 1
            var otherQuestion = query
            otherQuestion.questions = [Question(name: name("elsewhere.test"), type: .a)]
            return [otherID.encode(), answer(to: otherQuestion).encode(), answer(to: query).encode()]
        case .truncatedThenTCP:
            return [answer(to: query, truncated: true).encode()]
        case .loop:
            var header = Header(id: query.header.id, flags: Header.qrBit)
            header.responseCode = .servFail
            return [Message(header: header, questions: query.questions,
                            edns: EDNS(udpPayloadSize: 512, options: [EDNS.Option(code: ForwardingLoop.optionCode, data: [])])).encode()]
        }
    }
}


/// An engine on a thread of its own, with every exchange it reports.
private final class EngineUnderTest: Sendable {
    final class Log: Sendable {
        let entries = Mutex<[String]>([])
    }
    let engine: UpstreamEngine
    let log = Log()

    init(timeout: Duration = .milliseconds(300), budget: InFlightBudget = InFlightBudget(limit: 8), start: Bool = true) throws {
        let log = log
        engine = try UpstreamEngine(timeout: timeout, budget: budget) { server, result, _ in
            let text: String
            switch result {
            case .success: text = "answered"
            case .failure(let failure): text = "\(failure)"
            }
            log.entries.withLock { $0.append("\(server) \(text)") }
        }
        if start {
            let engine = engine
            spawnThread { engine.run() }
        }
    }

    func ask(_ servers: [SocketAddress], name owner: String = "www.example.test") -> UpstreamOutcome {
        let query = Message(header: Header(id: 0, flags: Header.rdBit, questionCount: 1),
                            questions: [Question(name: name(owner), type: .a)])
        let done = Rendezvous<UpstreamOutcome>()
        guard engine.submit({ UpstreamRequest(query: query, servers: servers) { done.put($0) } }) else {
            Issue.record("refused")
            return .failed(looped: false)
        }
        return done.take()
    }
}

@Suite("Upstream engine: exchanges with fake upstreams on loopback")
struct UpstreamEngineTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var first: Behaviour
        /// What the engine reports of the exchange with the first server.
        var firstOutcome: String
        var testDescription: String { label }
    }

    @Test("the first server fails in some way: the second one's answer is taken", arguments: [
        Case(label: "silent: timeout, next", first: .silent, firstOutcome: "timeout"),
        Case(label: "malformed reply: next", first: .malformed, firstOutcome: "malformed"),
        Case(label: "loop mark: next", first: .loop, firstOutcome: "loop"),
    ])
    func nextUpstream(_ c: Case) throws {
        let first = try FakeUpstream(c.first), second = try FakeUpstream(.answer)
        defer { first.stop(); second.stop() }
        let engine = try EngineUnderTest()
        guard case .answered(let reply) = engine.ask([first.address, second.address]) else {
            Issue.record("no answer")
            return
        }
        #expect(reply.answers.count == 1)
        #expect(engine.log.entries.withLock { $0 } == ["\(first.address) \(c.firstOutcome)", "\(second.address) answered"])
        #expect(first.queries.load(ordering: .relaxed) == 1)
    }

    @Test("a reply with another ID or to another question is ignored; the real one is taken")
    func spoofsIgnored() throws {
        let upstream = try FakeUpstream(.spoofsThenAnswer)
        defer { upstream.stop() }
        let engine = try EngineUnderTest()
        guard case .answered(let reply) = engine.ask([upstream.address]) else {
            Issue.record("no answer")
            return
        }
        #expect(reply.questions.first?.name == name("www.example.test"))
        #expect(engine.log.entries.withLock { $0 } == ["\(upstream.address) answered"])
    }

    @Test("a truncated UDP reply is asked again over TCP, whose whole answer is taken")
    func truncatedToTCP() throws {
        let upstream = try FakeUpstream(.truncatedThenTCP)
        defer { upstream.stop() }
        let engine = try EngineUnderTest(timeout: .seconds(5))
        guard case .answered(let reply) = engine.ask([upstream.address]) else {
            Issue.record("no answer")
            return
        }
        #expect(!reply.header.isTruncated)
        #expect(reply.answers.count == 1)
    }

    @Test("every server fails: failed, looped only when one sent the query back")
    func allFail() throws {
        let silent = try FakeUpstream(.silent), looping = try FakeUpstream(.loop)
        defer { silent.stop(); looping.stop() }
        let engine = try EngineUnderTest()
        guard case .failed(let looped) = engine.ask([silent.address]) else {
            Issue.record("answered")
            return
        }
        #expect(!looped)
        guard case .failed(let looped) = engine.ask([silent.address, looping.address]) else {
            Issue.record("answered")
            return
        }
        #expect(looped)
        guard case .failed(false) = engine.ask([]) else {
            Issue.record("no servers, yet not a plain failure")
            return
        }
    }

    @Test("engines sharing a budget: one may hold every place; another's query waits for one to free")
    func sharedBudget() throws {
        let silent = try FakeUpstream(.silent), answering = try FakeUpstream(.answer)
        defer { silent.stop(); answering.stop() }
        let budget = InFlightBudget(limit: 2)
        let holder = try EngineUnderTest(timeout: .seconds(1), budget: budget)
        let waiter = try EngineUnderTest(budget: budget)
        let query = Message(header: Header(id: 0, questionCount: 1), questions: [Question(name: name("a.test"), type: .a)])
        let held = Mutex<[UpstreamOutcome]>([])
        for _ in 0..<2 {
            #expect(holder.engine.submit { UpstreamRequest(query: query, servers: [silent.address]) { outcome in
                held.withLock { $0.append(outcome) }
            } })
        }
        #expect(waitUntil(timeout: .seconds(10)) { silent.queries.load(ordering: .relaxed) == 2 })
        #expect(!budget.take())
        guard case .answered = waiter.ask([answering.address]) else {
            Issue.record("no answer once a place was free")
            return
        }
        // The answer could only start once one of the holder's exchanges had timed out and given back its place.
        #expect(held.withLock { $0.count } >= 1)
        #expect(budget.take())
    }

    @Test("at most `maxQueued` wait: the next is refused")
    func queueBound() throws {
        // Not started: nothing is taken from the queue.
        let engine = try EngineUnderTest(start: false)
        let query = Message(header: Header(id: 0, questionCount: 1), questions: [Question(name: name("a.test"), type: .a)])
        for _ in 0..<UpstreamEngine.maxQueued {
            #expect(engine.engine.submit { UpstreamRequest(query: query, servers: []) { _ in } })
        }
        #expect(!engine.engine.submit { UpstreamRequest(query: query, servers: []) { _ in } })
    }
}
