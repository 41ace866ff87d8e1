#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShim
import DNSWire
import Synchronization
import SkyDNSStore

enum Transport: Sendable { case udp, tcp }

/// A query handed to a slow path (an upstream, an etcd read): what the transport's one parse
/// found, with the bytes the slow paths read copied out of the receive buffer, so that it
/// outlives it and nothing parses the packet again.
struct ParsedQuery: Sendable {
    /// The client's header and question, then the OPT options read here (see `init`): not the
    /// whole message, of which 4,096 waiting at 64 KiB each would hold 256 MiB.
    let packet: [UInt8]
    /// The client's message size in bytes, as it came.
    let size: Int
    /// Header, question and OPT as `QueryParser` read them, `edns.options` located in `packet`.
    let view: QueryView
    /// The client's OPT options did not tile the record's data (RFC 6891 §6.1.2).
    let optionsMalformed: Bool
    /// The question name lower-cased, wire form (`view.nameLength` bytes, ending with the root).
    let lowercasedName: [UInt8]
    /// When the transport read it (monotonic nanoseconds), for the answer-time histogram.
    let received: Int64

    /// - Parameter view: what `QueryParser` read from `packet` (its question name is plain labels).
    init(packet: UnsafeRawBufferPointer, view: QueryView, received: Int64) {
        var kept = Array(packet[..<min(view.questionEnd, packet.count)])
        var view = view
        var malformed = false
        if var edns = view.edns {
            let start = kept.count
            malformed = !Self.keepOptions(packet, edns, into: &kept)
            edns.options = start..<kept.count
            view.edns = edns
        }
        self.packet = kept
        size = packet.count
        self.view = view
        optionsMalformed = malformed
        self.received = received
        let nameEnd = min(Header.size + view.nameLength, packet.count)
        lowercasedName = packet[Header.size..<nameEnd].map(asciiLowercase)
    }

    /// Appends to `kept` the options slow paths read: the first forwarding-loop option (its whole
    /// 4-byte IDs, at most `ForwardingLoop.maxHops`: more means looped either way) and the stub-zone marker
    /// (its presence). False, with nothing appended, when the options do not tile the record's data.
    private static func keepOptions(_ packet: UnsafeRawBufferPointer, _ edns: EDNSView,
                                    into kept: inout [UInt8]) -> Bool {
        var loop: Range<Int>?
        var stubMarked = false
        let tiled = edns.walkOptions(in: packet) { code, data in
            if code == ForwardingLoop.optionCode, loop == nil {
                // Whole IDs only: a client's stray bytes before the IDs appended after them
                // would shift each server's ID off the 4-byte grid, where it never sees it.
                loop = data.lowerBound..<(data.lowerBound + min(data.count / 4, ForwardingLoop.maxHops) * 4)
            }
            if code == stubForwardMarker { stubMarked = true }
        }
        guard tiled else { return false }
        if let loop {
            kept += [UInt8(ForwardingLoop.optionCode >> 8), UInt8(ForwardingLoop.optionCode & 0xFF), 0, UInt8(loop.count)]
            kept += packet[loop]
        }
        if stubMarked { kept += [UInt8(stubForwardMarker >> 8), UInt8(stubForwardMarker & 0xFF), 0, 0] }
        return true
    }

    /// The question with the client's casing (RFC 1035 §4.1.2).
    var question: Question {
        // QueryParser has checked the name's shape.
        let name = (try? DomainName(wire: packet[Header.size..<(Header.size + view.nameLength)])) ?? .root
        return Question(name: name, type: view.type, recordClass: view.recordClass)
    }

    /// The name as a trie path, top-level label first (`kafka.domeos.sohu.` is
    /// `["sohu", "domeos", "kafka"]`), lower-cased.
    var path: [String] {
        lowercasedName.withUnsafeBufferPointer { wireLabels($0) }.reversed()
    }

    /// The client's EDNS options read here (RFC 6891 §6.1.2, see `init`); empty without OPT,
    /// nil when they do not tile the OPT record's data.
    var ednsOptions: [EDNS.Option]? {
        guard let edns = view.edns else { return [] }
        guard !optionsMalformed else { return nil }
        return packet.withUnsafeBytes { edns.readOptions(in: $0) }
    }

    /// The query as a codec message, built from the parse (not by reading the packet again):
    /// header, question and OPT with the client's options; nil when the options are malformed.
    var message: Message? {
        var header = Header(id: view.id, flags: view.flags, questionCount: 1)
        header.isResponse = false
        var edns: EDNS?
        if let view = view.edns {
            guard let options = ednsOptions else { return nil }
            edns = EDNS(udpPayloadSize: view.udpPayloadSize, version: view.version, dnssecOK: view.dnssecOK,
                        options: options)
        }
        return Message(header: header, questions: [question], edns: edns)
    }
}

/// Where a slow path sends its one reply to a `ParsedQuery` (as miekg/dns's `ResponseWriter`):
/// it knows the transport, the size limit and the client's EDNS, sends or queues the bytes, and
/// counts them. Exactly one of `write`, `refuse` and `drop` takes effect per query; later calls
/// are ignored, and a writer released without any counts as dropped (so a TCP connection never
/// waits for ever on a reply that was lost). Any thread may call it.
protocol ReplyWriter: AnyObject, Sendable {
    var transport: Transport { get }
    /// The largest reply the client takes, in bytes: over UDP the client's EDNS size (512
    /// without OPT, RFC 1035 §4.2.1; at least 512 with it, RFC 6891 §6.2.5) capped at
    /// `UDPWorker.maxResponseSize`; over TCP 65,535 (RFC 1035 §4.2.2).
    var maxSize: Int { get }
    /// The client's OPT record (nil: none); a reply carries OPT only when this is set (RFC 6891 §7).
    var edns: EDNSView? { get }
    /// Sends `reply`, a whole DNS message of at most `maxSize` bytes (a longer one is dropped).
    func write(_ reply: [UInt8])
    /// Sends a reply with no records and `rcode` (REFUSED, SERVFAIL, FORMERR): the header, the
    /// client's question and our OPT record if the client sent one; RA as the server is set.
    func refuse(_ rcode: ResponseCode)
    /// Sends nothing (counted as dropped).
    func drop()
}

