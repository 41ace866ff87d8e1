// The etcd configuration key (`/<path-prefix>/config`): a JSON object that SkyDNS read at start
// with Go's encoding/json into its Config struct, over the values from the flags, and then
// passed through server.SetDefaults. The same rules apply here:
//   - keys match the JSON names case-insensitively; unknown keys are ignored; a key given twice
//     takes its last value; `null` leaves a setting as it is;
//   - a zero or empty value for dns_addr, domain, hostmaster, ttl, min_ttl, priority, rcache_ttl,
//     ndot or read_timeout leaves the setting as it is (SkyDNS's SetDefaults put the default
//     back; here the value from the flags stays);
//   - a value of the wrong JSON type is an error, worded as Go words it.
// Values are then checked like the matching flags. The hostmaster keeps following the domain
// unless the flags or the key set it.

extension SkyDNSConfiguration {
    /// Applies the JSON of SkyDNS's etcd config key over this configuration. Throws
    /// `ConfigurationError.invalidEtcdConfig` / `.invalidEtcdConfigValue` and then leaves the
    /// configuration unchanged. Fields this build does not act on yet are added to
    /// `notYetSupported` under their flag names.
    public mutating func merge(etcdConfigJSON: [UInt8]) throws {
        let document: JSONValue
        do {
            document = try JSONValue.parse(etcdConfigJSON)
        } catch {
            throw ConfigurationError.invalidEtcdConfig(error.text)
        }
        let members: [(String, JSONValue)]
        switch document {
        case .null: return
        case .object(let m): members = m
        default:
            throw ConfigurationError.invalidEtcdConfig(
                "json: cannot unmarshal \(document.kind) into Go value of type server.Config")
        }

        var updated = self
        let hostmasterFollowsDomain = hostmaster == Validation.hostmasterDefault(domain: domain)
        var hostmasterGiven = false

        for (key, value) in members {
            guard let field = EtcdField(rawValue: key.lowercased()) else { continue }
            if case .null = value { continue }
            var applied = true
            switch field {
            case .dnsAddr:
                let text = try value.string(field)
                if text.isEmpty { applied = false; break }
                updated.addr = try field.check(text) { v throws(Validation.Reason) in try Validation.listenAddress(v) }
            case .domain:
                let text = try value.string(field)
                if text.isEmpty { applied = false; break }
                updated.domain = try field.check(text) { v throws(Validation.Reason) in try Validation.domain(v) }
            case .nameservers:
                updated.nameservers = try value.strings(field).map { server in
                    try field.check(server) { v throws(Validation.Reason) in try Validation.serverAddress(v) }
                }
            case .noRec:
                updated.noRec = try value.bool(field)
            case .ttl:
                let n = try value.integer(field, type: "uint32", in: 0...Int64(UInt32.max))
                if n == 0 { applied = false } else { updated.ttl = UInt32(n) }
            case .minTTL:
                let n = try value.integer(field, type: "uint32", in: 0...Int64(UInt32.max))
                if n == 0 { applied = false } else { updated.minTTL = UInt32(n) }
            case .priority:
                let n = try value.integer(field, type: "uint16", in: 0...Int64(UInt16.max))
                if n == 0 { applied = false } else { updated.priority = UInt16(n) }
            case .hostmaster:
                let text = try value.string(field)
                let name = try field.check(text) { v throws(Validation.Reason) in try Validation.hostmaster(v) }
                if name.isEmpty { applied = false; break }
                updated.hostmaster = name
                hostmasterGiven = true
            case .rcache:
                updated.rcache = try field.nonNegative(value.integer(field, type: "int", in: Int64.min...Int64.max))
            case .rcacheTTL:
                let n = try field.nonNegative(value.integer(field, type: "int", in: Int64.min...Int64.max))
                if n == 0 { applied = false } else { updated.rcacheTTL = n }
            case .ndot:
                let n = try field.nonNegative(value.integer(field, type: "int", in: Int64.min...Int64.max))
                if n == 0 { applied = false } else { updated.ndots = n }
            case .roundRobin:
                updated.roundRobin = try value.bool(field)
            case .nsRotate:
                updated.nsRotate = try value.bool(field)
            case .local:
                updated.local = Validation.fqdn(try value.string(field))
            case .dnssec:
                // SkyDNS: "for some reason the + are replaced by spaces in etcd"; undo that.
                updated.dnssec = String(try value.string(field).map { $0 == " " ? "+" : $0 })
            case .readTimeout:
                let nanoseconds: Int64
                if case .string(let text) = value {
                    // Not Go's (it wanted nanoseconds), but unambiguous: "2s".
                    guard let parsed = GoDuration.parse(text) else {
                        throw ConfigurationError.invalidEtcdConfigValue(
                            field: field.rawValue, value: text, reason: "parse error")
                    }
                    nanoseconds = parsed
                } else {
                    nanoseconds = try value.integer(field, type: "time.Duration", in: Int64.min...Int64.max)
                }
                if nanoseconds == 0 { applied = false; break }
                updated.readTimeout = try field.check(String(nanoseconds), nanoseconds) { v throws(Validation.Reason) in
                    try Validation.positiveDuration(v)
                }
            case .systemd:
                updated.systemd = try value.bool(field)
            case .scache:
                updated.scache = try field.nonNegative(value.integer(field, type: "int", in: Int64.min...Int64.max))
            case .etcd3:
                updated.etcd3 = try value.bool(field)
            }
            if applied, let flag = field.notYetSupportedFlag {
                updated.noteNotYetSupported(flag)
            }
        }
        if !hostmasterGiven && hostmasterFollowsDomain {
            updated.hostmaster = Validation.hostmasterDefault(domain: updated.domain)
        }
        self = updated
    }
}

