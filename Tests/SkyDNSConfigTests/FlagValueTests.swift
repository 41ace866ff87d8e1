import Testing
@testable import SkyDNSConfig

@Suite("Command line: values and validation")
struct ValueTests {
    @Test("integers use Go's base-0 syntax", arguments: [
        ("-ttl=30", UInt32(30)),
        ("-ttl=0x1f", 31),
        ("-ttl=0X1F", 31),
        ("-ttl=017", 15),
        ("-ttl=0o17", 15),
        ("-ttl=0b101", 5),
        ("-ttl=1_000", 1000),
        ("-ttl=0", 0),
        ("-ttl=4294967295", UInt32.max),
    ])
    func goIntegers(argument: String, expected: UInt32) throws {
        #expect(try configuration([argument]).ttl == expected)
    }

    @Test("numeric settings")
    func numbers() throws {
        let config = try configuration([
            "-min-ttl=30", "-priority=20", "-ndots=0", "-rcache=100", "-rcache-ttl=5", "-scache=0",
        ])
        #expect(config.minTTL == 30 && config.priority == 20 && config.ndots == 0)
        #expect(config.rcache == 100 && config.rcacheTTL == 5 && config.scache == 0)
    }

    @Test("durations use Go's syntax", arguments: [
        ("2s", Duration.seconds(2)),
        ("500ms", .milliseconds(500)),
        ("1m30s", .seconds(90)),
        ("1h", .seconds(3600)),
        ("1.5s", .milliseconds(1500)),
        ("+3s", .seconds(3)),
        ("1500us", .microseconds(1500)),
        ("1500µs", .microseconds(1500)),
        ("2h45m", .seconds(9900)),
        (".5s", .milliseconds(500)),
        ("100ns", .nanoseconds(100)),
    ])
    func durations(text: String, expected: Duration) throws {
        let config = try configuration(["-rtimeout", text])
        #expect(config.upstreamTimeout == expected)
    }

