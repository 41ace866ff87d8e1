import DNSWire

/// Answers one query from a snapshot, writing the response straight into a reused buffer. One
/// responder per worker: it owns the scratch space, so answering allocates nothing once warm.
public final class QueryResponder {
    /// What became of one query: the single result the answer path passes on (the server's
    /// transports and slow paths switch on it, nothing else).
    public enum Outcome: Sendable {
        /// A response is in the writer. `query` is nil when only the header could be read
        /// (FORMERR, NOTIMP).
        case answered(ResponseCode, query: QueryView?)
        /// Nothing to say (a response, or less than a header).
        case drop
        /// The name is outside the served domain; the caller forwards it or refuses it.
        case outsideZone(QueryView)
        /// The answer needs out-of-zone data (RFC 8499): CNAME, SRV or MX targets outside the
        /// domain. Nothing is written; answer it again with `external` set, on a thread that
        /// may wait for upstreams.
        case outOfZoneData(QueryView)
        /// A REFUSED reply is in the writer: the first read of etcd has not reached this name
        /// (an A or AAAA query) yet. The caller may read the name from etcd on its own instead.
        case notLoaded(QueryView)
    }

    /// The UDP size we advertise in our OPT record (the DNS flag day 2020 value).
    public static let advertisedUDPSize: UInt16 = 1232
    private static let maxLabels = 128

    /// Whether responses say recursion is available (true when the server forwards).
    public var recursionAvailable: Bool
    /// Resolves CNAME, SRV and MX targets outside the domain, when the server forwards.
    public var external: ExternalResolver?
    /// Answered for CHAOS TXT `version.bind` and `version.server`.
    public var version = "swift-skydns"
    /// The lower-cased question name of the query being answered, in wire form.
    let name: UnsafeMutablePointer<UInt8>
    private let labelOffsets: UnsafeMutablePointer<Int>
    /// Advances once per general answer: picks round robin's rotation.
    var rotation = 0

    public init(recursionAvailable: Bool = false) {
        self.recursionAvailable = recursionAvailable
        name = .allocate(capacity: QueryParser.nameBufferSize)
        labelOffsets = .allocate(capacity: Self.maxLabels)
    }

    deinit {
        name.deallocate()
        labelOffsets.deallocate()
    }

    /// Parses `packet` once and answers it.
    /// - Parameter maxUDPSize: the server's cap on UDP responses; nil over TCP (64 KiB).
    public func respond(to packet: UnsafeRawBufferPointer, snapshot: Snapshot, maxUDPSize: Int?,
                        into writer: inout WireWriter) -> Outcome {
        let query: QueryView
        do {
            query = try QueryParser.parse(packet, lowercasedName: name)
        } catch {
            switch error {
            case .drop:
                return .drop
            case .reply(let id, let flags, let rcode):
                writer.reset()
                Header(id: id, flags: Self.responseFlags(query: flags, rcode: rcode, authoritative: false,
                                                         recursionAvailable: recursionAvailable)).write(to: &writer)
                return .answered(rcode, query: nil)
            }
        }
        let maxSize = maxUDPSize.map { min($0, query.udpLimit) } ?? 65535
        return answer(query, packet: packet, snapshot: snapshot, maxSize: maxSize, into: &writer)
    }

    /// Answers a query parsed earlier (on another thread: a slow path), without parsing it again.
    /// - Parameters:
    ///   - lowercasedName: the question name lower-cased, wire form, `query.nameLength` bytes.
    ///   - maxSize: the largest reply the client takes (the reply writer's limit), in bytes.
    public func respond(to query: QueryView, lowercasedName: [UInt8], packet: UnsafeRawBufferPointer,
                        snapshot: Snapshot, maxSize: Int, into writer: inout WireWriter) -> Outcome {
        guard lowercasedName.count == query.nameLength, query.nameLength <= QueryParser.nameBufferSize else {
            return .drop
        }
        lowercasedName.withUnsafeBufferPointer { name.update(from: $0.baseAddress!, count: $0.count) }
        return answer(query, packet: packet, snapshot: snapshot, maxSize: maxSize, into: &writer)
    }

