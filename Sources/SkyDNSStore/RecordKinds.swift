/// How many records of each kind a subtree of the trie holds, kept per node as records come and
/// go, so that a query can tell in constant time whether a walk below a name can find anything
/// (an AAAA query at an apex of 100,000 IPv4 records is a NODATA without visiting one).
///
/// Counts wrap instead of trapping; they never exceed the store's size.
public struct RecordKinds: Sendable, Equatable {
    /// Records of any kind.
    public private(set) var records: UInt32 = 0
    /// Records whose host is an IPv4 address.
    public private(set) var ipv4: UInt32 = 0
    /// Records whose host is an IPv6 address.
    public private(set) var ipv6: UInt32 = 0
    /// Records whose host is a name (CNAME, SRV/MX targets).
    public private(set) var names: UInt32 = 0
    /// Records with a `text` (TXT).
    public private(set) var text: UInt32 = 0
    /// Records with `mail: true` (MX).
    public private(set) var mail: UInt32 = 0
    /// Records with a `group`: they filter the others, so a walk that honours groups visits them.
    public private(set) var grouped: UInt32 = 0

    public init() {}

    /// The kinds of one record; nothing for nil.
    init(_ record: StoredRecord?) {
        guard let record else { return }
        records = 1
        switch record.target {
        case .ipv4: ipv4 = 1
        case .ipv6: ipv6 = 1
        case .name: names = 1
        case .none: break
        }
        if record.txt != nil { text = 1 }
        if record.mail { mail = 1 }
        if record.hasGroup { grouped = 1 }
    }

    static func &+ (lhs: RecordKinds, rhs: RecordKinds) -> RecordKinds {
        var sum = lhs
        sum.records = lhs.records &+ rhs.records
        sum.ipv4 = lhs.ipv4 &+ rhs.ipv4
        sum.ipv6 = lhs.ipv6 &+ rhs.ipv6
        sum.names = lhs.names &+ rhs.names
        sum.text = lhs.text &+ rhs.text
        sum.mail = lhs.mail &+ rhs.mail
        sum.grouped = lhs.grouped &+ rhs.grouped
        return sum
    }

    static func &- (lhs: RecordKinds, rhs: RecordKinds) -> RecordKinds {
        var difference = lhs
        difference.records = lhs.records &- rhs.records
        difference.ipv4 = lhs.ipv4 &- rhs.ipv4
        difference.ipv6 = lhs.ipv6 &- rhs.ipv6
        difference.names = lhs.names &- rhs.names
        difference.text = lhs.text &- rhs.text
        difference.mail = lhs.mail &- rhs.mail
        difference.grouped = lhs.grouped &- rhs.grouped
        return difference
    }

    /// Kinds a query looks for.
    public struct Wanted: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let ipv4 = Wanted(rawValue: 1)
        public static let ipv6 = Wanted(rawValue: 2)
        public static let names = Wanted(rawValue: 4)
        public static let text = Wanted(rawValue: 8)
        public static let mail = Wanted(rawValue: 16)
        public static let grouped = Wanted(rawValue: 32)
    }

    /// Whether any record of a `wanted` kind is counted.
    public func contains(any wanted: Wanted) -> Bool {
        (wanted.contains(.ipv4) && ipv4 != 0) || (wanted.contains(.ipv6) && ipv6 != 0)
            || (wanted.contains(.names) && names != 0) || (wanted.contains(.text) && text != 0)
            || (wanted.contains(.mail) && mail != 0) || (wanted.contains(.grouped) && grouped != 0)
    }
}
