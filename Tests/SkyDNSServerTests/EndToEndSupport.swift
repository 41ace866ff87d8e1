import DNSWire
import Foundation
import Logging
import SkyDNSConfig
import SkyDNSServer
import SkyDNSTestSupport
import Testing

// The record-semantics table's servers: one real etcd holding the table's records
// (SemanticsFixture.swift in SkyDNSTestSupport) and a real server per `ServerName` on free
// loopback ports, started once for the whole run.

/// One in-process server on a free loopback port.
struct RunningServer: Sendable {
    let service: DNSServer
    let port: UInt16

    /// Starts a server with `settings` against `etcd` (v3 API, `-no-rec`, one UDP worker) and
    /// waits until it has read etcd (its apex SOA stops being REFUSED).
    static func start(_ settings: ServerSettings, etcd: EtcdTestServer) throws -> RunningServer {
        var lastError: Error?
        for _ in 0..<5 {
            var configuration = SkyDNSConfiguration()
            let port = try freeLoopbackPort()
            configuration.addr = "127.0.0.1:\(port)"
            configuration.domain = settings.domain
            configuration.ttl = settings.ttl
            configuration.minTTL = settings.minTTL
            configuration.local = settings.local ?? ""
            configuration.roundRobin = settings.roundRobin
            configuration.machines = [etcd.endpoint]
            configuration.etcd3 = true
            configuration.noRec = true
            configuration.hostmaster = ""
            var logger = Logger(label: "skydns-semantics \(settings.domain)")
            logger.logLevel = .error
            let service: DNSServer
            do {
                service = try DNSServer(configuration: configuration, logger: logger, udpWorkers: 1)
                try service.start()
            } catch {
                // The UDP side of a port found free for TCP may be taken: pick another port.
                lastError = error
                continue
            }
            let ready = waitUntil(timeout: .seconds(15)) {
                (try? query(settings.domain, .soa, port: port, timeout: .milliseconds(500)))?
                    .message.header.responseCode == .noError
            }
            guard ready else {
                throw SupportError.notReady("server for \(settings.domain) on port \(port) did not answer its apex SOA")
            }
            return RunningServer(service: service, port: port)
        }
        throw lastError ?? SupportError.notReady("could not start a server for \(settings.domain)")
    }
}

/// etcd with the table's records and both servers.
final class World: Sendable {
    let etcd: EtcdTestServer
    let main: RunningServer
    let other: RunningServer

    init() throws {
        etcd = try EtcdTestServer()
        try etcd.v3PutAll(seedRecords)
        main = try RunningServer.start(ServerName.main.settings, etcd: etcd)
        other = try RunningServer.start(ServerName.other.settings, etcd: etcd)
    }

    func port(_ server: ServerName) -> UInt16 {
        switch server {
        case .main: main.port
        case .other: other.port
        }
    }
}

private let sharedWorld = Task<World, any Error> { try World() }

/// The suite's etcd and servers, started on first use.
func world() async throws -> World { try await sharedWorld.value }
