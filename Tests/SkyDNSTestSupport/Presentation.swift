import DNSWire
import Foundation

// Records in zone-file form (RFC 1035 §5.1), so tests compare sections as sorted lists of lines.

private let typeNames: [UInt16: String] = [
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
]

public func typeName(_ type: RecordType) -> String { typeNames[type.rawValue] ?? "TYPE\(type.rawValue)" }

public func className(_ recordClass: RecordClass) -> String {
    switch recordClass.rawValue {
    case 1: "IN"
    case 3: "CH"
    case 4: "HS"
    default: "CLASS\(recordClass.rawValue)"
    }
}

/// `"…"` with `"` and `\` escaped and unprintable bytes as `\DDD` (RFC 1035 §5.1).
public func quoted(_ bytes: [UInt8]) -> String {
    var text = "\""
    for byte in bytes {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"):
            text += "\\" + String(Character(Unicode.Scalar(byte)))
        case 0x20...0x7E:
            text.append(Character(Unicode.Scalar(byte)))
        default:
            let digits = String(byte)
            text += "\\" + String(repeating: "0", count: 3 - digits.count) + digits
        }
    }
    return text + "\""
}

/// Character strings (TXT, HINFO) read from raw RDATA; nil if they do not parse.
private func characterStrings(_ data: [UInt8]) -> [[UInt8]]? {
    var strings: [[UInt8]] = []
    var index = 0
    while index < data.count {
        let length = Int(data[index])
        guard index + 1 + length <= data.count else { return nil }
        strings.append(Array(data[(index + 1)..<(index + 1 + length)]))
        index += 1 + length
    }
    return strings
}

/// Zone-file form, e.g. `svc.skydns.test. 3600 IN SRV 10 33 8080 a.svc.skydns.test.`. The SOA
/// serial prints as `SERIAL` (it follows the data and the clock); read it from the record itself.
public func presentation(_ record: ResourceRecord) -> String {
    let data: String
    switch record.data {
    case .a(let a): data = a.description
    case .aaaa(let aaaa): data = aaaa.description
    case .cname(let r): data = r.target.description
    case .ns(let r): data = r.target.description
    case .ptr(let r): data = r.target.description
    case .mx(let r): data = "\(r.preference) \(r.exchange)"
    case .srv(let r): data = "\(r.priority) \(r.weight) \(r.port) \(r.target)"
    case .txt(let r): data = r.strings.map(quoted).joined(separator: " ")
    case .soa(let r): data = "\(r.mname) \(r.rname) SERIAL \(r.refresh) \(r.retry) \(r.expire) \(r.minimum)"
    case .unknown(let type, let bytes):
        if type.rawValue == 13, let strings = characterStrings(bytes) {
            data = strings.map(quoted).joined(separator: " ")
        } else {
            data = "\\# \(bytes.count) " + bytes.map { String(format: "%02x", $0) }.joined()
        }
    }
    return "\(record.name) \(record.ttl) \(className(record.recordClass)) \(typeName(record.type)) \(data)"
}

