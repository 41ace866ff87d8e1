import DNSWire

/// The names `QueryResponder` treats apart from the served domain's records: CHAOS, reverse
/// names outside the domain, stub zones and `local.dns.<domain>`.
extension QueryResponder {
    /// PTR for a reverse name outside the domain, as SkyDNS answers it: from the record at
    /// exactly that name (no wildcards), without AA, since no SOA is held for reverse zones. A
    /// name without one is not ours: `outsideZone`, so the caller forwards it.
    func answerReverse(_ query: QueryView, packet: UnsafeRawBufferPointer, snapshot: Snapshot, limit: Int,
                       into writer: inout WireWriter) -> Outcome {
        let qname = questionName(packet, query)
        let lowercased = qname.lowercased()
        let wildcard = lowercased.labels.contains { $0.elementsEqual("*".utf8) || $0.elementsEqual("any".utf8) }
        let pointers = wildcard ? [] : AnswerBuilder(snapshot: snapshot, external: nil, rotation: rotation)
            .pointerRecords(owner: qname, lookupName: lowercased)
        guard !pointers.isEmpty else { return .outsideZone(query) }
        beginResponse(query, packet: packet, rcode: .noError, authoritative: false, into: &writer)
        writer.registerName(at: Header.size)
        let written = writer.writeSections(answers: pointers, authorities: [], additionals: [], limit: limit)
        endResponse(query, answers: written.answers, authorities: 0, additionals: 0, truncated: written.truncated,
                    into: &writer)
        return .answered(.noError, query: query)
    }

    /// CHAOS TXT `version.bind`/`version.server`, `hostname.bind`/`id.server` and `authors.bind`,
    /// as SkyDNS answers them; any other CHAOS query is refused.
    func chaos(_ query: QueryView, packet: UnsafeRawBufferPointer, limit: Int, into writer: inout WireWriter) -> Outcome {
        let name = String(decoding: UnsafeBufferPointer(start: self.name, count: query.nameLength), as: UTF8.self)
        guard query.type == .txt else { return refuse(query, packet: packet, into: &writer) }
        let text: String
        switch name {
        case "\u{7}version\u{4}bind\0", "\u{7}version\u{6}server\0": text = version
        case "\u{8}hostname\u{4}bind\0", "\u{2}id\u{6}server\0": text = "localhost"
        case "\u{7}authors\u{4}bind\0": text = "swift-skydns authors"
        default: return refuse(query, packet: packet, into: &writer)
        }
        beginResponse(query, packet: packet, rcode: .noError, authoritative: true, into: &writer)
        writer.registerName(at: Header.size)
        let record = ResourceRecord(name: questionName(packet, query), recordClass: .chaos, ttl: 0,
                                    data: .txt(TXTRecord(text: text)))
        let written = writer.writeSections(answers: [record], authorities: [], additionals: [], limit: limit)
        endResponse(query, answers: written.answers, authorities: 0, additionals: 0, truncated: written.truncated,
                    into: &writer)
        return .answered(.noError, query: query)
    }

    /// The question name with the client's casing.
    func questionName(_ packet: UnsafeRawBufferPointer, _ query: QueryView) -> DomainName {
        // QueryParser has already checked the name's shape.
        (try? DomainName(wire: packet[Header.size..<(Header.size + query.nameLength)])) ?? .root
    }

    func isReverseName(_ nameLength: Int) -> Bool {
        for suffix in [Self.inAddrArpa, Self.ip6Arpa] where nameLength > suffix.count {
            let start = nameLength - suffix.count
            if (0..<suffix.count).allSatisfy({ name[start + $0] == suffix[$0] }) { return true }
        }
        return false
    }

    /// Whether the query name lies in a stub zone (`-stubzones`), which SkyDNS forwards before
    /// anything else, names inside the domain included (with `-domain=.` every name is).
    func isInStubZone(_ snapshot: Snapshot, nameLength: Int) -> Bool {
        guard !snapshot.stubZones.isEmpty else { return false }
        guard snapshot.stubZonesByHash.isEmpty else {
            return snapshot.indexedStubZone(lowercasedName: UnsafeRawBufferPointer(start: name, count: nameLength)) != nil
        }
        for stub in snapshot.stubZones {
            let length = stub.zone.wire.count
            guard length <= nameLength else { continue }
            // The stub zone must start at a label boundary of the query name.
            var offset = 0
            while offset < nameLength - length { offset += Int(name[offset]) + 1 }
            guard offset == nameLength - length else { continue }
            let matches = stub.zone.wire.withUnsafeBufferPointer { wire in
                (0..<length).allSatisfy { name[offset + $0] == asciiLowercase(wire[$0]) }
            }
            if matches { return true }
        }
        return false
    }

    static let inAddrArpa: [UInt8] = [7] + Array("in-addr".utf8) + [4] + Array("arpa".utf8) + [0]
    static let ip6Arpa: [UInt8] = [3] + Array("ip6".utf8) + [4] + Array("arpa".utf8) + [0]

    func matchesLocalName(_ zone: Zone, nameLength: Int) -> Bool {
        zone.localName.wire.count == nameLength
            && zone.localName.wire.withUnsafeBufferPointer { wire in (0..<nameLength).allSatisfy { name[$0] == wire[$0] } }
    }
}
