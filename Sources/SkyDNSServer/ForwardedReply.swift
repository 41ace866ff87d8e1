import DNSWire
import SkyDNSStore

/// Replies that come from outside the store (an upstream's, or the response cache's copy of one)
/// are never written as they came: they are parsed whole once, when they arrive, and each client
/// gets a message built for its own query.
enum ForwardedReply {
    /// Why an upstream's reply is not used (the next upstream is tried).
    enum Rejection: Error, Equatable {
        /// Not a whole, well-formed DNS message (counts beyond the records, a bad compression
        /// pointer, trailing bytes, a second OPT).
        case malformed
        /// Not an answer to the question that was asked (RFC 5452 §9.1): ignored, like a spoof.
        case otherQuestion
    }

    /// Parses an upstream's reply to `question` in full (RFC 1035 §4.1), before anything of it
    /// is cached or relayed.
    /// A TTL with its top bit set counts as 0 (RFC 2181 §8), so that neither the cache nor a
    /// client keeps the record for 136 years.
    /// - Throws: `Rejection.malformed` for bytes that are not one complete message or not a
    ///   response; `Rejection.otherQuestion` when its question is not `question` (name compared
    ///   case-insensitively, type and class exactly).
    static func parse(_ bytes: [UInt8], asking question: Question) throws(Rejection) -> Message {
        var message: Message
        do {
            message = try Message(parsing: bytes)
        } catch {
            throw .malformed
        }
        guard message.header.isResponse else { throw .malformed }
        guard message.questions.count == 1, let asked = message.questions.first,
              asked.name == question.name, asked.type == question.type, asked.recordClass == question.recordClass
        else { throw .otherQuestion }
        func zeroingNegativeTTLs(_ records: inout [ResourceRecord]) {
            for index in records.indices where records[index].ttl > UInt32(Int32.max) { records[index].ttl = 0 }
        }
        zeroingNegativeTTLs(&message.answers)
        zeroingNegativeTTLs(&message.authorities)
        zeroingNegativeTTLs(&message.additionals)
        return message
    }

    /// Of an upstream's answer section, what answers `name` and `type` (RFC 1034 §4.3.2): the
    /// CNAME chain from `name` (at most `maxChain` links) and the records of `type` at its end,
    /// class IN. Whatever else an upstream adds (records for other names, a name in our own
    /// domain) is not passed on inside answers built from the store.
    static let maxChain = 8
    static func answers(to name: DomainName, type: RecordType, in records: [ResourceRecord]) -> [ResourceRecord] {
        var found: [ResourceRecord] = []
        var owner = name
        for _ in 0...maxChain {
            let here = records.filter { $0.name == owner && $0.recordClass == .in }
            if type != .cname, let link = here.first(where: { $0.type == .cname }), case .cname(let cname) = link.data {
                found.append(link)
                owner = cname.target
                continue
            }
            found += here.filter { $0.type == type }
            break
        }
        return found
    }

    /// The largest reply `query` may receive: over UDP, the client's advertised size (512
    /// without EDNS, RFC 1035 §4.2.1; at least 512 with it, RFC 6891 §6.2.5) capped at the
    /// server's own UDP limit `maxUDPSize`; over TCP, 65,535 bytes (RFC 1035 §4.2.2).
    static func sizeLimit(for query: Message, transport: Transport, maxUDPSize: Int) -> Int {
        guard transport == .udp else { return 65535 }
        guard let edns = query.edns else { return 512 }
        return min(Int(max(edns.udpPayloadSize, EDNS.minimumPayloadSize)), maxUDPSize)
    }

    /// The bytes to send to the client of `query`, from an upstream's `reply` to it: the
    /// client's ID, question (with its casing), opcode, RD and CD; the upstream's rcode,
    /// records and AD; AA cleared and RA set (we answer as a recursive service, not an
    /// authority); an OPT record only when the client sent one (RFC 6891 §7), advertising our
    /// own size and echoing DO, carrying the upstream's extended rcode and no upstream option.
    /// At most `maxSize` bytes: additional records go first, then whole records, with TC set.
    static func fit(_ reply: Message, to query: Message, maxSize: Int) -> [UInt8] {
        var header = reply.header
        header.id = query.header.id
        let copiedFromQuery = UInt16(0x7800) | Header.rdBit | Header.cdBit
        header.flags = (header.flags & ~copiedFromQuery) | (query.header.flags & copiedFromQuery)
        header.isResponse = true
        header.isAuthoritative = false
        header.recursionAvailable = true
        var edns: EDNS?
        if let asked = query.edns {
            edns = EDNS(udpPayloadSize: QueryResponder.advertisedUDPSize,
                        extendedRCode: reply.edns?.extendedRCode ?? 0, dnssecOK: asked.dnssecOK)
        } else if let extended = reply.edns?.extendedRCode, extended != 0 {
            // An extended rcode cannot be said without OPT: the client learns of a failure.
            header.responseCode = .servFail
        }
        let fitted = Message(header: header, questions: query.questions, answers: reply.answers,
                             authorities: reply.authorities, additionals: reply.additionals, edns: edns)
        return fitted.encode(maxSize: maxSize)
    }
}
