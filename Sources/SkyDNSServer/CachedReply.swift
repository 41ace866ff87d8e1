import DNSWire
import SkyDNSStore

/// A kept upstream reply in wire form, encoded once when it is kept, so that a cache hit is a
/// copy and a few patches instead of a parse and an encode: `ForwardedReply.fit`'s rules for a
/// client whose limit the whole reply fits in, byte for byte in everything a client reads.
/// `wire` is a whole message (RFC 1035 §4.1): ID 0; QR and RA set, AA and the query's bits
/// (opcode, RD, CD) clear, the upstream's rcode, AD and Z; the question with its name
/// lower-cased; the records as the upstream sent them, their names compressed only against one
/// another (never against the question, whose bytes each client's casing replaces); no OPT.
struct CachedReply: Sendable {
    let wire: [UInt8]
    /// Where each record's TTL lies in `wire` (every record's; the OPT is not in `wire`).
    let ttlOffsets: [UInt16]
    /// The question name's length in wire form.
    let nameLength: Int
    /// The upstream's extended rcode (RFC 6891 §6.1.3): not 0 only through `ForwardedReply.fit`,
    /// which says it with OPT or as SERVFAIL.
    let extendedRCode: UInt8

    /// The header bits that come from the client's query (opcode, RD, CD).
    static let queryFlags = UInt16(0x7800) | Header.rdBit | Header.cdBit

    /// `reply` to its own question in wire form; nil when it has no single question or does not
    /// fit in 65,535 bytes.
    init?(_ reply: Message) {
        guard reply.questions.count == 1, let question = reply.questions.first else { return nil }
        var header = reply.header
        header.id = 0
        header.flags &= ~Self.queryFlags
        header.isResponse = true
        header.isAuthoritative = false
        header.recursionAvailable = true
        header.isTruncated = false
        var writer = WireWriter(capacity: 512)
        header.write(to: &writer)
        // Written as bytes, not as a name: no record may point into the question.
        writer.writeBytes(question.name.wire.map(asciiLowercase))
        writer.writeUInt16(question.type.rawValue)
        writer.writeUInt16(question.recordClass.rawValue)
        let written = writer.writeSections(answers: reply.answers, authorities: reply.authorities,
                                           additionals: reply.additionals, limit: 65535)
        guard !written.truncated, written.additionals == reply.additionals.count else { return nil }
        writer.setUInt16(1, at: 4)
        writer.setUInt16(UInt16(truncatingIfNeeded: written.answers), at: 6)
        writer.setUInt16(UInt16(truncatingIfNeeded: written.authorities), at: 8)
        writer.setUInt16(UInt16(truncatingIfNeeded: written.additionals), at: 10)
        nameLength = question.name.wire.count
        let records = written.answers + written.authorities + written.additionals
        guard let offsets = Self.ttlOffsets(in: writer.bytes, from: Header.size + nameLength + 4, records: records)
        else { return nil }
        // A copy of its own: the writer's buffer grew by doubling, up to twice the bytes the
        // cache counts for the entry.
        wire = writer.bytes.withUnsafeBufferPointer { Array($0) }
        ttlOffsets = offsets
        extendedRCode = reply.edns?.extendedRCode ?? 0
    }

    /// The size of the reply to a client, in bytes: `wire` and, when the client sent one, an
    /// OPT record without options (11 bytes).
    func size(withOPT: Bool) -> Int { wire.count + (withOPT ? 11 : 0) }

    /// Whether this is the reply to the question `name` (wire form, any case), `type`, `recordClass`:
    /// the name compared case-insensitively, type and class exactly.
    func answers(name: UnsafeRawBufferPointer, type: RecordType, recordClass: RecordClass) -> Bool {
        guard name.count == nameLength, wire.count >= Header.size + nameLength + 4 else { return false }
        for index in 0..<nameLength where wire[Header.size + index] != asciiLowercase(name[index]) { return false }
        let end = Header.size + nameLength
        return UInt16(wire[end]) << 8 | UInt16(wire[end + 1]) == type.rawValue
            && UInt16(wire[end + 2]) << 8 | UInt16(wire[end + 3]) == recordClass.rawValue
    }