    /// Writes a reply to `query` with no records and `rcode` (REFUSED, SERVFAIL, a truncated
    /// reply with `truncated`): the header, the client's question and, when the client sent
    /// one, our OPT record.
    public static func emptyReply(to query: QueryView, packet: UnsafeRawBufferPointer, rcode: ResponseCode,
                                  recursionAvailable: Bool, truncated: Bool = false, into writer: inout WireWriter) {
        beginResponse(query, packet: packet, rcode: rcode, authoritative: false, recursionAvailable: recursionAvailable,
                      into: &writer)
        endResponse(query, answers: 0, authorities: 0, additionals: 0, truncated: truncated, into: &writer)
    }

    /// `emptyReply` with this responder's RA setting.
    public func reply(to query: QueryView, packet: UnsafeRawBufferPointer, rcode: ResponseCode,
                      into writer: inout WireWriter) {
        Self.emptyReply(to: query, packet: packet, rcode: rcode, recursionAvailable: recursionAvailable, into: &writer)
    }

    /// Writes the header and the client's question (with its own casing) for `query`.
    func beginResponse(_ query: QueryView, packet: UnsafeRawBufferPointer, rcode: ResponseCode,
                       authoritative: Bool, into writer: inout WireWriter) {
        Self.beginResponse(query, packet: packet, rcode: rcode, authoritative: authoritative,
                           recursionAvailable: recursionAvailable, into: &writer)
    }

    private static func beginResponse(_ query: QueryView, packet: UnsafeRawBufferPointer, rcode: ResponseCode,
                                      authoritative: Bool, recursionAvailable: Bool, into writer: inout WireWriter) {
        writer.reset()
        let flags = responseFlags(query: query.flags, rcode: rcode, authoritative: authoritative,
                                  recursionAvailable: recursionAvailable)
        Header(id: query.id, flags: flags, questionCount: 1).write(to: &writer)
        writer.writeBytes(UnsafeRawBufferPointer(rebasing: packet[Header.size..<query.questionEnd]))
    }

    /// Finishes a response begun with `beginResponse`: counts, TC and the OPT record.
    static func endResponse(_ query: QueryView, answers: Int, authorities: Int, additionals: Int, truncated: Bool,
                            into writer: inout WireWriter) {
        var additionalCount = additionals
        if let edns = query.edns {
            EDNS(udpPayloadSize: Self.advertisedUDPSize, dnssecOK: edns.dnssecOK).write(to: &writer)
            additionalCount += 1
        }
        if truncated { writer.setUInt16(writer.uint16(at: 2) | Header.tcBit, at: 2) }
        writer.setUInt16(UInt16(truncatingIfNeeded: answers), at: 6)
        writer.setUInt16(UInt16(truncatingIfNeeded: authorities), at: 8)
        writer.setUInt16(UInt16(truncatingIfNeeded: additionalCount), at: 10)
    }

    func endResponse(_ query: QueryView, answers: Int, authorities: Int, additionals: Int, truncated: Bool,
                     into writer: inout WireWriter) {
        Self.endResponse(query, answers: answers, authorities: authorities, additionals: additionals,
                         truncated: truncated, into: &writer)
    }

    private static func responseFlags(query flags: UInt16, rcode: ResponseCode, authoritative: Bool,
                                      recursionAvailable: Bool) -> UInt16 {
        var response = Header.qrBit | (flags & (0x7800 | Header.rdBit | Header.cdBit)) | UInt16(rcode.rawValue)
        if authoritative { response |= Header.aaBit }
        if recursionAvailable { response |= Header.raBit }
        return response
    }

