/// One TCP connection, owned by the loop that accepted it.
final class TCPConnection {
    let fd: Int32
    let token: UInt64
    let source: SourceKey
    /// Bytes read but not answered: the start of a message, or whole messages left while the
    /// connection waits for its output to drain.
    var input: [UInt8] = []
    /// Framed replies not yet sent, from `outputSent` on.
    var output: [UInt8] = []
    var outputSent = 0
    /// The last complete query or send progress (monotonic nanoseconds).
    var lastActivity: Int64
    /// When the first byte of an incomplete message arrived.
    var messageStarted: Int64?
    /// Queries on the slow path.
    var outstanding = 0
    /// The client sent end-of-file, or the server is stopping: read nothing more.
    var readClosed = false
    /// The epoll events registered.
    var interest: UInt32 = 0

    init(fd: Int32, token: UInt64, source: SourceKey, now: Int64) {
        self.fd = fd
        self.token = token
        self.source = source
        lastActivity = now
    }

    var pendingOutput: Int { output.count - outputSent }
}
