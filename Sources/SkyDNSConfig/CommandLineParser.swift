/// What the command line asks for.
public enum ParseOutcome: Sendable, Equatable {
    /// Start the server with this configuration.
    case run(SkyDNSConfiguration)
    /// `-h`, `-help` or `--help`: print this text (to standard error, as Go does) and exit 0.
    case help(String)
}

/// SkyDNS's command line, parsed with the exact rules of Go's `flag` package:
/// `-x=v`, `--x=v`, `-x v`, `--x v`; boolean flags `-x` or `-x=false` (never `-x false`);
/// parsing stops at `--` or at the first argument that is not a flag.
public enum CommandLineParser {
    /// Parses `arguments` (without the program name) over defaults taken from `environment`
    /// (an environment variable that is set and not empty replaces the built-in default; a flag
    /// replaces both). Throws `ConfigurationError`; the caller prints it and exits 2.
    ///
    /// Unlike Go, a positional argument is an error (`unexpected argument false`): SkyDNS takes
    /// none, and the usual one is the `false` of `-etcd3 false`, which Go would silently drop
    /// while leaving the flag true.
    public static func parse(_ arguments: [String], environment: [String: String]) throws -> ParseOutcome {
        var config = SkyDNSConfiguration()
        config.hostmaster = ""  // derived from the final domain unless given
        var source: [String: String] = [:]  // flag name → "-name" or the environment variable

        // 1. Environment variables.
        for flag in FlagTable.all {
            for variable in flag.environment {
                guard let value = environment[variable], !value.isEmpty else { continue }
                do {
                    try flag.set(value, into: &config)
                } catch {
                    throw ConfigurationError.invalidEnvironment(variable: variable, value: value, reason: error.text)
                }
                source[flag.name] = variable
                break
            }
        }
        try applyPrometheusEnvironment(environment, to: &config, source: &source)

        // 2. Flags, one at a time, as flag.FlagSet.parseOne does.
        var args = arguments[...]
        while let argument = args.first {
            let bytes = Array(argument.utf8)
            if bytes.count < 2 || bytes[0] != UInt8(ascii: "-") { break }
            var minuses = 1
            if bytes[1] == UInt8(ascii: "-") {
                minuses = 2
                if bytes.count == 2 {  // "--" ends the flags
                    args.removeFirst()
                    break
                }
            }
            var nameBytes = bytes[minuses...]
            if nameBytes.isEmpty || nameBytes.first == UInt8(ascii: "-") || nameBytes.first == UInt8(ascii: "=") {
                throw ConfigurationError.badFlagSyntax(argument)
            }
            args.removeFirst()
            var value: String? = nil
            if let equals = nameBytes.dropFirst().firstIndex(of: UInt8(ascii: "=")) {
                value = String(decoding: nameBytes[(equals + 1)...], as: UTF8.self)
                nameBytes = nameBytes[..<equals]
            }
            let name = String(decoding: nameBytes, as: UTF8.self)
            guard let flag = FlagTable.byName[name] else {
                if name == "help" || name == "h" { return .help(usage()) }
                throw ConfigurationError.flagNotDefined(name)
            }
            if flag.isBool {
                let text = value ?? "true"
                do {
                    try flag.set(text, into: &config)
                } catch {
                    throw ConfigurationError.invalidBooleanValue(flag: name, value: text, reason: error.text)
                }
            } else {
                if value == nil, let next = args.first {
                    value = next
                    args.removeFirst()
                }
                guard let text = value else { throw ConfigurationError.flagNeedsArgument(name) }
                do {
                    try flag.set(text, into: &config)
                } catch {
                    throw ConfigurationError.invalidValue(flag: name, value: text, reason: error.text)
                }
            }
            source[name] = "-" + name
        }
        if let extra = args.first {
            throw ConfigurationError.unexpectedArgument(extra)
        }

        // 3. Derived settings.
        if config.hostmaster.isEmpty {
            config.hostmaster = Validation.hostmasterDefault(domain: config.domain)
        }
        for flag in FlagTable.sorted where flag.notYetSupported {
            guard let origin = source[flag.name] else { continue }
            config.noteNotYetSupported(origin.hasPrefix("-") ? flag.name : origin)
        }
        return .run(config)
    }

    /// The help text, as Go's flag package prints it: `Usage of skydns:` and then, sorted by
    /// name, every flag with its type, its help and its non-zero built-in default.
    public static func usage() -> String {
        var out = "Usage of skydns:\n"
        for flag in FlagTable.sorted {
            var line = "  -" + flag.name
            if let type = flag.typeName {
                line += " " + type
            }
            // Go puts the help of a one-letter boolean flag on the same line; none here.
            line += line.utf8.count <= 4 ? "\t" : "\n    \t"
            line += flag.usage
            if let shown = flag.defaultShown {
                line += " (default \(shown))"
            }
            out += line + "\n"
        }
        return out
    }

