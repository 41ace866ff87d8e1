#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSWire

/// What one exchange with one upstream server comes to (see `UpstreamEngine`): a reply is
/// parsed whole before it is accepted, and one that is not a well-formed message is a failure
/// (the next upstream is tried), never relayed.
enum UpstreamExchange {
    enum Failure: Error, Equatable {
        case timeout, network(Int32), malformed
        /// The upstream sent the query back to this server (see `ForwardingLoop`).
        case loop
    }

    /// What one datagram or TCP message from the upstream is: the reply (parsed), a failure, or
    /// nil to ignore it (another ID or question: a spoof or a late reply, RFC 5452 §9.1).
    static func accept(_ bytes: [UInt8], id: UInt16, question: Question) -> Result<Message, Failure>? {
        guard bytes.count >= Header.size, UInt16(bytes[0]) << 8 | UInt16(bytes[1]) == id else { return nil }
        do throws(ForwardedReply.Rejection) {
            return .success(try ForwardedReply.parse(bytes, asking: question))
        } catch .otherQuestion {
            return nil
        } catch {
            return .failure(.malformed)
        }
    }
}

func monotonicNow() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