    private func answer(_ query: QueryView, packet: UnsafeRawBufferPointer, snapshot: Snapshot, maxSize: Int,
                        into writer: inout WireWriter) -> Outcome {
        let zone = snapshot.zone
        let limit = maxSize - (query.edns == nil ? 0 : 11)
        if query.edns.map({ $0.version > 0 }) == true {
            // RFC 6891 §6.1.3: BADVERS (16) is 1 in the OPT's extended RCODE, 0 in the header.
            beginResponse(query, packet: packet, rcode: .noError, authoritative: false, into: &writer)
            EDNS(udpPayloadSize: Self.advertisedUDPSize, extendedRCode: 1).write(to: &writer)
            writer.setUInt16(1, at: 10)
            return .answered(ResponseCode(rawValue: 16), query: query)
        }
        if query.recordClass == .chaos {
            return chaos(query, packet: packet, limit: limit, into: &writer)
        }
        if isInStubZone(snapshot, nameLength: query.nameLength) { return .outsideZone(query) }
        guard let labelsBelowApex = labelsBelow(zone.domain, nameLength: query.nameLength) else {
            if query.type == .ptr && isReverseName(query.nameLength) && snapshot.isSynced && query.recordClass == .in {
                return answerReverse(query, packet: packet, snapshot: snapshot, limit: limit, into: &writer)
            }
            return .outsideZone(query)
        }
        // No class but IN is served, and no zone transfer (RFC 5936 §2.2.1: a refused
        // transfer is REFUSED; an empty NOERROR would pass for a transfer of nothing).
        guard query.recordClass == .in, query.type != .axfr, query.type != .ixfr else {
            return refuse(query, packet: packet, into: &writer)
        }
        guard snapshot.isSynced else {
            // The first read of etcd is still streaming in: plain addresses of names already
            // loaded whole are answered, everything else is refused until the read completes
            // (addresses of names not loaded yet as `notLoaded`, which the caller may fetch).
            guard query.type == .a || query.type == .aaaa else { return refuse(query, packet: packet, into: &writer) }
            let found = lookup(snapshot, labelsBelowApex: labelsBelowApex)
            if case .anyLabel = found { return refuse(query, packet: packet, into: &writer) }
            guard snapshot.loadedThrough != nil, case .found = found,
                  snapshot.isLoaded(path: zone.apexPath + labelsReversed(labelsBelowApex)) else {
                _ = refuse(query, packet: packet, into: &writer)
                return .notLoaded(query)
            }
            return answerAddresses(query, packet: packet, snapshot: snapshot, labelsBelowApex: labelsBelowApex,
                                   limit: limit, into: &writer)
        }
        if let target = zone.localTarget, matchesLocalName(zone, nameLength: query.nameLength) {
            return answerGeneral(query, packet: packet, snapshot: snapshot, lookupName: target, limit: limit, into: &writer)
        }
        guard query.type == .a || query.type == .aaaa else {
            return answerGeneral(query, packet: packet, snapshot: snapshot, lookupName: nil, limit: limit, into: &writer)
        }
        return answerAddresses(query, packet: packet, snapshot: snapshot, labelsBelowApex: labelsBelowApex,
                               limit: limit, into: &writer)
    }

    /// The query's labels below the apex, top-level first (as a trie path).
    private func labelsReversed(_ count: Int) -> [String] {
        (0..<count).reversed().map { index in
            let offset = labelOffsets[index]
            return String(decoding: UnsafeBufferPointer(start: name + offset + 1, count: Int(name[offset])), as: UTF8.self)
        }
    }

    /// Everything but plain addresses: built as records by `AnswerBuilder`, then written with
    /// compression against the echoed question; what does not fit is cut whole, additional first.
    func answerGeneral(_ query: QueryView, packet: UnsafeRawBufferPointer, snapshot: Snapshot,
                       lookupName: DomainName?, limit: Int, into writer: inout WireWriter) -> Outcome {
        let qname = questionName(packet, query)
        rotation &+= 1
        let answer = AnswerBuilder(snapshot: snapshot, external: external, rotation: rotation, limit: limit)
            .answer(qname: qname, lookupName: lookupName ?? qname.lowercased(), type: query.type)
        if answer.needsOutOfZoneData { return .outOfZoneData(query) }
        // A SERVFAIL (no upstream answered for a CNAME's target) speaks for no data of ours.
        beginResponse(query, packet: packet, rcode: answer.rcode, authoritative: answer.rcode != .servFail, into: &writer)
        writer.registerName(at: Header.size)
        let written = writer.writeSections(answers: answer.answers, authorities: answer.authorities,
                                           additionals: answer.additionals, limit: limit)
        endResponse(query, answers: written.answers, authorities: written.authorities, additionals: written.additionals,
                    truncated: written.truncated, into: &writer)
        return .answered(answer.rcode, query: query)
    }

