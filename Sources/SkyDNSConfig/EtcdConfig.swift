import StrictJSON

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
    /// Applies the JSON of SkyDNS's etcd config key over this configuration, all or nothing.
    /// Throws `ConfigurationError.invalidEtcdConfig` / `.invalidEtcdConfigValue` and then leaves
    /// the configuration unchanged. Fields this build does not act on yet are added to
    /// `notYetSupported` under their flag names.
    public mutating func merge(etcdConfigJSON: [UInt8]) throws {
        let document: JSONValue
        do {
            document = try JSONValue.parse(etcdConfigJSON)
        } catch {
            throw ConfigurationError.invalidEtcdConfig(error.description)
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
            case .upstreamTimeout:
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
                updated.upstreamTimeout = try field.check(String(nanoseconds), nanoseconds) { v throws(Validation.Reason) in
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

extension SkyDNSConfiguration {
    /// Applies the config key field by field, as SkyDNS did at start (the key's values over the
    /// flags'), and returns one line for each field that did not take effect: not a SkyDNS
    /// setting, invalid (that field keeps its value from the flags, the others still apply), or
    /// a zero or empty value SkyDNS treated as unset. Throws `ConfigurationError.invalidEtcdConfig`
    /// only when the value is not a JSON object (then nothing is applied).
    public mutating func applyEtcdConfig(_ json: [UInt8]) throws -> [String] {
        let document: JSONValue
        do {
            document = try JSONValue.parse(json)
        } catch {
            throw ConfigurationError.invalidEtcdConfig(error.description)
        }
        let members: [(String, JSONValue)]
        switch document {
        case .null: return []
        case .object(let m): members = m
        default:
            throw ConfigurationError.invalidEtcdConfig(
                "json: cannot unmarshal \(document.kind) into Go value of type server.Config")
        }
        // The domain first, so that a hostmaster in the same key is not taken for one that follows it.
        let ordered = members.filter { $0.0.lowercased() == EtcdField.domain.rawValue }
            + members.filter { $0.0.lowercased() != EtcdField.domain.rawValue }
        var notes: [String] = []
        for (key, value) in ordered {
            guard let field = EtcdField(rawValue: key.lowercased()) else {
                notes.append("field \(GoSyntax.quote(key)) is not a SkyDNS setting; ignored")
                continue
            }
            if case .null = value { continue }
            let before = self
            do {
                try merge(etcdConfigJSON: JSONValue.object([(key, value)]).serialized)
            } catch {
                notes.append("\(error); field \(field.rawValue) ignored, keeping the value from the flags")
                continue
            }
            let zero: Bool
            switch value {
            case .number(let literal): zero = literal == "0"
            case .string(let text): zero = text.isEmpty
            default: zero = false
            }
            if zero && self == before {
                notes.append("field \(field.rawValue) is \(value.serialized.count < 8 ? String(decoding: value.serialized, as: UTF8.self) : "empty"), "
                    + "which SkyDNS treated as unset; keeping the value from the flags")
            }
        }
        return notes
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
    /// The upstream timeout, under SkyDNS's name.
    case upstreamTimeout = "read_timeout"
    case systemd
    case scache
    case etcd3

    /// The flag to report in `notYetSupported` when the key sets this: the settings this build
    /// does not act on from the flags either.
    var notYetSupportedFlag: String? {
        switch self {
        case .systemd: return "systemd"
        case .dnssec, .scache, .dnsAddr, .domain, .nameservers, .noRec, .ttl, .minTTL, .priority, .hostmaster, .rcache,
             .rcacheTTL, .ndot, .roundRobin, .nsRotate, .local, .upstreamTimeout, .etcd3:
            return nil
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

// MARK: - Reading fields as encoding/json would

/// The config key's values, with encoding/json's "cannot unmarshal" errors.
extension JSONValue {
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
}