/// The keys of SkyDNS's Config struct (the JSON names, lower case).
enum EtcdField: String {
    case dnsAddr = "dns_addr"
    case domain
    case nameservers
    case noRec = "no_rec"
    case ttl
    case minTTL = "min_ttl"
    case priority
    case hostmaster
    case rcache
    case rcacheTTL = "rcache_ttl"
    case ndot
    case roundRobin = "round_robin"
    case nsRotate = "ns_rotate"
    case local
    case dnssec
    case readTimeout = "read_timeout"
    case systemd
    case scache
    case etcd3

    /// The flag to report in `notYetSupported` when the key sets this.
    var notYetSupportedFlag: String? {
        switch self {
        case .nameservers: return "nameservers"
        case .noRec: return "no-rec"
        case .hostmaster: return "hostmaster"
        case .rcache: return "rcache"
        case .rcacheTTL: return "rcache-ttl"
        case .ndot: return "ndots"
        case .nsRotate: return "ns-rotate"
        case .local: return "local"
        case .dnssec: return "dnssec"
        case .readTimeout: return "rtimeout"
        case .systemd: return "systemd"
        case .scache: return "scache"
        case .dnsAddr, .domain, .ttl, .minTTL, .priority, .roundRobin, .etcd3: return nil
        }
    }

    func check<T, R>(_ shown: String, _ input: T, _ body: (T) throws(Validation.Reason) -> R) throws -> R {
        do {
            return try body(input)
        } catch {
            throw ConfigurationError.invalidEtcdConfigValue(field: rawValue, value: shown, reason: error.text)
        }
    }

    func check<R>(_ text: String, _ body: (String) throws(Validation.Reason) -> R) throws -> R {
        try check(text, text, body)
    }

    func nonNegative(_ value: Int64) throws -> Int {
        try check(String(value), value) { v throws(Validation.Reason) in try Validation.nonNegative(v) }
    }
}

// MARK: - A small JSON reader

/// Just enough JSON (RFC 8259) for the config key, keeping number literals as text so that
/// integers are read exactly as Go reads them.
enum JSONValue {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    struct SyntaxError: Error {
        var text: String
    }

    /// encoding/json's name for the kind, as in its "cannot unmarshal X into …" errors.
    var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "bool"
        case .number(let literal): return "number " + literal
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    private func typeError(_ field: EtcdField, _ goType: String) -> ConfigurationError {
        .invalidEtcdConfig("json: cannot unmarshal \(kind) into Go struct field Config.\(field.rawValue) of type \(goType)")
    }

    func string(_ field: EtcdField) throws -> String {
        guard case .string(let s) = self else { throw typeError(field, "string") }
        return s
    }

    func bool(_ field: EtcdField) throws -> Bool {
        guard case .bool(let b) = self else { throw typeError(field, "bool") }
        return b
    }

    func strings(_ field: EtcdField) throws -> [String] {
        guard case .array(let items) = self else { throw typeError(field, "[]string") }
        return try items.map { item in
            guard case .string(let s) = item else {
                throw ConfigurationError.invalidEtcdConfig(
                    "json: cannot unmarshal \(item.kind) into Go struct field Config.\(field.rawValue) of type string")
            }
            return s
        }
    }

    /// An integer literal (no fraction, no exponent) within `range`, as encoding/json reads
    /// into Go's integer types.
    func integer(_ field: EtcdField, type goType: String, in range: ClosedRange<Int64>) throws -> Int64 {
        guard case .number(let literal) = self else { throw typeError(field, goType) }
        guard let value = Int64(literal), range.contains(value) else { throw typeError(field, goType) }
        return value
    }

    static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> JSONValue {
        var reader = Reader(bytes: bytes)
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        if reader.position != bytes.count {
            throw reader.error("invalid character \(reader.describeCurrent()) after top-level value")
        }
        return value
    }

