import Testing
@testable import SkyDNSConfig

@Suite("etcd config key merge")
struct EtcdConfigMergeTests {
    @Test("every field is applied")
    func allFields() throws {
        let json = """
            {"dns_addr": "0.0.0.0:5353", "domain": "Cluster.Local", "nameservers": ["8.8.8.8:53", "[::1]:53"],
             "no_rec": true, "ttl": 30, "min_ttl": 5, "priority": 20, "hostmaster": "admin@cluster.local",
             "rcache": 1000, "rcache_ttl": 10, "ndot": 4, "round_robin": false, "ns_rotate": false,
             "local": "node1.cluster.local", "dnssec": "Kcluster.local. 005 12345", "read_timeout": 1500000000,
             "systemd": true, "scache": 5, "etcd3": true}
            """
        let config = try merged(json)
        #expect(config.addr == "0.0.0.0:5353")
        #expect(config.domain == "cluster.local.")
        #expect(config.nameservers == ["8.8.8.8:53", "[::1]:53"])
        #expect(config.noRec)
        #expect(config.ttl == 30 && config.minTTL == 5 && config.priority == 20)
        #expect(config.hostmaster == "admin.cluster.local.")
        #expect(config.rcache == 1000 && config.rcacheTTL == 10 && config.ndots == 4)
        #expect(!config.roundRobin && !config.nsRotate)
        #expect(config.local == "node1.cluster.local.")
        #expect(config.dnssec == "Kcluster.local.+005+12345")
        #expect(config.upstreamTimeout == .milliseconds(1500))
        #expect(config.systemd && config.scache == 5 && config.etcd3 == true)
        #expect(config.notYetSupported == ["systemd"])
    }

    @Test("absent and null fields leave the flag values; unknown keys are ignored")
    func absentAndNull() throws {
        let base = try configuration(["-ttl=99", "-domain=a.b", "-etcd3=false"])
        #expect(try merged("{}", over: base) == base)
        #expect(try merged("null", over: base) == base)
        #expect(try merged(#"{"ttl": null, "domain": null, "nameservers": null, "EtcdVersion": 3, "x": [1]}"#, over: base) == base)
        #expect(try merged(#"{"verbose": true, "Version": true}"#, over: base) == base)
    }