    func refuse(_ query: QueryView, packet: UnsafeRawBufferPointer, into writer: inout WireWriter) -> Outcome {
        beginResponse(query, packet: packet, rcode: .refused, authoritative: false, into: &writer)
        endResponse(query, answers: 0, authorities: 0, additionals: 0, truncated: false, into: &writer)
        return .answered(.refused, query: query)
    }

    /// NXDOMAIN or NODATA: the SOA in authority with TTL min(`-ttl`, `-min-ttl`), AA set.
    func negative(_ query: QueryView, packet: UnsafeRawBufferPointer, snapshot: Snapshot, rcode: ResponseCode,
                  into writer: inout WireWriter) -> Outcome {
        beginResponse(query, packet: packet, rcode: rcode, authoritative: true, into: &writer)
        writeSOA(snapshot, ownerOffset: Header.size + query.nameLength - snapshot.zone.domain.wire.count, into: &writer)
        endResponse(query, answers: 0, authorities: 1, additionals: 0, truncated: false, into: &writer)
        return .answered(rcode, query: query)
    }

    /// The zone's SOA, owned by the apex (a pointer into the question), through the codec's
    /// writer; names written whole, as SkyDNS sends them.
    private func writeSOA(_ snapshot: Snapshot, ownerOffset: Int, into writer: inout WireWriter) {
        let zone = snapshot.zone
        writer.writeRecord(ownerOffset: ownerOffset, type: .soa, ttl: zone.negativeAnswerTTL) { writer in
            zone.soa(serial: snapshot.serial).write(to: &writer, compress: false)
        }
    }

    /// The number of labels of the query name below `domain`, or nil when the name is not in it.
    /// Records where each label starts in `labelOffsets`.
    private func labelsBelow(_ domain: DomainName, nameLength: Int) -> Int? {
        let domainLength = domain.wire.count
        guard nameLength >= domainLength else { return nil }
        var offset = 0
        var count = 0
        let apexOffset = nameLength - domainLength
        while offset < apexOffset {
            guard count < Self.maxLabels else { return nil }
            labelOffsets[count] = offset
            count += 1
            offset += Int(name[offset]) + 1
        }
        guard offset == apexOffset else { return nil }
        let matches = domain.wire.withUnsafeBufferPointer { wire in
            (0..<domainLength).allSatisfy { name[apexOffset + $0] == wire[$0] }
        }
        return matches ? count : nil
    }

    enum Lookup {
        case found(TrieNode)
        case missing
        /// The name has a `*` or `any` label, SkyDNS's any-label (matching every name at that
        /// level, unlike an RFC 4592 wildcard): the general path expands it.
        case anyLabel
    }

    /// Walks from the apex down the query's labels (nearest the apex first).
    func lookup(_ snapshot: Snapshot, labelsBelowApex: Int) -> Lookup {
        for index in 0..<labelsBelowApex {
            let offset = labelOffsets[index]
            let length = name[offset]
            if (length == 1 && name[offset + 1] == UInt8(ascii: "*"))
                || (length == 3 && name[offset + 1] == UInt8(ascii: "a") && name[offset + 2] == UInt8(ascii: "n")
                    && name[offset + 3] == UInt8(ascii: "y")) {
                return .anyLabel
            }
        }
        guard var node = snapshot.apex else { return labelsBelowApex == 0 ? .found(TrieNode()) : .missing }
        var index = labelsBelowApex - 1
        while index >= 0 {
            let offset = labelOffsets[index]
            let label = UnsafeRawBufferPointer(start: name + offset + 1, count: Int(name[offset]))
            guard let child = node.child(bytes: label) else { return .missing }
            node = child
            index -= 1
        }
        return .found(node)
    }
}
