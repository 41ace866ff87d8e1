import Testing
@testable import SkyDNSConfig

/// Parses and expects a configuration (not help, not an error).
func configuration(
    _ arguments: [String], environment: [String: String] = [:],
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> SkyDNSConfiguration {
    let outcome = try CommandLineParser.parse(arguments, environment: environment)
    guard case .run(let config) = outcome else {
        Issue.record("expected .run for \(arguments), got help", sourceLocation: sourceLocation)
        return SkyDNSConfiguration()
    }
    return config
}

/// Parses and returns the error's message, or nil when parsing succeeded.
func parseError(_ arguments: [String], environment: [String: String] = [:]) -> String? {
    do {
        _ = try CommandLineParser.parse(arguments, environment: environment)
        return nil
    } catch let error as ConfigurationError {
        return error.description
    } catch {
        return "unexpected error type: \(error)"
    }
}

/// Merges `json` over `base` and returns the error's message, or nil.
func mergeError(_ json: String, over base: SkyDNSConfiguration = SkyDNSConfiguration()) -> String? {
    var config = base
    do {
        try config.merge(etcdConfigJSON: Array(json.utf8))
        return nil
    } catch let error as ConfigurationError {
        #expect(config == base, "a failed merge must leave the configuration unchanged")
        return error.description
    } catch {
        return "unexpected error type: \(error)"
    }
}

func merged(_ json: String, over base: SkyDNSConfiguration = SkyDNSConfiguration()) throws -> SkyDNSConfiguration {
    var config = base
    try config.merge(etcdConfigJSON: Array(json.utf8))
    return config
}
