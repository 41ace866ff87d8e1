import Logging

/// `-log-format text` (the default): swift-log's stream lines on standard error, with every
/// control character of the message and its metadata written as `\xNN` (a newline as `\n`).
/// Log lines quote what comes from outside (etcd keys and values, query names), and a key with a
/// newline must not forge a line of its own, nor an ESC drive the operator's terminal.
public struct TextLogHandler: LogHandler {
    private var stream: StreamLogHandler

    public static func standardError(label: String) -> TextLogHandler {
        TextLogHandler(stream: StreamLogHandler.standardError(label: label))
    }

    init(stream: StreamLogHandler) {
        self.stream = stream
    }

    public var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { stream.metadata }
        set { stream.metadata = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { stream[metadataKey: key] }
        set { stream[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = "\(Self.escaped(event.message.description))"
        event.metadata = event.metadata?.mapValues { .string(Self.escaped($0.description)) }
        stream.log(event: event)
    }

    /// `text` with C0 controls and DEL escaped; everything else (UTF-8 included) as it is.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case _ where isControl(scalar):
                let hex = Array("0123456789abcdef")
                result += "\\x" + String(hex[Int(scalar.value >> 4)]) + String(hex[Int(scalar.value & 0xF)])
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F
    }
}
