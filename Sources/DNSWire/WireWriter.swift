/// Appends big-endian integers and names to a message, compressing names against those already
/// written. The buffer and the compression table keep their capacity across `reset()`, so a
/// writer that lives as long as a worker allocates nothing per message once warmed up.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8]
    /// Offsets of every name suffix written so far that a pointer can reach, with each suffix's
    /// length and keyed hash (`suffixHash`): a suffix is compared byte for byte only with those of
    /// the same length and hash. Comparing with every one cost up to 256 × 255 bytes per label:
    /// an upstream's reply naming its records with 255-byte names that share all but their last
    /// label with earlier ones took minutes to encode.
    private var suffixOffsets: [UInt16]
    private var suffixLengths: [UInt8]
    private var suffixHashes: [Int]
    private static let maxSuffixes = 256
    /// Byte-for-byte suffix comparisons made since the last `reset()` (for tests of the bound).
    public private(set) var suffixComparisons = 0

    public init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
        suffixOffsets = []
        suffixOffsets.reserveCapacity(Self.maxSuffixes)
        suffixLengths = []
        suffixLengths.reserveCapacity(Self.maxSuffixes)
        suffixHashes = []
        suffixHashes.reserveCapacity(Self.maxSuffixes)
    }

    public var count: Int { bytes.count }

    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        suffixOffsets.removeAll(keepingCapacity: true)
        suffixLengths.removeAll(keepingCapacity: true)
        suffixHashes.removeAll(keepingCapacity: true)
        suffixComparisons = 0
    }

    /// A point to roll back to when a record turns out not to fit.
    public struct Mark: Sendable {
        let byteCount: Int
        let suffixCount: Int

        public init(byteCount: Int, suffixCount: Int) {
            self.byteCount = byteCount
            self.suffixCount = suffixCount
        }
    }

    public var mark: Mark { Mark(byteCount: bytes.count, suffixCount: suffixOffsets.count) }

    public mutating func rollBack(to mark: Mark) {
        bytes.removeSubrange(mark.byteCount...)
        suffixOffsets.removeSubrange(mark.suffixCount...)
        suffixLengths.removeSubrange(mark.suffixCount...)
        suffixHashes.removeSubrange(mark.suffixCount...)
    }

    public mutating func writeUInt8(_ value: UInt8) { bytes.append(value) }

    public mutating func writeUInt16(_ value: UInt16) { bytes.appendBigEndian(value) }

    public mutating func writeUInt32(_ value: UInt32) { bytes.appendBigEndian(value) }

    public mutating func writeBytes<C: Collection>(_ data: C) where C.Element == UInt8 {
        bytes.append(contentsOf: data)
    }

    public mutating func setUInt32(_ value: UInt32, at offset: Int) {
        setUInt16(UInt16(value >> 16), at: offset)
        setUInt16(UInt16(value & 0xFFFF), at: offset + 2)
    }

    public func uint16(at offset: Int) -> UInt16 {
        UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    public func uint32(at offset: Int) -> UInt32 {
        bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// Rotates the bytes in `range` left by `shift`, in place (used to rotate equal-sized records).
    public mutating func rotateLeft(_ range: Range<Int>, by shift: Int) {
        guard shift > 0, shift < range.count else { return }
        bytes.withUnsafeMutableBufferPointer { buffer in
            func reverse(_ lower: Int, _ upper: Int) {
                var (low, high) = (lower, upper - 1)
                while low < high {
                    buffer.swapAt(low, high)
                    low += 1
                    high -= 1
                }
            }
            reverse(range.lowerBound, range.lowerBound + shift)
            reverse(range.lowerBound + shift, range.upperBound)
            reverse(range.lowerBound, range.upperBound)
        }
    }

    public mutating func setUInt16(_ value: UInt16, at offset: Int) {
        bytes[offset] = UInt8(value >> 8)
        bytes[offset + 1] = UInt8(value & 0xFF)
    }

    /// Writes `name`, replacing its longest suffix already in the message by a pointer when
    /// `compress` is true. Suffixes are remembered either way, so later names can point here.
    public mutating func writeName(_ name: DomainName, compress: Bool = true) {
        name.wire.withUnsafeBufferPointer { writeName(wire: $0, compress: compress) }
    }

    public mutating func writeName(wire: UnsafeBufferPointer<UInt8>, compress: Bool = true) {
        // Suffixes of this name are registered as its labels go out, but the name is not complete
        // until its last byte is written, so it must not be searched for its own later suffixes.
        let nameStart = bytes.count
        var end = 0
        while wire[end] != 0 { end += Int(wire[end]) + 1 }
        var index = 0
        while wire[index] != 0 {
            let registers = bytes.count < 0x4000 && suffixOffsets.count < Self.maxSuffixes
            guard registers || (compress && !suffixOffsets.isEmpty) else {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: wire[index...end]))
                return
            }
            let suffix = UnsafeBufferPointer(rebasing: wire[index...end])
            let hash = Self.suffixHash(suffix)
            if compress, let target = findSuffix(suffix, hash: hash, before: nameStart) {
                writeUInt16(0xC000 | target)
                return
            }
            if registers {
                suffixOffsets.append(UInt16(bytes.count))
                suffixLengths.append(UInt8(truncatingIfNeeded: suffix.count))
                suffixHashes.append(hash)
            }
            let length = Int(wire[index])
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: wire[index...(index + length)]))
            index += length + 1
        }
        bytes.append(0)
    }

    /// Makes the uncompressed name already written at `offset` (such as an echoed question)
    /// available as a compression target.
    public mutating func registerName(at offset: Int) {
        // Only a whole uncompressed name within the message: its suffixes are hashed as they lie.
        var end = offset
        while end < bytes.count, bytes[end] != 0 {
            guard bytes[end] & 0xC0 == 0 else { return }
            end += Int(bytes[end]) + 1
        }
        guard end < bytes.count else { return }
        var position = offset
        while bytes[position] != 0, position < 0x4000, suffixOffsets.count < Self.maxSuffixes {
            let hash = bytes.withUnsafeBufferPointer { Self.suffixHash(UnsafeBufferPointer(rebasing: $0[position...end])) }
            suffixOffsets.append(UInt16(position))
            suffixLengths.append(UInt8(truncatingIfNeeded: end - position + 1))
            suffixHashes.append(hash)
            position += Int(bytes[position]) + 1
        }
    }

    /// A keyed hash (seeded per process, so no sender can aim for collisions) of a name suffix's
    /// exact bytes.
    private static func suffixHash(_ suffix: UnsafeBufferPointer<UInt8>) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: UnsafeRawBufferPointer(suffix))
        return hasher.finalize()
    }

    /// Writes records while the message stays within `limit` bytes; a record that does not fit is
    /// rolled back whole. Returns how many were written and whether all were.
    public mutating func writeRecords(_ records: [ResourceRecord], limit: Int) -> (written: Int, complete: Bool) {
        for (index, record) in records.enumerated() {
            let mark = self.mark
            if !record.write(to: &self) || count > limit {
                rollBack(to: mark)
                return (index, false)
            }
        }
        return (records.count, true)
    }

    /// Writes `records` RRset by RRset (the records of one owner, class and type, with the RRSIGs
    /// covering them, RFC 2181 §5 and RFC 4034 §3), each in the place of its first record, while
    /// the message stays within `limit` bytes; the first RRset that does not fit whole is rolled
    /// back and the rest left out. The additional section's way: no TC marks what it leaves out
    /// (RFC 2181 §9), so a partial RRset there would be taken for the whole one.
    public mutating func writeWholeRRsets(_ records: [ResourceRecord], limit: Int) -> (written: Int, complete: Bool) {
        var positions: [RRsetKey: Int] = [:]
        var rrsets: [[ResourceRecord]] = []
        for record in records {
            let key = RRsetKey(record)
            if let position = positions[key] {
                rrsets[position].append(record)
            } else {
                positions[key] = rrsets.count
                rrsets.append([record])
            }
        }
        var written = 0
        for rrset in rrsets {
            let mark = self.mark
            guard writeRecords(rrset, limit: limit).complete else {
                rollBack(to: mark)
                return (written, false)
            }
            written += rrset.count
        }
        return (written, true)
    }

    /// What `writeSections` wrote.
    public struct SectionCounts: Sendable, Equatable {
        public var answers: Int
        public var authorities: Int
        public var additionals: Int
        /// A record of the answer or authority section was left out (set TC, RFC 2181 §9);
        /// additional records left out do not make a message truncated.
        public var truncated: Bool
    }

    /// The truncation cascade, in one place: the answer, authority and additional sections in
    /// order, each record whole (each additional RRset whole), while the message stays within
    /// `limit` bytes (leave room for the OPT record in it). When a record does not fit, the
    /// sections after it are left out whole: additional records go first, then whole authority
    /// and answer records.
    public mutating func writeSections(answers: [ResourceRecord], authorities: [ResourceRecord],
                                       additionals: [ResourceRecord], limit: Int) -> SectionCounts {
        let answered = writeRecords(answers, limit: limit)
        let authority = answered.complete ? writeRecords(authorities, limit: limit) : (written: 0, complete: false)
        let additional = authority.complete ? writeWholeRRsets(additionals, limit: limit) : (written: 0, complete: false)
        return SectionCounts(answers: answered.written, authorities: authority.written, additionals: additional.written,
                             truncated: !authority.complete)
    }

    /// Writes one record whose owner is a pointer to a name already in the message at
    /// `ownerOffset` (below 0x4000, RFC 1035 §4.1.4), its RDATA written by `rdata` (a codec
    /// RData writer), and RDLENGTH filled in. Returns false, having written nothing, when the
    /// RDATA would exceed 65,535 bytes.
    @discardableResult
    public mutating func writeRecord(ownerOffset: Int, type: RecordType, recordClass: RecordClass = .in, ttl: UInt32,
                                     rdata: (inout WireWriter) -> Void) -> Bool {
        guard let pointer = UInt16(exactly: ownerOffset), pointer < 0x4000 else { return false }
        let start = mark
        writeUInt16(0xC000 | pointer)
        writeUInt16(type.rawValue)
        writeUInt16(recordClass.rawValue)
        writeUInt32(ttl)
        let lengthOffset = count
        writeUInt16(0)
        rdata(&self)
        guard let length = UInt16(exactly: count - lengthOffset - 2) else {
            rollBack(to: start)
            return false
        }
        setUInt16(length, at: lengthOffset)
        return true
    }

    private mutating func findSuffix(_ suffix: UnsafeBufferPointer<UInt8>, hash: Int, before end: Int) -> UInt16? {
        for index in suffixOffsets.indices
        where suffixHashes[index] == hash && Int(suffixLengths[index]) == suffix.count && Int(suffixOffsets[index]) < end {
            suffixComparisons &+= 1
            if nameInMessage(at: Int(suffixOffsets[index]), equals: suffix, from: 0) { return suffixOffsets[index] }
        }
        return nil
    }

    /// Compares the (possibly compressed) name at `position` in the message with the uncompressed
    /// suffix of `wire` starting at `start`, byte for byte: a pointer stands for the bytes it
    /// points at, so matching regardless of case would give a name from the data the casing of
    /// the client's question (`ns.dns.DOMEOS.SOHU.`).
    private func nameInMessage(at position: Int, equals wire: UnsafeBufferPointer<UInt8>, from start: Int) -> Bool {
        var position = position
        var index = start
        while true {
            var length = bytes[position]
            while length & 0xC0 == 0xC0 {
                position = Int(length & 0x3F) << 8 | Int(bytes[position + 1])
                length = bytes[position]
            }
            guard length == wire[index] else { return false }
            if length == 0 { return true }
            for step in 1...Int(length) where bytes[position + step] != wire[index + step] {
                return false
            }
            position += Int(length) + 1
            index += Int(length) + 1
        }
    }
}

/// The one big-endian writer (network byte order, RFC 1035 §2.3.2), for messages (`WireWriter`)
/// and for byte strings built outside one, such as DNSSEC's canonical forms.
extension Array where Element == UInt8 {
    /// Appends `value`, most significant byte first: 2 bytes.
    @inlinable
    public mutating func appendBigEndian(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    /// Appends `value`, most significant byte first: 4 bytes.
    @inlinable
    public mutating func appendBigEndian(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value >> 24))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }
}
