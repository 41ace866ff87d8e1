/// A command line, environment or etcd configuration that cannot be used. `description` is the
/// message to print (Go's own wording where Go has one); the caller then exits with status 2,
/// as a Go program using `flag.ExitOnError` does.
public enum ConfigurationError: Error, CustomStringConvertible, Equatable, Sendable {
    /// `bad flag syntax: ---x` (also `-=x`, `--=x`).
    case badFlagSyntax(String)
    /// `flag provided but not defined: -name`
    case flagNotDefined(String)
    /// `flag needs an argument: -name` (a value flag last on the command line).
    case flagNeedsArgument(String)
    /// `invalid value "abc" for flag -ttl: parse error`
    case invalidValue(flag: String, value: String, reason: String)
    /// `invalid boolean value "x" for -etcd3: parse error`
    case invalidBooleanValue(flag: String, value: String, reason: String)
    /// `unexpected argument false`: a positional argument, which SkyDNS ignored. The common
    /// cause is `-etcd3 false`, which Go reads as `-etcd3` followed by the argument `false`.
    case unexpectedArgument(String)
    /// `invalid value "abc" for environment variable SKYDNS_NDOTS: parse error`
    case invalidEnvironment(variable: String, value: String, reason: String)
    /// `invalid etcd config: …` (not JSON, not an object, a field of the wrong type).
    case invalidEtcdConfig(String)
    /// `invalid value "x" for etcd config field dns_addr: …`
    case invalidEtcdConfigValue(field: String, value: String, reason: String)

    public var description: String {
        switch self {
        case .badFlagSyntax(let argument):
            return "bad flag syntax: \(argument)"
        case .flagNotDefined(let name):
            return "flag provided but not defined: -\(name)"
        case .flagNeedsArgument(let name):
            return "flag needs an argument: -\(name)"
        case .invalidValue(let flag, let value, let reason):
            return "invalid value \(GoSyntax.quote(value)) for flag -\(flag): \(reason)"
        case .invalidBooleanValue(let flag, let value, let reason):
            return "invalid boolean value \(GoSyntax.quote(value)) for -\(flag): \(reason)"
        case .unexpectedArgument(let argument):
            return "unexpected argument \(argument)"
        case .invalidEnvironment(let variable, let value, let reason):
            return "invalid value \(GoSyntax.quote(value)) for environment variable \(variable): \(reason)"
        case .invalidEtcdConfig(let reason):
            return "invalid etcd config: \(reason)"
        case .invalidEtcdConfigValue(let field, let value, let reason):
            return "invalid value \(GoSyntax.quote(value)) for etcd config field \(field): \(reason)"
        }
    }
}