    /// Flags this build accepts but does not act on yet (they are reported in
    /// `SkyDNSConfiguration.notYetSupported` when given).
    public static var notYetSupportedFlags: [String] {
        FlagTable.sorted.filter(\.notYetSupported).map(\.name)
    }

    /// Every flag name, sorted.
    public static var flagNames: [String] {
        FlagTable.sorted.map(\.name)
    }

    private static func applyPrometheusEnvironment(
        _ environment: [String: String], to config: inout SkyDNSConfiguration, source: inout [String: String]
    ) throws {
        if let port = environment["PROMETHEUS_PORT"], !port.isEmpty {
            do {
                let number = try Validation.port(port, in: 1...65535)
                config.metricsAddr = "127.0.0.1:\(number)"
            } catch {
                throw ConfigurationError.invalidEnvironment(variable: "PROMETHEUS_PORT", value: port, reason: error.text)
            }
            source["metrics-addr"] = "PROMETHEUS_PORT"
        }
        if let path = environment["PROMETHEUS_PATH"], !path.isEmpty {
            do {
                config.prometheusPath = try Validation.metricsPath(path)
            } catch {
                throw ConfigurationError.invalidEnvironment(variable: "PROMETHEUS_PATH", value: path, reason: error.text)
            }
        }
        for (variable, keyPath) in [
            ("PROMETHEUS_NAMESPACE", \SkyDNSConfiguration.prometheusNamespace),
            ("PROMETHEUS_SUBSYSTEM", \SkyDNSConfiguration.prometheusSubsystem),
        ] {
            guard let value = environment[variable], !value.isEmpty else { continue }
            guard isMetricNamePart(value) else {
                throw ConfigurationError.invalidEnvironment(
                    variable: variable, value: value, reason: "must be letters, digits and _, not starting with a digit")
            }
            config[keyPath: keyPath] = value
        }
    }

    private static func isMetricNamePart(_ s: String) -> Bool {
        guard let first = s.utf8.first, !(first >= 48 && first <= 57) else { return false }
        return s.utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95
        }
    }
}

// MARK: - The flags

/// One flag: its name, Go type, help text, built-in default, environment variables, and how a
/// value is checked and stored.
struct FlagDefinition: Sendable {
    typealias Reason = Validation.Reason

    enum Setter: Sendable {
        case string(@Sendable (inout SkyDNSConfiguration, String) throws(Reason) -> Void)
        case bool(@Sendable (inout SkyDNSConfiguration, Bool) -> Void)
        case int(@Sendable (inout SkyDNSConfiguration, Int64) throws(Reason) -> Void)
        case uint(@Sendable (inout SkyDNSConfiguration, UInt64) throws(Reason) -> Void)
        case duration(@Sendable (inout SkyDNSConfiguration, Int64) throws(Reason) -> Void)
    }

    let name: String
    let usage: String
    /// Go's DefValue, as PrintDefaults shows it; nil when it is the zero value (not shown).
    let defaultShown: String?
    let environment: [String]
    let notYetSupported: Bool
    let setter: Setter

    var isBool: Bool {
        if case .bool = setter { return true }
        return false
    }

    /// The word Go's UnquoteUsage prints after the flag name.
    var typeName: String? {
        switch setter {
        case .string: return "string"
        case .bool: return nil
        case .int: return "int"
        case .uint: return "uint"
        case .duration: return "duration"
        }
    }

    func set(_ text: String, into config: inout SkyDNSConfiguration) throws(Reason) {
        do {
            switch setter {
            case .string(let set): try set(&config, text)
            case .bool(let set): set(&config, try GoSyntax.parseBool(text))
            case .int(let set): try set(&config, try GoSyntax.parseInt64(text))
            case .uint(let set): try set(&config, try GoSyntax.parseUInt64(text))
            case .duration(let set): try set(&config, try GoDuration.parseNanoseconds(text))
            }
        } catch let error as GoSyntaxError {
            throw Reason(error.text)
        } catch let error as Reason {
            throw error
        } catch {
            throw Reason("\(error)")
        }
    }
}

enum FlagTable {
    typealias Reason = Validation.Reason