/// What both transports' writers share: the query, the once-only claim and the empty replies.
class ClientReply: @unchecked Sendable {
    // Immutable after init, except `done`, which is atomic.
    let query: ParsedQuery
    let recursionAvailable: Bool
    let metrics: ServerMetrics?
    private let done = Atomic<Bool>(false)

    init(query: ParsedQuery, recursionAvailable: Bool, metrics: ServerMetrics?) {
        self.query = query
        self.recursionAvailable = recursionAvailable
        self.metrics = metrics
    }

    var edns: EDNSView? { query.view.edns }

    /// True the first time only: this call sends the reply.
    func claim() -> Bool {
        !done.exchange(true, ordering: .acquiringAndReleasing)
    }

    var isDone: Bool { done.load(ordering: .acquiring) }

    func emptyReply(_ rcode: ResponseCode) -> [UInt8] {
        var writer = WireWriter(capacity: query.view.questionEnd + 11)
        query.packet.withUnsafeBytes { packet in
            QueryResponder.emptyReply(to: query.view, packet: packet, rcode: rcode,
                                      recursionAvailable: recursionAvailable, into: &writer)
        }
        return writer.bytes
    }
}

/// Replies to a UDP query from the address it reached (kept with the peer by the receive).
final class UDPReplyWriter: ClientReply, ReplyWriter, @unchecked Sendable {
    // Immutable after init.
    private let fd: Int32
    private let peer: sockaddr_storage
    private let peerLength: socklen_t

    init(query: ParsedQuery, fd: Int32, peer: sockaddr_storage, peerLength: socklen_t, recursionAvailable: Bool,
         metrics: ServerMetrics?) {
        self.fd = fd
        self.peer = peer
        self.peerLength = peerLength
        super.init(query: query, recursionAvailable: recursionAvailable, metrics: metrics)
    }

    deinit {
        if !isDone { metrics?.udpShared.add(MetricsBlock.Slot.dropped) }
    }

    var transport: Transport { .udp }
    var maxSize: Int { min(query.view.udpLimit, UDPWorker.maxResponseSize) }

    func write(_ reply: [UInt8]) {
        guard claim() else { return }
        guard reply.count <= maxSize else {
            metrics?.udpShared.add(MetricsBlock.Slot.dropped)
            return
        }
        var peer = peer
        _ = reply.withUnsafeBytes { skydns_send_reply(fd, $0.baseAddress, $0.count, &peer, peerLength) }
        guard let metrics else { return }
        reply.withUnsafeBytes {
            metrics.udpShared.answered(type: query.view.type, querySize: query.size, typeFrom: nil, reply: $0)
        }
        metrics.udpShared.answerDuration(nanoseconds: monotonicNanoseconds() - query.received, count: 1)
    }

    func refuse(_ rcode: ResponseCode) { write(emptyReply(rcode)) }

    func drop() {
        guard claim() else { return }
        metrics?.udpShared.add(MetricsBlock.Slot.dropped)
    }
}

/// Replies to a TCP query through the event loop that owns its connection (which frames,
/// sends and counts it, and may then read the connection's next query).
final class TCPReplyWriter: ClientReply, ReplyWriter, @unchecked Sendable {
    // Immutable after init.
    private let loop: TCPEventLoop
    private let token: UInt64

    /// Made on `loop`'s thread, while it answers the query: the connection then waits for the
    /// reply this writer posts.
    init(query: ParsedQuery, loop: TCPEventLoop, token: UInt64, recursionAvailable: Bool) {
        self.loop = loop
        self.token = token
        super.init(query: query, recursionAvailable: recursionAvailable, metrics: nil)
        loop.noteHandedOff()
    }

    deinit {
        if !isDone { post(nil) }
    }

    var transport: Transport { .tcp }
    var maxSize: Int { 65535 }

    func write(_ reply: [UInt8]) {
        guard claim() else { return }
        post(reply.count <= maxSize ? reply : nil)
    }

    func refuse(_ rcode: ResponseCode) { write(emptyReply(rcode)) }

    func drop() {
        guard claim() else { return }
        post(nil)
    }

    private func post(_ reply: [UInt8]?) {
        loop.post(TCPEventLoop.Completion(token: token, type: query.view.type, querySize: query.size,
                                          reply: reply, received: query.received))
    }
}

/// Where the query being answered came from, so that the handler can build its reply writer if
/// the answer has to wait (a plain value: nothing is allocated unless it does).
enum ReplyOrigin {
    case udp(fd: Int32, peer: sockaddr_storage, peerLength: socklen_t)
    case tcp(loop: TCPEventLoop, token: UInt64)

    var transport: Transport {
        if case .udp = self { return .udp }
        return .tcp
    }

    func writer(for query: ParsedQuery, recursionAvailable: Bool, metrics: ServerMetrics) -> any ReplyWriter {
        switch self {
        case .udp(let fd, let peer, let peerLength):
            return UDPReplyWriter(query: query, fd: fd, peer: peer, peerLength: peerLength,
                                  recursionAvailable: recursionAvailable, metrics: metrics)
        case .tcp(let loop, let token):
            return TCPReplyWriter(query: query, loop: loop, token: token, recursionAvailable: recursionAvailable)
        }
    }
}
