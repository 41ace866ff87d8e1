import Testing
@testable import DNSWire

// Shared helpers for building wire bytes by hand and for driving `QueryParser`.

/// A name from presentation form; test literals are always valid.
func name(_ text: String) -> DomainName {
    do { return try DomainName(text) } catch { fatalError("bad test name \(text): \(error)") }
}

func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

func be32(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
}

/// The ASCII bytes of `text`.
func ascii(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A 12-byte header. The default flags are a plain query with RD set.
func headerBytes(id: UInt16 = 0x1234, flags: UInt16 = 0x0100, qd: UInt16 = 1, an: UInt16 = 0,
                 ns: UInt16 = 0, ar: UInt16 = 0) -> [UInt8] {
    be16(id) + be16(flags) + be16(qd) + be16(an) + be16(ns) + be16(ar)
}

/// Type, class, TTL and RDLENGTH of a record, to follow its owner name.
func recordFixed(type: UInt16, rawClass: UInt16 = 1, ttl: UInt32 = 300, rdlength: UInt16) -> [UInt8] {
    be16(type) + be16(rawClass) + be32(ttl) + be16(rdlength)
}

/// An OPT record with a root owner and the given RDATA.
func optRecord(payload: UInt16 = 4096, ttl: UInt32 = 0, owner: [UInt8] = [0], data: [UInt8] = []) -> [UInt8] {
    owner + recordFixed(type: 41, rawClass: payload, ttl: ttl, rdlength: UInt16(data.count)) + data
}

/// A query for `qname` built through the general encoder.
func queryMessage(_ qname: String, type: RecordType = .a, id: UInt16 = 0xBEEF, flags: UInt16 = 0x0100,
                  edns: EDNS? = nil) -> [UInt8] {
    Message(header: Header(id: id, flags: flags), questions: [Question(name: name(qname), type: type)],
            edns: edns).encode()
}

/// Bytes written past the name buffer would overwrite these.
let canary: [UInt8] = [0xDE, 0xAD, 0xBE, 0xEF, 0xDE, 0xAD, 0xBE, 0xEF]

struct ParsedQuery {
    var result: Result<QueryView, QueryRejection>
    /// The lower-cased wire name written by the parser (empty unless `.query`).
    var name: [UInt8]
    /// False when the parser wrote beyond `QueryParser.nameBufferSize`.
    var canaryIntact: Bool

    var view: QueryView? {
        try? result.get()
    }

    var isDrop: Bool {
        if case .failure(.drop) = result { return true }
        return false
    }

    var reject: (id: UInt16, flags: UInt16, rcode: ResponseCode)? {
        if case .failure(.reply(let id, let flags, let rcode)) = result { return (id, flags, rcode) }
        return nil
    }
}

func parseQuery(_ packet: [UInt8]) -> ParsedQuery {
    var buffer = [UInt8](repeating: 0xAA, count: QueryParser.nameBufferSize) + canary
    let result = packet.withUnsafeBytes { raw in
        buffer.withUnsafeMutableBufferPointer { buffer in
            Result { () throws(QueryRejection) -> QueryView in try QueryParser.parse(raw, lowercasedName: buffer.baseAddress!) }
        }
    }
    let intact = Array(buffer[QueryParser.nameBufferSize...]) == canary
    if case .success(let view) = result {
        return ParsedQuery(result: result, name: Array(buffer[..<view.nameLength]), canaryIntact: intact)
    }
    return ParsedQuery(result: result, name: [], canaryIntact: intact)
}
