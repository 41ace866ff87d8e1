#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import SkyDNSConfig
import SkyDNSOperator
import SkyDNSServer

let version = skydnsVersion

func printError(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { _ = write(2, $0.baseAddress, $0.count) }
}

func fail(_ message: String) -> Never {
    printError("\(message)\n")
    exit(2)
}

let environment: [String: String] = {
    var variables: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
        let text = String(cString: entry)
        if let equals = text.firstIndex(of: "=") {
            variables[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        pointer += 1
    }
    return variables
}()

var configuration: SkyDNSConfiguration
do {
    switch try CommandLineParser.parse(Array(CommandLine.arguments.dropFirst()), environment: environment) {
    case .help(let usage):
        printError(usage)
        exit(0)
    case .run(let parsed):
        configuration = parsed
    }
} catch {
    fail("\(error)\n\(CommandLineParser.usage())")
}

if configuration.version {
    print("skydns (swift-skydns) \(version)")
    exit(0)
}

let preflightProblems = configuration.preflight()
if !preflightProblems.isEmpty {
    fail(preflightProblems.map(\.description).joined(separator: "\n"))
}

// SIGTERM, SIGINT and SIGHUP are blocked before any thread starts (threads inherit the mask)
// and taken one at a time by sigwait at the bottom, so no handler runs on a query thread.
// (swift-service-lifecycle would bring an async runtime and signal sources to a server of plain
// threads and epoll for the same few lines; the order it would give is `shutDown`'s below.)
var handledSignals = sigset_t()
sigemptyset(&handledSignals)
for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&handledSignals, signal) }
pthread_sigmask(SIG_BLOCK, &handledSignals, nil)

let logFormat = configuration.logFormat
LoggingSystem.bootstrap { label in
    if logFormat == "json" {
        var handler = JSONLogHandler.standardError(label: label)
        handler.logLevel = .info
        return handler
    }
    var handler = TextLogHandler.standardError(label: label)
    handler.logLevel = .info
    return handler
}
let logger = Logger(label: "skydns")
logger.info("swift-skydns \(version) starting: \(configuration.summary())")
configuration = DNSServer.applyingEtcdConfigKey(to: configuration, logger: logger)
for flag in configuration.notYetSupported {
    logger.warning("flag -\(flag) is accepted for SkyDNS compatibility but not supported yet; ignoring it")
}

// A peer that closes a TCP connection mid-answer must not kill the server.
signal(SIGPIPE, SIG_IGN)

let service: DNSServer
var operatorHTTP: OperatorHTTPServer?
do {
    service = try DNSServer(configuration: configuration, logger: logger)
    if !configuration.metricsAddr.isEmpty {
        let http = try OperatorHTTPServer(address: configuration.metricsAddr, metricsPath: configuration.prometheusPath,
                                          metrics: service.metrics, readiness: { [service] in service.readiness() },
                                          logger: logger)
        try http.start()
        operatorHTTP = http
        logger.info("metrics on http://\(configuration.metricsAddr)\(configuration.prometheusPath), probes /healthz and /readyz")
    }
    try service.start()
} catch {
    // A listen address in use or not ours, like a bad flag, is a setting to fix.
    logger.critical("cannot start: \(error)")
    exit(2)
}

/// The whole shutdown order, on SIGTERM or SIGINT; nothing else stops anything.
/// 1. `/readyz` answers 503 "shutting down", so probes take this instance out of rotation;
/// 2. TCP stops accepting, and what the open connections already sent is answered (2 s at most);
/// 3. the etcd watch stops, so the data no longer changes under the last answers;
/// 4. the operator endpoint closes (it answered the probes through the drain);
/// 5. the process exits; UDP answers up to this moment (each datagram stands alone: nothing to drain).
@MainActor func shutDown(on signal: Int32) -> Never {
    logger.info("received \(signal == SIGTERM ? "SIGTERM" : "SIGINT"): draining")
    service.stopBeingReady()
    service.drainTCP(within: .seconds(2))
    service.stopWatchingEtcd()
    operatorHTTP?.stop()
    logger.info("stopped")
    exit(0)
}

while true {
    var received: Int32 = 0
    guard sigwait(&handledSignals, &received) == 0 else { continue }
    switch received {
    case SIGHUP:
        service.reload()
    default:
        shutDown(on: received)
    }
}