    private struct Reader {
        let bytes: [UInt8]
        var position = 0

        func error(_ text: String) -> SyntaxError { SyntaxError(text: text) }

        /// encoding/json's "invalid character 'x' …", or the end-of-input error at the end.
        func invalid(_ context: String) -> SyntaxError {
            if position >= bytes.count { return SyntaxError(text: "unexpected end of JSON input") }
            return SyntaxError(text: "invalid character \(describeCurrent()) \(context)")
        }

        func describeCurrent() -> String {
            guard position < bytes.count else { return "end of input" }
            let c = bytes[position]
            if c == UInt8(ascii: "'") { return "'\\''" }
            if c >= 0x20 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
            return "0x" + String(c, radix: 16)
        }

        mutating func skipSpace() {
            while position < bytes.count,
                  bytes[position] == 0x20 || bytes[position] == 0x09 || bytes[position] == 0x0A || bytes[position] == 0x0D {
                position += 1
            }
        }

        mutating func expect(_ word: String) throws(SyntaxError) {
            for c in word.utf8 {
                guard position < bytes.count, bytes[position] == c else {
                    throw invalid("in literal \(word)")
                }
                position += 1
            }
        }

        mutating func value(depth: Int) throws(SyntaxError) -> JSONValue {
            if depth > 64 { throw error("nested too deeply") }
            guard position < bytes.count else { throw error("unexpected end of JSON input") }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                position += 1
                var members: [(String, JSONValue)] = []
                skipSpace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                while true {
                    skipSpace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                        throw invalid("looking for beginning of object key string")
                    }
                    let key = try string()
                    skipSpace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                        throw invalid("after object key")
                    }
                    position += 1
                    skipSpace()
                    members.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    guard position < bytes.count else { throw error("unexpected end of JSON input") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                    throw invalid("after object key:value pair")
                }
            case UInt8(ascii: "["):
                position += 1
                var items: [JSONValue] = []
                skipSpace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard position < bytes.count else { throw error("unexpected end of JSON input") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
                    throw invalid("after array element")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"):
                try expect("true"); return .bool(true)
            case UInt8(ascii: "f"):
                try expect("false"); return .bool(false)
            case UInt8(ascii: "n"):
                try expect("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return .number(try number())
            default:
                throw invalid("looking for beginning of value")
            }
        }

        mutating func number() throws(SyntaxError) -> String {
            let start = position
            func digit(_ i: Int) -> Bool { i < bytes.count && bytes[i] >= 48 && bytes[i] <= 57 }
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard digit(position) else { throw invalid("in numeric literal") }
            if bytes[position] == UInt8(ascii: "0") {
                position += 1
            } else {
                while digit(position) { position += 1 }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                guard digit(position) else { throw invalid("after decimal point in numeric literal") }
                while digit(position) { position += 1 }
            }
            if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
                guard digit(position) else { throw invalid("in exponent of numeric literal") }
                while digit(position) { position += 1 }
            }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }

        mutating func string() throws(SyntaxError) -> String {
            position += 1  // opening quote
            var out: [UInt8] = []
            while true {
                guard position < bytes.count else { throw error("unexpected end of JSON input") }
                let c = bytes[position]
                position += 1
                switch c {
                case UInt8(ascii: "\""):
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard position < bytes.count else { throw error("unexpected end of JSON input") }
                    let e = bytes[position]
                    position += 1
                    switch e {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5C)
                    case UInt8(ascii: "/"): out.append(0x2F)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if scalar >= 0xD800 && scalar < 0xDC00 {
                            // A high surrogate: combine with a following low one, else U+FFFD.
                            let save = position
                            if position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                                position += 2
                                let low = try hex4()
                                if low >= 0xDC00 && low < 0xE000 {
                                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                                } else {
                                    position = save
                                    scalar = 0xFFFD
                                }
                            } else {
                                scalar = 0xFFFD
                            }
                        } else if scalar >= 0xDC00 && scalar < 0xE000 {
                            scalar = 0xFFFD
                        }
                        out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
                    default:
                        throw invalid("in string escape code")
                    }
                default:
                    if c < 0x20 { throw error("invalid character 0x\(String(c, radix: 16)) in string literal") }
                    out.append(c)
                }
            }
        }

        mutating func hex4() throws(SyntaxError) -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard position < bytes.count else { throw error("unexpected end of JSON input") }
                let c = bytes[position]
                let d: UInt32
                switch c {
                case 48...57: d = UInt32(c - 48)
                case 65...70: d = UInt32(c - 55)
                case 97...102: d = UInt32(c - 87)
                default: throw invalid("in \\u hexadecimal character escape")
                }
                v = v * 16 + d
                position += 1
            }
            return v
        }
    }
}
