import Testing
@testable import SkyDNSConfig

@Suite("Command line: environment")
struct EnvironmentTests {
    static let environment: [String: String] = [
        "SKYDNS_ADDR": "0.0.0.0:5353",
        "SKYDNS_DOMAIN": "Cluster.Local",
        "ETCD_MACHINES": "http://etcd-0:2379,http://etcd-1:2379",
        "SKYDNS_PATH_PREFIX": "dns",
        "SKYDNS_NAMESERVERS": "1.1.1.1:53",
        "SKYDNS_NDOTS": "3",
        "SKYDNS_SYSTEMD": "true",
        "ETCD_CACERT": "/env/ca",
        "ETCD_TLSPEM": "/env/pem",
        "ETCD_TLSKEY": "/env/key",
        "ETCD_USERNAME": "envuser",
        "ETCD_PASSWORD": "envpass",
        "PROMETHEUS_PORT": "9153",
        "PROMETHEUS_PATH": "/prom",
        "PROMETHEUS_NAMESPACE": "dns",
        "PROMETHEUS_SUBSYSTEM": "sky",
    ]

    @Test("environment variables replace the built-in defaults")
    func environmentDefaults() throws {
        let config = try configuration([], environment: Self.environment)
        #expect(config.addr == "0.0.0.0:5353")
        #expect(config.domain == "cluster.local.")
        #expect(config.hostmaster == "hostmaster.cluster.local.")
        #expect(config.machines == ["http://etcd-0:2379", "http://etcd-1:2379"])
        #expect(config.pathPrefix == "dns")
        #expect(config.nameservers == ["1.1.1.1:53"])
        #expect(config.ndots == 3)
        #expect(config.systemd)
        #expect(config.caCert == "/env/ca" && config.tlsPem == "/env/pem" && config.tlsKey == "/env/key")
        #expect(config.username == "envuser" && config.password == "envpass")
        #expect(config.metricsAddr == "127.0.0.1:9153")
        #expect(config.prometheusPath == "/prom")
        #expect(config.prometheusNamespace == "dns" && config.prometheusSubsystem == "sky")
    }

    @Test("flags replace environment variables")
    func flagsOverride() throws {
        let config = try configuration([
            "-addr=127.0.0.2:53", "-domain=flag.test", "-machines=https://x:2379", "-path-prefix=p",
            "-nameservers=9.9.9.9:53", "-ndots=1", "-systemd=false", "-ca-cert=/f/ca", "-tls-pem=/f/pem",
            "-tls-key=/f/key", "-username=fu", "-password=fp", "-metrics-addr=[::1]:9000",
        ], environment: Self.environment)
        #expect(config.addr == "127.0.0.2:53")
        #expect(config.domain == "flag.test.")
        #expect(config.hostmaster == "hostmaster.flag.test.")
        #expect(config.machines == ["https://x:2379"])
        #expect(config.pathPrefix == "p")
        #expect(config.nameservers == ["9.9.9.9:53"])
        #expect(config.ndots == 1)
        #expect(!config.systemd)
        #expect(config.caCert == "/f/ca" && config.tlsPem == "/f/pem" && config.tlsKey == "/f/key")
        #expect(config.username == "fu" && config.password == "fp")
        #expect(config.metricsAddr == "[::1]:9000")
    }

    @Test("an empty environment variable counts as unset, as in SkyDNS")
    func emptyIsUnset() throws {
        let config = try configuration([], environment: ["SKYDNS_DOMAIN": "", "ETCD_MACHINES": "", "SKYDNS_NDOTS": ""])
        #expect(config.domain == "skydns.local.")
        #expect(config.machines == ["http://127.0.0.1:2379"])
        #expect(config.ndots == 2)
    }

    @Test("ECTD_CACERT, the name SkyDNS 2.0 misspelt, still works; ETCD_CACERT wins")
    func misspeltCACert() throws {
        #expect(try configuration([], environment: ["ECTD_CACERT": "/old"]).caCert == "/old")
        #expect(try configuration([], environment: ["ECTD_CACERT": "/old", "ETCD_CACERT": "/new"]).caCert == "/new")
    }

    @Test("invalid environment values are errors naming the variable", arguments: [
        (["SKYDNS_NDOTS": "two"], #"invalid value "two" for environment variable SKYDNS_NDOTS: parse error"#),
        (["SKYDNS_NDOTS": "-1"], #"invalid value "-1" for environment variable SKYDNS_NDOTS: must not be negative"#),
        (["SKYDNS_SYSTEMD": "yes"], #"invalid value "yes" for environment variable SKYDNS_SYSTEMD: parse error"#),
        (["SKYDNS_ADDR": "53"], #"invalid value "53" for environment variable SKYDNS_ADDR: address 53: missing port in address"#),
        (["SKYDNS_DOMAIN": "a..b"], #"invalid value "a..b" for environment variable SKYDNS_DOMAIN: empty label in domain"#),
        (["ETCD_MACHINES": "etcd:2379"], #"invalid value "etcd:2379" for environment variable ETCD_MACHINES: etcd URL "etcd:2379" must start with http:// or https://"#),
        (["SKYDNS_NAMESERVERS": "8.8.8.8"], #"invalid value "8.8.8.8" for environment variable SKYDNS_NAMESERVERS: address 8.8.8.8: missing port in address"#),
        (["PROMETHEUS_PORT": "abc"], #"invalid value "abc" for environment variable PROMETHEUS_PORT: bad port number "abc" (must be 1-65535)"#),
        (["PROMETHEUS_PORT": "0"], #"invalid value "0" for environment variable PROMETHEUS_PORT: bad port number "0" (must be 1-65535)"#),
        (["PROMETHEUS_PATH": "metrics"], #"invalid value "metrics" for environment variable PROMETHEUS_PATH: must start with /"#),
        (["PROMETHEUS_NAMESPACE": "sky-dns"], #"invalid value "sky-dns" for environment variable PROMETHEUS_NAMESPACE: must be letters, digits and _, not starting with a digit"#),
    ])
    func invalidEnvironment(environment: [String: String], message: String) {
        #expect(parseError([], environment: environment) == message)
    }

    @Test("a valid flag does not rescue an invalid environment value (it is still a mistake)")
    func invalidEnvironmentWithFlag() {
        #expect(parseError(["-ndots=3"], environment: ["SKYDNS_NDOTS": "x"])
            == #"invalid value "x" for environment variable SKYDNS_NDOTS: parse error"#)
    }
}
