/// Cuts a byte stream into complete top-level JSON objects, whatever the chunking and
/// whether or not objects are separated by newlines.
struct JSONObjectSplitter {
    /// The longest object kept: a watch message of a transaction's worth of etcd's largest values.
    static let maxObject = 256 << 20
    private let maxObject: Int
    private var buffer: [UInt8] = []
    /// Set when an object grew past `maxObject`; the stream then stops.
    private(set) var overflowed = false
    private var depth = 0
    private var inString = false
    private var escaped = false

    init(maxObject: Int = JSONObjectSplitter.maxObject) {
        self.maxObject = maxObject
    }

    /// Calls `emit` for each object completed by `chunk`; stops and returns false as soon as
    /// `emit` does.
    mutating func append(_ chunk: UnsafeRawBufferPointer, emit: ([UInt8]) -> Bool) -> Bool {
        for byte in chunk {
            if depth == 0 {
                guard byte == UInt8(ascii: "{") else { continue }  // whitespace between objects
            }
            guard buffer.count < maxObject else {
                overflowed = true
                return false
            }
            buffer.append(byte)
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 {
                    let object = buffer
                    buffer.removeAll(keepingCapacity: true)
                    if !emit(object) { return false }
                }
            default: break
            }
        }
        return true
    }
}
