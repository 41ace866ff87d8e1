import DNSWire

/// The hot path: A and AAAA answers written straight from the trie into the reply, with no
/// record values built and nothing allocated.
extension QueryResponder {
    /// An A or AAAA query for a name in the domain: its addresses, a negative answer, or the
    /// general path when the name is an alias, has groups below it or an any-label.
    func answerAddresses(_ query: QueryView, packet: UnsafeRawBufferPointer, snapshot: Snapshot,
                         labelsBelowApex: Int, limit: Int, into writer: inout WireWriter) -> Outcome {
        let zone = snapshot.zone
        switch lookup(snapshot, labelsBelowApex: labelsBelowApex) {
        case .missing:
            return negative(query, packet: packet, snapshot: snapshot, rcode: .nxDomain, into: &writer)
        case .anyLabel:
            return answerGeneral(query, packet: packet, snapshot: snapshot, lookupName: nil, limit: limit, into: &writer)
        case .found(let node):
            beginResponse(query, packet: packet, rcode: .noError, authoritative: true, into: &writer)
            guard let (answers, truncated, hasRecords) = writeAddresses(node, type: query.type, zone: zone,
                                                                        hiding: snapshot.hidesUnderscoreLabels,
                                                                        limit: limit, into: &writer) else {
                return answerGeneral(query, packet: packet, snapshot: snapshot, lookupName: nil, limit: limit, into: &writer)
            }
            guard answers > 0 || truncated else {
                // Only hidden etcd v2 keys below: the name is not there (the apex always is).
                let exists = hasRecords || labelsBelowApex == 0
                return negative(query, packet: packet, snapshot: snapshot, rcode: exists ? .noError : .nxDomain, into: &writer)
            }
            endResponse(query, answers: answers, authorities: 0, additionals: 0, truncated: truncated, into: &writer)
            return .answered(.noError, query: query)
        }
    }

    /// Every address of the query's family at or below `node`, owned by the query name
    /// (a pointer to the question), duplicates answered once, rotated for round robin, all with
    /// the smallest TTL among them (capped by `-ttl`). Records holding names are not aliases of
    /// a name that has addresses (see `AnswerBuilder.addressRecords`), so they are passed over.
    /// Returns nil, having written nothing useful, when the general path must answer: a record
    /// below has a group, or the name is an alias (names below it, no address). `hasRecords`:
    /// whether any record lies below (`hiding` passes over `_` labels, as etcd v2 listings do).
    private func writeAddresses(_ node: TrieNode, type: RecordType, zone: Zone, hiding: Bool, limit: Int,
                                into writer: inout WireWriter) -> (count: Int, truncated: Bool, hasRecords: Bool)? {
        let size = type == .a ? 4 : 16
        let recordSize = 12 + size
        let start = writer.count
        var count = 0
        var truncated = false
        var ttl = zone.defaultTTL
        var singleTTL: UInt32 = 0
        var seen: Set<IPv6Address> = []
        // The counts below the node settle what the walk would find: a group below, or names and
        // no address (an alias), need the general path; no address of the family is a NODATA.
        // The walk then goes only where such addresses are, within one query's budget.
        let kinds = node.kinds(hidingUnderscoreLabels: hiding)
        let hasRecords = kinds.records != 0
        if kinds.grouped != 0 || (kinds.names != 0 && kinds.ipv4 == 0 && kinds.ipv6 == 0) { return nil }
        let wanted: RecordKinds.Wanted = size == 4 ? .ipv4 : .ipv6
        guard kinds.contains(any: wanted) else { return (0, false, hasRecords) }
        var visits = AnswerBuilder.maxVisits
        node.forEachRecord(hidingUnderscoreLabels: hiding, where: { $0.contains(any: wanted) }, budget: &visits) { record in
            // Both families as one 16-byte key (IPv4 in the low word), for duplicate checks;
            // names below a name with addresses are not aliases of it, and are passed over.
            let address: IPv6Address
            switch record.target {
            case .ipv4(let v4) where size == 4: address = IPv6Address(high: 0, low: UInt64(v4.value))
            case .ipv6(let v6) where size == 16: address = v6
            default: return true
            }
            // Small answers compare against what is written; big directories use a set, so
            // answering 4,000 addresses stays linear. A copy under another key answers nothing
            // more, but its TTL counts (the smallest, whichever key comes first).
            if count < Self.linearDedupLimit {
                if isDuplicate(address, size: size, in: writer, from: start, count: count, recordSize: recordSize) {
                    ttl = min(ttl, record.ttl)
                    singleTTL = min(singleTTL, record.ttl)
                    return true
                }
                if count == Self.linearDedupLimit - 1 {
                    seen = Set((0..<count).map { index in
                        writtenAddress(size: size, in: writer, at: start + index * recordSize + recordSize - size)
                    } + [address])
                }
            } else if !seen.insert(address).inserted {
                ttl = min(ttl, record.ttl)
                return true
            }
            guard writer.count + recordSize <= limit else {
                truncated = true
                return false
            }
            writer.writeUInt16(0xC000 | UInt16(Header.size))
            writer.writeUInt16(type.rawValue)
            writer.writeUInt16(RecordClass.in.rawValue)
            writer.writeUInt32(0)
            writer.writeUInt16(UInt16(size))
            if size == 4 {
                writer.writeUInt32(UInt32(truncatingIfNeeded: address.low))
            } else {
                address.write(to: &writer)
            }
            ttl = min(ttl, record.ttl)
            singleTTL = record.ttl
            count += 1
            return true
        }
        // SkyDNS gives several records the smallest TTL among them, capped by -ttl; one record
        // keeps its own.
        for index in 0..<count {
            writer.setUInt32(count == 1 ? singleTTL : ttl, at: start + index * recordSize + 6)
        }
        if zone.roundRobin && count > 1 {
            rotation &+= 1
            writer.rotateLeft(start..<writer.count, by: (rotation % count) * recordSize)
        }
        return (count, truncated, hasRecords)
    }

    private static let linearDedupLimit = 32

    private func isDuplicate(_ address: IPv6Address, size: Int, in writer: WireWriter, from start: Int, count: Int,
                             recordSize: Int) -> Bool {
        for index in 0..<count where writtenAddress(size: size, in: writer, at: start + index * recordSize + recordSize - size) == address {
            return true
        }
        return false
    }

    /// An address already written at `offset`, as `writeAddresses` keys them.
    private func writtenAddress(size: Int, in writer: WireWriter, at offset: Int) -> IPv6Address {
        if size == 4 { return IPv6Address(high: 0, low: UInt64(writer.uint32(at: offset))) }
        return IPv6Address(high: UInt64(writer.uint32(at: offset)) << 32 | UInt64(writer.uint32(at: offset + 4)),
                           low: UInt64(writer.uint32(at: offset + 8)) << 32 | UInt64(writer.uint32(at: offset + 12)))
    }
}