    /// Writes the reply to the query `view` read from `packet` into `writer`, `age` seconds after
    /// it was kept: the client's ID, opcode, RD and CD; its question name's bytes (its casing,
    /// RFC 1035 §4.1.2; the same length, see `answers`); every TTL less `age`, 0 at the least;
    /// an OPT record iff the client sent one (RFC 6891 §7), advertising our size and echoing
    /// DO. The caller has checked `answers`, that `extendedRCode` is 0 and that the size fits.
    func write(to view: QueryView, packet: UnsafeRawBufferPointer, age: UInt32, into writer: inout WireWriter) {
        let nameEnd = Header.size + nameLength
        writer.reset()
        wire.withUnsafeBufferPointer { stored in
            writer.writeBytes(UnsafeBufferPointer(rebasing: stored[0..<Header.size]))
            writer.writeBytes(UnsafeRawBufferPointer(rebasing: packet[Header.size..<nameEnd]))
            writer.writeBytes(UnsafeBufferPointer(rebasing: stored[nameEnd...]))
        }
        writer.setUInt16(view.id, at: 0)
        writer.setUInt16(writer.uint16(at: 2) | (view.flags & Self.queryFlags), at: 2)
        for offset in ttlOffsets {
            let ttl = writer.uint32(at: Int(offset))
            writer.setUInt32(ttl > age ? ttl - age : 0, at: Int(offset))
        }
        guard let edns = view.edns else { return }
        EDNS(udpPayloadSize: QueryResponder.advertisedUDPSize, dnssecOK: edns.dnssecOK).write(to: &writer)
        writer.setUInt16(writer.uint16(at: 10) &+ 1, at: 10)
    }

    /// The reply to `query` as it is kept, aged 0 seconds (see `write`); nil when it is not
    /// this question's, has an extended rcode or is larger than `maxSize` bytes.
    func reply(to query: ParsedQuery, maxSize: Int) -> [UInt8]? {
        guard extendedRCode == 0, size(withOPT: query.view.edns != nil) <= maxSize else { return nil }
        return query.packet.withUnsafeBytes { packet -> [UInt8]? in
            let nameEnd = Header.size + query.view.nameLength
            guard nameEnd <= packet.count,
                  answers(name: UnsafeRawBufferPointer(rebasing: packet[Header.size..<nameEnd]), type: query.view.type,
                          recordClass: query.view.recordClass)
            else { return nil }
            var writer = WireWriter(capacity: size(withOPT: query.view.edns != nil))
            write(to: query.view, packet: packet, age: 0, into: &writer)
            return writer.bytes
        }
    }

    /// The offset of each of `records` records' TTLs, the first record at `start` of `wire`
    /// (RFC 1035 §4.1.3: owner name, TYPE, CLASS, TTL, RDLENGTH, RDATA); nil when they do not
    /// lie within it.
    private static func ttlOffsets(in wire: [UInt8], from start: Int, records: Int) -> [UInt16]? {
        var offsets: [UInt16] = []
        offsets.reserveCapacity(records)
        var position = start
        for _ in 0..<records {
            // The owner: labels up to the root or a pointer (each pass moves forward).
            while position < wire.count, wire[position] != 0, wire[position] & 0xC0 == 0 {
                position += Int(wire[position]) + 1
            }
            guard position < wire.count else { return nil }
            position += wire[position] == 0 ? 1 : 2
            let ttl = position + 4
            guard ttl + 6 <= wire.count, let offset = UInt16(exactly: ttl) else { return nil }
            offsets.append(offset)
            position = ttl + 6 + (Int(wire[ttl + 4]) << 8 | Int(wire[ttl + 5]))
        }
        return position == wire.count ? offsets : nil
    }
}
