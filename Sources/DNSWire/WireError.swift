/// Why a message could not be read or written. Every malformed input ends in one of these,
/// never in a trap.
public enum WireError: Error, Equatable, Sendable {
    case truncated
    case labelTooLong
    case nameTooLong
    case badLabelType(UInt8)
    case forwardPointer
    case pointerLoop
    /// More compression pointers in one name than it has labels to need (`WireReader.maxPointers`).
    case tooManyPointers
    case emptyLabel
    case invalidText(String)
    case badRDataLength
    case multipleOPT
    case badOPTOwner
    case trailingData
}
