/// Every setting of the server, with SkyDNS's names, defaults and meanings.
///
/// Built by `CommandLineParser.parse(_:environment:)` (built-in defaults, then environment
/// variables, then flags) and then, once etcd is reachable, `merge(etcdConfigJSON:)` with the
/// value of `/<path-prefix>/config`.
public struct SkyDNSConfiguration: Sendable, Equatable {
    /// `-addr`, env `SKYDNS_ADDR`: ip:port to listen on (`:53` means all interfaces).
    public var addr: String
    /// `-domain`, env `SKYDNS_DOMAIN`: lower case, exactly one final dot.
    public var domain: String
    /// `-machines` (comma list), env `ETCD_MACHINES`: etcd endpoint URLs.
    public var machines: [String]
    /// `-etcd3`: nil when not given (detect the API at start), else the API to use.
    public var etcd3: Bool?
    /// `-path-prefix`, env `SKYDNS_PATH_PREFIX`: first label of every etcd key.
    public var pathPrefix: String
    /// `-nameservers` (comma list of ip:port), env `SKYDNS_NAMESERVERS`; empty: /etc/resolv.conf.
    public var nameservers: [String]
    /// `-no-rec`: never forward.
    public var noRec: Bool
    /// `-ndots`, env `SKYDNS_NDOTS`: names with fewer labels are not forwarded.
    public var ndots: Int
    /// The upstream timeout: how long one upstream has to answer (a UDP exchange and its TCP
    /// retry); positive. SkyDNS's `-rtimeout` flag (Go duration) and `read_timeout` key.
    public var upstreamTimeout: Duration
    /// `-ns-rotate`: rotate among the nameservers.
    public var nsRotate: Bool
    /// `-round-robin`: rotate A/AAAA answers.
    public var roundRobin: Bool
    /// `-rcache`: response cache capacity (0: off).
    public var rcache: Int
    /// `-rcache-ttl`: response cache TTL in seconds.
    public var rcacheTTL: Int
    /// `-stubzones`: serve stub zones.
    public var stubzones: Bool
    /// `-local`: this instance's unique name (made fully qualified).
    public var local: String
    /// `-hostmaster`: SOA mailbox; `hostmaster.<domain>` when not given; `@` becomes `.`.
    public var hostmaster: String
    /// `-dnssec`: basename of the DNSSEC key file.
    public var dnssec: String
    /// `-scache`: signature cache capacity.
    public var scache: Int
    /// `-ttl`: TTL of records that carry none.
    public var ttl: UInt32
    /// `-min-ttl`: TTL of negative answers (SOA minimum).
    public var minTTL: UInt32
    /// `-priority`: priority of SRV records that carry priority 0.
    public var priority: UInt16
    /// `-ca-cert`, env `ETCD_CACERT`.
    public var caCert: String
    /// `-tls-pem`, env `ETCD_TLSPEM`.
    public var tlsPem: String
    /// `-tls-key`, env `ETCD_TLSKEY`.
    public var tlsKey: String
    /// `-username`, env `ETCD_USERNAME`.
    public var username: String
    /// `-password`, env `ETCD_PASSWORD`.
    public var password: String
    /// `-systemd`, env `SKYDNS_SYSTEMD`: use sockets passed by systemd.
    public var systemd: Bool
    /// `-verbose`: log queries.
    public var verbose: Bool
    /// `-version`: print the version and exit.
    public var version: Bool
    /// `-metrics-addr` (ours); env `PROMETHEUS_PORT=n` means `127.0.0.1:n`. Empty: no metrics.
    public var metricsAddr: String
    /// env `PROMETHEUS_PATH`.
    public var prometheusPath: String
    /// env `PROMETHEUS_NAMESPACE`.
    public var prometheusNamespace: String
    /// env `PROMETHEUS_SUBSYSTEM`; `skydns` by default, as in SkyDNS.
    public var prometheusSubsystem: String
    /// `-log-format` (ours): `text` or `json`.
    public var logFormat: String
    /// Settings that were given (flags by name, e.g. `nameservers`; environment variables by
    /// variable name, e.g. `SKYDNS_NDOTS`) but that this build does not act on yet; for a warning
    /// at start. Defaults never appear here.
    public var notYetSupported: [String]