    /// Sorted by name, as Go's VisitAll orders them.
    static let sorted: [FlagDefinition] = all.sorted {
        Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8))
    }

    static let byName: [String: FlagDefinition] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    private static func uint32(_ v: UInt64) throws(Reason) -> UInt32 {
        guard v <= UInt64(UInt32.max) else { throw Reason("value out of range") }
        return UInt32(v)
    }

    private static func nonNegative(_ v: Int64) throws(Reason) -> Int {
        try Validation.nonNegative(v)
    }

    static let all: [FlagDefinition] = [
        FlagDefinition(
            name: "addr", usage: "ip:port to bind to (SKYDNS_ADDR)", defaultShown: "\"127.0.0.1:53\"",
            environment: ["SKYDNS_ADDR"], notYetSupported: false,
            setter: .string { c, v throws(Reason) in c.addr = try Validation.listenAddress(v) }),
        FlagDefinition(
            name: "domain", usage: "domain to anchor requests to (SKYDNS_DOMAIN)", defaultShown: "\"skydns.local.\"",
            environment: ["SKYDNS_DOMAIN"], notYetSupported: false,
            setter: .string { c, v throws(Reason) in c.domain = try Validation.domain(v) }),
        FlagDefinition(
            name: "nameservers",
            usage: "nameserver address(es) to forward (non-local) queries to e.g. 8.8.8.8:53,8.8.4.4:53 (SKYDNS_NAMESERVERS)",
            defaultShown: nil, environment: ["SKYDNS_NAMESERVERS"], notYetSupported: false,
            setter: .string { c, v throws(Reason) in c.nameservers = try Validation.nameservers(v) }),
        FlagDefinition(
            name: "no-rec", usage: "do not provide a recursive service", defaultShown: nil,
            environment: [], notYetSupported: false, setter: .bool { c, v in c.noRec = v }),
        FlagDefinition(
            name: "machines", usage: "machine address(es) running etcd (ETCD_MACHINES)",
            defaultShown: "\"http://127.0.0.1:2379\"", environment: ["ETCD_MACHINES"], notYetSupported: false,
            setter: .string { c, v throws(Reason) in c.machines = try Validation.machines(v) }),
        FlagDefinition(
            name: "dnssec", usage: "basename of DNSSEC key file e.q. Kskydns.local.+005+38250", defaultShown: nil,
            environment: [], notYetSupported: false, setter: .string { c, v in c.dnssec = v }),
        FlagDefinition(
            name: "local", usage: "optional unique value for this skydns instance", defaultShown: nil,
            environment: [], notYetSupported: false, setter: .string { c, v in c.local = Validation.fqdn(v) }),
        FlagDefinition(
            name: "tls-key", usage: "SSL key file used to secure etcd communication (ETCD_TLSKEY)", defaultShown: nil,
            environment: ["ETCD_TLSKEY"], notYetSupported: false, setter: .string { c, v in c.tlsKey = v }),
        FlagDefinition(
            name: "tls-pem", usage: "SSL certification file used to secure etcd communication (ETCD_TLSPEM)",
            defaultShown: nil, environment: ["ETCD_TLSPEM"], notYetSupported: false,
            setter: .string { c, v in c.tlsPem = v }),
        FlagDefinition(
            name: "ca-cert", usage: "SSL Certificate Authority file used to secure etcd communication (ETCD_CACERT)",
            // ECTD_CACERT: the misspelling SkyDNS 2.0 read.
            defaultShown: nil, environment: ["ETCD_CACERT", "ECTD_CACERT"], notYetSupported: false,
            setter: .string { c, v in c.caCert = v }),
        FlagDefinition(
            name: "username", usage: "Username used to support etcd basic auth (ETCD_USERNAME)", defaultShown: nil,
            environment: ["ETCD_USERNAME"], notYetSupported: false, setter: .string { c, v in c.username = v }),
        FlagDefinition(
            name: "password", usage: "Password used to support etcd basic auth (ETCD_PASSWORD)", defaultShown: nil,
            environment: ["ETCD_PASSWORD"], notYetSupported: false, setter: .string { c, v in c.password = v }),
        FlagDefinition(
            name: "rtimeout", usage: "read timeout", defaultShown: "2s",
            environment: [], notYetSupported: false,
            setter: .duration { c, v throws(Reason) in c.upstreamTimeout = try Validation.positiveDuration(v) }),
        FlagDefinition(
            name: "round-robin", usage: "round robin A/AAAA replies", defaultShown: "true",
            environment: [], notYetSupported: false, setter: .bool { c, v in c.roundRobin = v }),
        FlagDefinition(
            name: "ns-rotate", usage: "round robin selection of nameservers from among those listed",
            defaultShown: "true", environment: [], notYetSupported: false, setter: .bool { c, v in c.nsRotate = v }),
        FlagDefinition(
            name: "stubzones", usage: "support stub zones", defaultShown: nil,
            environment: [], notYetSupported: false, setter: .bool { c, v in c.stubzones = v }),
        FlagDefinition(
            name: "verbose", usage: "log queries", defaultShown: nil,
            environment: [], notYetSupported: false, setter: .bool { c, v in c.verbose = v }),
        FlagDefinition(
            name: "systemd", usage: "bind to socket(s) activated by systemd (ignore -addr) (SKYDNS_SYSTEMD)",
            defaultShown: nil, environment: ["SKYDNS_SYSTEMD"], notYetSupported: false,
            setter: .bool { c, v in c.systemd = v }),
        FlagDefinition(
            name: "version", usage: "Print the version and exit.", defaultShown: nil,
            environment: [], notYetSupported: false, setter: .bool { c, v in c.version = v }),
        FlagDefinition(
            name: "hostmaster", usage: "hostmaster email address to use (default hostmaster.<domain>)",
            defaultShown: nil, environment: [], notYetSupported: false,
            setter: .string { c, v throws(Reason) in c.hostmaster = try Validation.hostmaster(v) }),
        FlagDefinition(
            name: "scache", usage: "capacity of the signature cache", defaultShown: "10000",
            environment: [], notYetSupported: false,
            setter: .int { c, v throws(Reason) in c.scache = try nonNegative(v) }),
        FlagDefinition(
            name: "rcache", usage: "capacity of the response cache", defaultShown: nil,
            environment: [], notYetSupported: false,
            setter: .int { c, v throws(Reason) in c.rcache = try nonNegative(v) }),
        FlagDefinition(
            name: "rcache-ttl", usage: "TTL of the response cache", defaultShown: "60",
            environment: [], notYetSupported: false,
            setter: .int { c, v throws(Reason) in c.rcacheTTL = try nonNegative(v) }),
        FlagDefinition(
            name: "ndots", usage: "How many labels a name should have before we allow forwarding (SKYDNS_NDOTS)",
            defaultShown: "2", environment: ["SKYDNS_NDOTS"], notYetSupported: false,
            setter: .int { c, v throws(Reason) in c.ndots = try nonNegative(v) }),
        FlagDefinition(
            name: "path-prefix", usage: "backend(etcd) path prefix, default: skydns (SKYDNS_PATH_PREFIX)",
            defaultShown: "\"skydns\"", environment: ["SKYDNS_PATH_PREFIX"], notYetSupported: false,
            setter: .string { c, v throws(Reason) in
                if v.isEmpty || v.hasPrefix("/") || v.hasSuffix("/") {
                    throw Reason("must be non-empty, without a leading or trailing /")
                }
                c.pathPrefix = v
            }),
        FlagDefinition(
            name: "etcd3",
            usage: "use the etcd v3 API (true) or the v2 API (false); when not given, detect it at start",
            defaultShown: nil, environment: [], notYetSupported: false, setter: .bool { c, v in c.etcd3 = v }),
        // Ours: SkyDNS took these from the etcd config key only.
        FlagDefinition(
            name: "ttl", usage: "default TTL, in seconds, of records that carry none", defaultShown: "3600",
            environment: [], notYetSupported: false,
            setter: .uint { c, v throws(Reason) in c.ttl = try uint32(v) }),
        FlagDefinition(
            name: "min-ttl", usage: "minimum TTL, in seconds, of negative answers", defaultShown: "60",
            environment: [], notYetSupported: false,
            setter: .uint { c, v throws(Reason) in c.minTTL = try uint32(v) }),
        FlagDefinition(
            name: "priority", usage: "default priority of SRV records that carry priority 0", defaultShown: "10",
            environment: [], notYetSupported: false,
            setter: .uint { c, v throws(Reason) in
                guard v <= UInt64(UInt16.max) else { throw Reason("value out of range") }
                c.priority = UInt16(v)
            }),
        // Ours.
        FlagDefinition(
            name: "metrics-addr",
            usage: "ip:port to serve Prometheus metrics on; empty: none (PROMETHEUS_PORT=n means 127.0.0.1:n)",
            defaultShown: nil, environment: [], notYetSupported: false,
            setter: .string { c, v throws(Reason) in c.metricsAddr = v.isEmpty ? "" : try Validation.listenAddress(v) }),
        FlagDefinition(
            name: "log-format", usage: "log format: text or json", defaultShown: "\"text\"",
            environment: [], notYetSupported: false,
            setter: .string { c, v throws(Reason) in c.logFormat = try Validation.logFormat(v) }),
    ]
}
