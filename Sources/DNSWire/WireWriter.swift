/// Appends big-endian integers and names to a message, compressing names against those already
/// written. The buffer and the compression table keep their capacity across `reset()`, so a
/// writer that lives as long as a worker allocates nothing per message once warmed up.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8]
    /// Offsets of every name suffix written so far that a pointer can reach.
    private var suffixOffsets: [UInt16]
    private static let maxSuffixes = 256

    public init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
        suffixOffsets = []
        suffixOffsets.reserveCapacity(Self.maxSuffixes)
    }

    public var count: Int { bytes.count }

    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        suffixOffsets.removeAll(keepingCapacity: true)
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
    }

    public mutating func writeUInt8(_ value: UInt8) { bytes.append(value) }

    public mutating func writeUInt16(_ value: UInt16) {
        bytes.append(UInt8(value >> 8))
        bytes.append(UInt8(value & 0xFF))
    }

    public mutating func writeUInt32(_ value: UInt32) {
        bytes.append(UInt8(value >> 24))
        bytes.append(UInt8((value >> 16) & 0xFF))
        bytes.append(UInt8((value >> 8) & 0xFF))
        bytes.append(UInt8(value & 0xFF))
    }

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
        var index = 0
        while wire[index] != 0 {
            if compress, let target = findSuffix(wire, from: index, before: nameStart) {
                writeUInt16(0xC000 | target)
                return
            }
            if bytes.count < 0x4000 && suffixOffsets.count < Self.maxSuffixes {
                suffixOffsets.append(UInt16(bytes.count))
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
        var position = offset
        while position < bytes.count, bytes[position] != 0, bytes[position] & 0xC0 == 0,
              position < 0x4000, suffixOffsets.count < Self.maxSuffixes {
            suffixOffsets.append(UInt16(position))
            position += Int(bytes[position]) + 1
        }
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

    private func findSuffix(_ wire: UnsafeBufferPointer<UInt8>, from start: Int, before end: Int) -> UInt16? {
        for offset in suffixOffsets where Int(offset) < end && nameInMessage(at: Int(offset), equals: wire, from: start) {
            return offset
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