    @Test("zero values mean unset, as SkyDNS's SetDefaults treated them",
          arguments: [#"{"ttl": 0}"#, #"{"min_ttl": 0}"#, #"{"priority": 0}"#, #"{"rcache_ttl": 0}"#,
                      #"{"ndot": 0}"#, #"{"read_timeout": 0}"#, #"{"dns_addr": ""}"#, #"{"domain": ""}"#,
                      #"{"hostmaster": ""}"#])
    func zeroMeansUnset(json: String) throws {
        let base = try configuration(["-ttl=99", "-min-ttl=9", "-priority=7", "-rcache-ttl=8", "-ndots=5",
                                      "-rtimeout=3s", "-addr=:5300", "-domain=a.b"])
        let config = try merged(json, over: base)
        #expect(config == base)
    }

    @Test("false and zero are applied where they are meaningful")
    func falseAndZeroApplied() throws {
        let base = try configuration(["-no-rec", "-rcache=5", "-scache=5", "-systemd", "-etcd3"])
        let config = try merged(#"{"no_rec": false, "rcache": 0, "scache": 0, "systemd": false, "etcd3": false, "nameservers": []}"#, over: base)
        #expect(!config.noRec && config.rcache == 0 && config.scache == 0 && !config.systemd && config.etcd3 == false)
        #expect(config.nameservers == [])
    }

    @Test("keys match case-insensitively; the last of duplicate keys wins")
    func keyMatching() throws {
        let config = try merged(#"{"TTL": 11, "Min_TTL": 12, "Domain": "X.Y", "ttl": 13}"#)
        #expect(config.ttl == 13 && config.minTTL == 12 && config.domain == "x.y.")
    }

    @Test("the hostmaster follows a new domain unless it was set")
    func hostmasterFollowsDomain() throws {
        let followed = try merged(#"{"domain": "new.example"}"#, over: configuration(["-domain=old.example"]))
        #expect(followed.hostmaster == "hostmaster.new.example.")
        let pinned = try merged(#"{"domain": "new.example"}"#, over: configuration(["-hostmaster=me@old.example"]))
        #expect(pinned.hostmaster == "me.old.example.")
        let both = try merged(#"{"domain": "new.example", "hostmaster": "dns@new.example"}"#)
        #expect(both.hostmaster == "dns.new.example.")
    }

    @Test("read_timeout is nanoseconds; a Go duration string is also accepted")
    func upstreamTimeout() throws {
        #expect(try merged(#"{"read_timeout": 2000000000}"#).upstreamTimeout == .seconds(2))
        #expect(try merged(#"{"read_timeout": "750ms"}"#).upstreamTimeout == .milliseconds(750))
    }

    @Test("JSON string escapes are decoded")
    func escapes() throws {
        let config = try merged(#"{"local": "a\u0062c\/d", "dnssec": "K\ud83d\ude00"}"#)
        #expect(config.local == "abc/d.")
        #expect(config.dnssec == "K😀")
    }

    @Test("malformed or mistyped JSON is rejected with Go's wording", arguments: [
        ("", "invalid etcd config: unexpected end of JSON input"),
        ("{", "invalid etcd config: unexpected end of JSON input"),
        (#"{"ttl": "#, "invalid etcd config: unexpected end of JSON input"),
        (#"{"ttl": 30,}"#, "invalid etcd config: invalid character '}' looking for beginning of object key string"),
        (#"{"ttl": 30} x"#, "invalid etcd config: invalid character 'x' after top-level value"),
        (#"{'ttl': 30}"#, #"invalid etcd config: invalid character '\'' looking for beginning of object key string"#),
        (#"{"ttl": 030}"#, "invalid etcd config: invalid character '3' after object key:value pair"),
        (#"{"ttl": tru}"#, "invalid etcd config: invalid character '}' in literal true (expecting 'e')"),
        ("[1]", "invalid etcd config: json: cannot unmarshal array into Go value of type server.Config"),
        (#""x""#, "invalid etcd config: json: cannot unmarshal string into Go value of type server.Config"),
        (#"{"ttl": "30"}"#, "invalid etcd config: json: cannot unmarshal string into Go struct field Config.ttl of type uint32"),
        (#"{"ttl": 1.5}"#, "invalid etcd config: json: cannot unmarshal number 1.5 into Go struct field Config.ttl of type uint32"),
        (#"{"ttl": 1e3}"#, "invalid etcd config: json: cannot unmarshal number 1e3 into Go struct field Config.ttl of type uint32"),
        (#"{"ttl": -1}"#, "invalid etcd config: json: cannot unmarshal number -1 into Go struct field Config.ttl of type uint32"),
        (#"{"ttl": 4294967296}"#, "invalid etcd config: json: cannot unmarshal number 4294967296 into Go struct field Config.ttl of type uint32"),
        (#"{"priority": 65536}"#, "invalid etcd config: json: cannot unmarshal number 65536 into Go struct field Config.priority of type uint16"),
        (#"{"no_rec": "true"}"#, "invalid etcd config: json: cannot unmarshal string into Go struct field Config.no_rec of type bool"),
        (#"{"round_robin": 1}"#, "invalid etcd config: json: cannot unmarshal number 1 into Go struct field Config.round_robin of type bool"),
        (#"{"domain": 5}"#, "invalid etcd config: json: cannot unmarshal number 5 into Go struct field Config.domain of type string"),
        (#"{"nameservers": "8.8.8.8:53"}"#, "invalid etcd config: json: cannot unmarshal string into Go struct field Config.nameservers of type []string"),
        (#"{"nameservers": [53]}"#, "invalid etcd config: json: cannot unmarshal number 53 into Go struct field Config.nameservers of type string"),
        (#"{"read_timeout": 2.5}"#, "invalid etcd config: json: cannot unmarshal number 2.5 into Go struct field Config.read_timeout of type time.Duration"),
    ])
    func malformed(json: String, message: String) {
        #expect(mergeError(json) == message)
    }

    @Test("values are checked like the flags", arguments: [
        (#"{"dns_addr": "53"}"#, #"invalid value "53" for etcd config field dns_addr: address 53: missing port in address"#),
        (#"{"domain": "a..b"}"#, #"invalid value "a..b" for etcd config field domain: empty label in domain"#),
        (#"{"nameservers": ["8.8.8.8"]}"#, #"invalid value "8.8.8.8" for etcd config field nameservers: address 8.8.8.8: missing port in address"#),
        (#"{"ndot": -1}"#, #"invalid value "-1" for etcd config field ndot: must not be negative"#),
        (#"{"rcache": -1}"#, #"invalid value "-1" for etcd config field rcache: must not be negative"#),
        (#"{"scache": -1}"#, #"invalid value "-1" for etcd config field scache: must not be negative"#),
        (#"{"read_timeout": -5}"#, #"invalid value "-5" for etcd config field read_timeout: must be positive"#),
        (#"{"read_timeout": "soon"}"#, #"invalid value "soon" for etcd config field read_timeout: parse error"#),
    ])
    func invalidValues(json: String, message: String) {
        #expect(mergeError(json) == message)
    }

    @Test("a failure part-way leaves everything unchanged")
    func atomic() throws {
        let base = try configuration(["-ttl=99"])
        #expect(mergeError(#"{"ttl": 5, "domain": "a..b"}"#, over: base) != nil)
    }
}

@Suite("etcd config key, field by field")
struct EtcdConfigApplyTests {
    private func apply(_ json: String, over base: SkyDNSConfiguration) throws -> (SkyDNSConfiguration, [String]) {
        var config = base
        let notes = try config.applyEtcdConfig(Array(json.utf8))
        return (config, notes)
    }

    @Test("valid fields apply, silently")
    func valid() throws {
        let (config, notes) = try apply(#"{"ttl": 45, "min_ttl": 20, "nameservers": ["127.0.0.1:53"]}"#,
                                        over: configuration([]))
        #expect(config.ttl == 45 && config.minTTL == 20 && config.nameservers == ["127.0.0.1:53"])
        #expect(notes == [])
    }

    @Test("the key's values win over the flags', as SkyDNS unmarshalled the key over them")
    func keyWins() throws {
        let (config, _) = try apply(#"{"ttl": 45, "no_rec": false, "domain": "b.c"}"#,
                                    over: configuration(["-ttl=99", "-no-rec", "-domain=a.b"]))
        #expect(config.ttl == 45 && !config.noRec && config.domain == "b.c.")
        #expect(config.hostmaster == "hostmaster.b.c.")
    }

    @Test("an invalid field is skipped and named; the others still apply")
    func invalidField() throws {
        let base = try configuration(["-ttl=99", "-domain=a.b"])
        let (config, notes) = try apply(#"{"ttl": "x", "domain": "a..b", "min_ttl": 20, "bogus": 1}"#, over: base)
        #expect(config.ttl == 99 && config.domain == "a.b." && config.minTTL == 20)
        #expect(notes == [
            #"invalid value "a..b" for etcd config field domain: empty label in domain; field domain ignored, keeping the value from the flags"#,
            "invalid etcd config: json: cannot unmarshal string into Go struct field Config.ttl of type uint32; field ttl ignored, keeping the value from the flags",
            #"field "bogus" is not a SkyDNS setting; ignored"#,
        ])
    }

    @Test("zero values are named as unset")
    func zero() throws {
        let (config, notes) = try apply(#"{"ttl": 0, "domain": ""}"#, over: configuration(["-ttl=99"]))
        #expect(config.ttl == 99)
        #expect(notes == [
            #"field domain is "", which SkyDNS treated as unset; keeping the value from the flags"#,
            "field ttl is 0, which SkyDNS treated as unset; keeping the value from the flags",
        ])
    }

    @Test("a value that is not an object applies nothing")
    func notObject() throws {
        var config = try configuration(["-ttl=99"])
        #expect(throws: ConfigurationError.self) { try config.applyEtcdConfig(Array("[1]".utf8)) }
        #expect(throws: ConfigurationError.self) { try config.applyEtcdConfig(Array("{\"ttl\": 1".utf8)) }
        #expect(config.ttl == 99)
    }
}

@Suite("Start-up summary")
struct SummaryTests {
    @Test("defaults on one line")
    func defaults() throws {
        let summary = try configuration([]).summary()
        #expect(!summary.contains("\n"))
        #expect(summary == [
            "addr=127.0.0.1:53", "domain=skydns.local.", "machines=[http://127.0.0.1:2379]", "etcd3=auto",
            "path-prefix=skydns", "nameservers=[]", "no-rec=false", "ndots=2", "rtimeout=2s", "ns-rotate=true",
            "round-robin=true", "rcache=0", "rcache-ttl=60", "stubzones=false", #"local="""#,
            "hostmaster=hostmaster.skydns.local.", #"dnssec="""#, "scache=10000", "ttl=3600", "min-ttl=60",
            "priority=10", #"ca-cert="""#, #"tls-pem="""#, #"tls-key="""#, #"username="""#, #"password="""#,
            "systemd=false", "verbose=false", "version=false", #"metrics-addr="""#, "prometheus-path=/metrics",
            "prometheus-namespace=skydns", "prometheus-subsystem=skydns", "log-format=text",
        ].joined(separator: " "))
    }

    @Test("secrets are masked")
    func secrets() throws {
        let summary = try configuration([
            "-password=hunter2", "-machines=http://root:hunter2@etcd:2379/,https://etcd2:2379", "-etcd3=false",
            "-rtimeout=1m30s",
        ]).summary()
        #expect(!summary.contains("hunter2"))
        #expect(summary.contains("password=***"))
        #expect(summary.contains("machines=[http://***@etcd:2379/,https://etcd2:2379]"))
        #expect(summary.contains("etcd3=false"))
        #expect(summary.contains("rtimeout=1m30s"))
    }
}