    @Test("invalid values are reported as Go reports them", arguments: [
        (["-ttl=abc"], #"invalid value "abc" for flag -ttl: parse error"#),
        (["-ttl", "-1"], #"invalid value "-1" for flag -ttl: parse error"#),
        (["-ttl=4294967296"], #"invalid value "4294967296" for flag -ttl: value out of range"#),
        (["-ttl=99999999999999999999"], #"invalid value "99999999999999999999" for flag -ttl: value out of range"#),
        (["-ttl=1.5"], #"invalid value "1.5" for flag -ttl: parse error"#),
        (["-ttl="], #"invalid value "" for flag -ttl: parse error"#),
        (["-ttl=0x"], #"invalid value "0x" for flag -ttl: parse error"#),
        (["-ttl=08"], #"invalid value "08" for flag -ttl: parse error"#),
        (["-ttl=1__0"], #"invalid value "1__0" for flag -ttl: parse error"#),
        (["-ttl=_10"], #"invalid value "_10" for flag -ttl: parse error"#),
        (["-min-ttl=x"], #"invalid value "x" for flag -min-ttl: parse error"#),
        (["-priority=65536"], #"invalid value "65536" for flag -priority: value out of range"#),
        (["-ndots=-1"], #"invalid value "-1" for flag -ndots: must not be negative"#),
        (["-ndots=two"], #"invalid value "two" for flag -ndots: parse error"#),
        (["-rcache=-5"], #"invalid value "-5" for flag -rcache: must not be negative"#),
        (["-rcache-ttl=-5"], #"invalid value "-5" for flag -rcache-ttl: must not be negative"#),
        (["-scache=-1"], #"invalid value "-1" for flag -scache: must not be negative"#),
        (["-rtimeout=2"], #"invalid value "2" for flag -rtimeout: parse error"#),
        (["-rtimeout=2x"], #"invalid value "2x" for flag -rtimeout: parse error"#),
        (["-rtimeout=s"], #"invalid value "s" for flag -rtimeout: parse error"#),
        (["-rtimeout="], #"invalid value "" for flag -rtimeout: parse error"#),
        (["-rtimeout=0"], #"invalid value "0" for flag -rtimeout: must be positive"#),
        (["-rtimeout=-1s"], #"invalid value "-1s" for flag -rtimeout: must be positive"#),
        (["-addr=abc"], #"invalid value "abc" for flag -addr: address abc: missing port in address"#),
        (["-addr=1.2.3.4"], #"invalid value "1.2.3.4" for flag -addr: address 1.2.3.4: missing port in address"#),
        (["-addr=1.2.3.4:dns"], #"invalid value "1.2.3.4:dns" for flag -addr: bad port number "dns" (must be 0-65535)"#),
        (["-addr=1.2.3.4:65536"], #"invalid value "1.2.3.4:65536" for flag -addr: bad port number "65536" (must be 0-65535)"#),
        (["-addr=1.2.3.4:-1"], #"invalid value "1.2.3.4:-1" for flag -addr: bad port number "-1" (must be 0-65535)"#),
        (["-addr=1.2.3.4:"], #"invalid value "1.2.3.4:" for flag -addr: bad port number "" (must be 0-65535)"#),
        (["-addr=localhost:53"], #"invalid value "localhost:53" for flag -addr: bad IP address: localhost"#),
        (["-addr=1.2.3:53"], #"invalid value "1.2.3:53" for flag -addr: bad IP address: 1.2.3"#),
        (["-addr=::1:53"], #"invalid value "::1:53" for flag -addr: address ::1:53: too many colons in address"#),
        (["-addr=[::1:53"], #"invalid value "[::1:53" for flag -addr: address [::1:53: missing ']' in address"#),
        (["-addr=[::1]"], #"invalid value "[::1]" for flag -addr: address [::1]: missing port in address"#),
        (["-addr=[1.2.3.4]:53"], #"invalid value "[1.2.3.4]:53" for flag -addr: bad IP address: 1.2.3.4"#),
        (["-domain="], #"invalid value "" for flag -domain: the domain must not be empty"#),
        (["-domain=a..b"], #"invalid value "a..b" for flag -domain: empty label in domain"#),
        (["-domain=a.b.."], #"invalid value "a.b.." for flag -domain: empty label in domain"#),
        (["-domain=.a"], #"invalid value ".a" for flag -domain: empty label in domain"#),
        (["-domain=a b"], #"invalid value "a b" for flag -domain: the domain must not contain blanks or control characters"#),
        (["-machines=127.0.0.1:2379"], #"invalid value "127.0.0.1:2379" for flag -machines: etcd URL "127.0.0.1:2379" must start with http:// or https://"#),
        (["-machines=http://a:2379,b:2379"], #"invalid value "http://a:2379,b:2379" for flag -machines: etcd URL "b:2379" must start with http:// or https://"#),
        (["-machines=http://"], #"invalid value "http://" for flag -machines: etcd URL "http://" has no host"#),
        (["-machines="], #"invalid value "" for flag -machines: at least one etcd URL is needed"#),
        (["-machines=http://a,,http://b"], #"invalid value "http://a,,http://b" for flag -machines: empty etcd URL in the list"#),
        (["-nameservers=8.8.8.8"], #"invalid value "8.8.8.8" for flag -nameservers: address 8.8.8.8: missing port in address"#),
        (["-nameservers=8.8.8.8:53,dns.google:53"], #"invalid value "8.8.8.8:53,dns.google:53" for flag -nameservers: bad IP address: dns.google"#),
        (["-nameservers=8.8.8.8:0"], #"invalid value "8.8.8.8:0" for flag -nameservers: bad port number "0" (must be 1-65535)"#),
        (["-nameservers=:53"], #"invalid value ":53" for flag -nameservers: address :53: missing IP address"#),
        (["-nameservers=8.8.8.8:53,"], #"invalid value "8.8.8.8:53," for flag -nameservers: empty entry in the nameserver list"#),
        (["-metrics-addr=9153"], #"invalid value "9153" for flag -metrics-addr: address 9153: missing port in address"#),
        (["-log-format=xml"], #"invalid value "xml" for flag -log-format: must be text or json"#),
        (["-path-prefix="], #"invalid value "" for flag -path-prefix: must be non-empty, without a leading or trailing /"#),
        (["-path-prefix=/skydns"], #"invalid value "/skydns" for flag -path-prefix: must be non-empty, without a leading or trailing /"#),
    ])
    func invalidValues(arguments: [String], message: String) {
        #expect(parseError(arguments) == message)
    }

    @Test("valid listening addresses", arguments: [
        "127.0.0.1:53", "0.0.0.0:5353", ":53", ":0", "[::1]:53", "[::]:53", "[fe80::1%eth0]:53", "10.0.0.1:65535",
    ])
    func listenAddresses(addr: String) throws {
        #expect(try configuration(["-addr", addr]).addr == addr)
    }

    @Test("domain normalization", arguments: [
        ("domeos.sohu", "domeos.sohu."),
        ("Domeos.Sohu.", "domeos.sohu."),
        ("SKYDNS.LOCAL", "skydns.local."),
        ("cluster.local.", "cluster.local."),
        ("a", "a."),
        // The root, as SkyDNS accepted it: every name is served from etcd.
        (".", "."),
    ])
    func domainNormalization(given: String, expected: String) throws {
        #expect(try configuration(["-domain", given]).domain == expected)
        #expect(try configuration([], environment: ["SKYDNS_DOMAIN": given]).domain == expected)
    }

    @Test("domain limits: labels of 63 and names of 253 characters")
    func domainLimits() throws {
        let label63 = String(repeating: "a", count: 63)
        #expect(try configuration(["-domain", label63 + ".com"]).domain == label63 + ".com.")
        #expect(parseError(["-domain", label63 + "a.com"])?.hasSuffix("is longer than 63 characters") == true)
        // 4 labels of 63 = 255 characters with the dots: too long; 3 of 63 + one of 61 = 253: fine.
        let long = [label63, label63, label63, String(repeating: "b", count: 61)].joined(separator: ".")
        #expect(long.count == 253)
        #expect(try configuration(["-domain", long]).domain == long + ".")
        #expect(try configuration(["-domain", long + "."]).domain == long + ".")
        #expect(parseError(["-domain", long + "b"])?.hasSuffix("the domain is longer than 253 characters") == true)
    }

    @Test("the hostmaster default follows the domain; a given one is made an SOA mailbox")
    func hostmaster() throws {
        #expect(try configuration([]).hostmaster == "hostmaster.skydns.local.")
        #expect(try configuration(["-domain=Domeos.Sohu"]).hostmaster == "hostmaster.domeos.sohu.")
        #expect(try configuration(["-domain=."]).hostmaster == "hostmaster.")
        #expect(try configuration(["-hostmaster=x", "-domain=a.b"]).hostmaster == "x.")
        #expect(try configuration(["-domain=a.b", "-hostmaster=admin@example.org"]).hostmaster == "admin.example.org.")
        #expect(try configuration(["-hostmaster=root.example.org."]).hostmaster == "root.example.org.")
        #expect(try configuration(["-domain=a.b", "-hostmaster="]).hostmaster == "hostmaster.a.b.")
        #expect(try configuration([], environment: ["SKYDNS_DOMAIN": "env.test"]).hostmaster == "hostmaster.env.test.")
    }

    @Test("lists are split on commas and trimmed")
    func lists() throws {
        let config = try configuration([
            "-machines", "http://10.0.0.1:2379, https://10.0.0.2:2379",
            "-nameservers", "8.8.8.8:53, [2001:4860:4860::8888]:53",
        ])
        #expect(config.machines == ["http://10.0.0.1:2379", "https://10.0.0.2:2379"])
        #expect(config.nameservers == ["8.8.8.8:53", "[2001:4860:4860::8888]:53"])
        #expect(try configuration(["-nameservers="]).nameservers == [])
        #expect(try configuration(["-machines=HTTP://Upper:2379"]).machines == ["HTTP://Upper:2379"])
    }

    @Test("string settings are stored as given; -local is made fully qualified")
    func strings() throws {
        let config = try configuration([
            "-local=host1.skydns.local", "-dnssec=Kskydns.local.+005+38250", "-ca-cert=/ca.pem", "-tls-pem=/c.pem",
            "-tls-key=/k.pem", "-username=u", "-password=p", "-metrics-addr=127.0.0.1:9153", "-log-format=json",
            "-path-prefix=coredns", "-stubzones", "-systemd", "-no-rec", "-verbose", "-version",
        ])
        #expect(config.local == "host1.skydns.local.")
        #expect(config.dnssec == "Kskydns.local.+005+38250")
        #expect(config.caCert == "/ca.pem" && config.tlsPem == "/c.pem" && config.tlsKey == "/k.pem")
        #expect(config.username == "u" && config.password == "p")
        #expect(config.metricsAddr == "127.0.0.1:9153" && config.logFormat == "json")
        #expect(config.pathPrefix == "coredns")
        #expect(config.stubzones && config.systemd && config.noRec && config.verbose && config.version)
    }
}