    /// SkyDNS's built-in defaults (no environment, no flags).
    public init() {
        addr = "127.0.0.1:53"
        domain = "skydns.local."
        machines = ["http://127.0.0.1:2379"]
        etcd3 = nil
        pathPrefix = "skydns"
        nameservers = []
        noRec = false
        ndots = 2
        upstreamTimeout = .seconds(2)
        nsRotate = true
        roundRobin = true
        rcache = 0
        rcacheTTL = 60
        stubzones = false
        local = ""
        hostmaster = "hostmaster.skydns.local."
        dnssec = ""
        scache = 10000
        ttl = 3600
        minTTL = 60
        priority = 10
        caCert = ""
        tlsPem = ""
        tlsKey = ""
        username = ""
        password = ""
        systemd = false
        verbose = false
        version = false
        metricsAddr = ""
        prometheusPath = "/metrics"
        prometheusNamespace = "skydns"
        prometheusSubsystem = "skydns"  // SkyDNS's default: names are skydns_skydns_…
        logFormat = "text"
        notYetSupported = []
    }

    /// Every effective setting on one line, `name=value` with the flag names, for the start-up
    /// log. The password prints as `***` (empty when none is set), credentials inside etcd URLs
    /// likewise.
    public func summary() -> String {
        func text(_ s: String) -> String {
            if s.isEmpty || s.unicodeScalars.contains(where: { $0 == " " || $0 == "\"" || $0 == "\\" || $0.value < 0x20 }) {
                return GoSyntax.quote(s)
            }
            return s
        }
        func list(_ items: [String]) -> String { "[" + items.map(text).joined(separator: ",") + "]" }
        let etcdAPI: String
        switch etcd3 {
        case nil: etcdAPI = "auto"
        case true?: etcdAPI = "true"
        case false?: etcdAPI = "false"
        }
        let fields: [(String, String)] = [
            ("addr", text(addr)),
            ("domain", text(domain)),
            ("machines", list(machines.map(Self.redactingUserInfo))),
            ("etcd3", etcdAPI),
            ("path-prefix", text(pathPrefix)),
            ("nameservers", list(nameservers)),
            ("no-rec", String(noRec)),
            ("ndots", String(ndots)),
            ("rtimeout", GoDuration.format(nanoseconds: upstreamTimeout.inNanoseconds)),
            ("ns-rotate", String(nsRotate)),
            ("round-robin", String(roundRobin)),
            ("rcache", String(rcache)),
            ("rcache-ttl", String(rcacheTTL)),
            ("stubzones", String(stubzones)),
            ("local", text(local)),
            ("hostmaster", text(hostmaster)),
            ("dnssec", text(dnssec)),
            ("scache", String(scache)),
            ("ttl", String(ttl)),
            ("min-ttl", String(minTTL)),
            ("priority", String(priority)),
            ("ca-cert", text(caCert)),
            ("tls-pem", text(tlsPem)),
            ("tls-key", text(tlsKey)),
            ("username", text(username)),
            ("password", password.isEmpty ? "\"\"" : "***"),
            ("systemd", String(systemd)),
            ("verbose", String(verbose)),
            ("version", String(version)),
            ("metrics-addr", text(metricsAddr)),
            ("prometheus-path", text(prometheusPath)),
            ("prometheus-namespace", text(prometheusNamespace)),
            ("prometheus-subsystem", text(prometheusSubsystem)),
            ("log-format", text(logFormat)),
        ]
        return fields.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
    }

    /// `http://user:secret@host:2379` → `http://***@host:2379`.
    static func redactingUserInfo(_ url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<schemeEnd.upperBound]) + "***" + String(rest[at...])
    }

    /// Adds `name` to `notYetSupported` once.
    mutating func noteNotYetSupported(_ name: String) {
        if !notYetSupported.contains(name) { notYetSupported.append(name) }
    }
}
