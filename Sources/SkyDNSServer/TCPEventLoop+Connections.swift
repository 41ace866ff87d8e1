#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemShim
import DNSWire
import Synchronization
import SkyDNSStore

/// Accepting, idle timeouts and shutdown: a connection's life around its queries.
extension TCPEventLoop {
    // MARK: accepting

    func setListening(_ on: Bool) {
        guard on != listening else { return }
        for (index, fd) in listenFDs.enumerated() {
            if on {
                _ = poller.add(fd, interest: SKYDNS_EPOLLIN | SKYDNS_EPOLLEXCLUSIVE, token: Self.listenerTokens - UInt64(index))
            } else {
                poller.remove(fd)
            }
        }
        listening = on
    }

    func acceptReady(on listenFD: Int32, _ state: inout LoopState, now: Int64) {
        let listener = state.listener
        for _ in 0..<Self.acceptsPerEvent {
            if listener.stopping.load(ordering: .acquiring) {
                setListening(false)
                return
            }
            var peer = sockaddr_storage()
            var peerLength = socklen_t(0)
            let fd = skydns_accept(listenFD, &peer, &peerLength)
            guard fd >= 0 else {
                let error = errno
                switch error {
                case EAGAIN, EWOULDBLOCK:
                    return
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                case EMFILE, ENFILE:
                    // An idle connection's descriptor is worth less than a new client's.
                    if evictIdlest(&state, now: now) { continue }
                    refuseWithReserve(on: listenFD, listener)
                    return
                default:
                    // ENOBUFS, ENOMEM, ...: stop accepting for a moment rather than spin.
                    listener.refusals.warning(listener.context.logger,
                                              "TCP accept failed: \(String(cString: strerror(error))); pausing accepts for 100 ms")
                    pauseAccepting(now: now)
                    return
                }
            }
            admit(fd, peer: peer, &state, now: now)
        }
    }

    /// The fd table is full: the pending connection is accepted with the reserved fd and closed at
    /// once, so that it is refused instead of spinning the loop; without a reserve, accepting
    /// pauses.
    func refuseWithReserve(on listenFD: Int32, _ listener: TCPListener) {
        listener.refusals.warning(listener.context.logger,
                                  "TCP connection refused: no file descriptors left (\(listener.openConnections) connections open)")
        guard reserveFD >= 0 else {
            pauseAccepting(now: monotonicNanoseconds())
            return
        }
        Glibc.close(reserveFD)
        var peer = sockaddr_storage()
        var peerLength = socklen_t(0)
        let fd = skydns_accept(listenFD, &peer, &peerLength)
        if fd >= 0 { Glibc.close(fd) }
        reserveFD = skydns_open_reserve_fd()
        if fd < 0 || reserveFD < 0 { pauseAccepting(now: monotonicNanoseconds()) }
    }

    func pauseAccepting(now: Int64) {
        setListening(false)
        acceptPausedUntil = now + 100_000_000
    }

    func admit(_ fd: Int32, peer: sockaddr_storage, _ state: inout LoopState, now: Int64) {
        let listener = state.listener
        let source = SourceKey(peer)
        guard listener.admit(source) else {
            Glibc.close(fd)
            listener.refusals.warning(listener.context.logger,
                                      "TCP connection from \(peerText(peer)) refused: \(listener.limits.maxPerSource) connections from that address already")
            return
        }
        if listener.atCapacity { evictIdlest(&state, now: now) }
        guard listener.reservePlace() else {
            listener.forget(source)
            Glibc.close(fd)
            listener.refusals.warning(listener.context.logger,
                                      "TCP connection refused: \(listener.limits.maxConnections) connections open, none idle")
            return
        }
        guard let slot = freeSlots.popLast() else {
            listener.release(source)
            Glibc.close(fd)
            return
        }
        // 31 bits of generation: connection tokens stay below the loop's own (near UInt64.max).
        generation = (generation &+ 1) & 0x7FFF_FFFF
        let token = generation << 32 | UInt64(slot)
        let connection = TCPConnection(fd: fd, token: token, source: source, now: now)
        connections[slot] = connection
        connection.interest = SKYDNS_EPOLLIN
        guard poller.add(fd, interest: SKYDNS_EPOLLIN, token: token) else {
            close(connection, &state)
            return
        }
    }

    /// At the cap, or out of file descriptors: closes this loop's idlest connection, if one has
    /// been idle long enough and has nothing in flight. True when one was closed.
    @discardableResult
    func evictIdlest(_ state: inout LoopState, now: Int64) -> Bool {
        var idlest: TCPConnection?
        for case let connection? in connections
        where connection.outstanding == 0 && connection.pendingOutput == 0
            && now - connection.lastActivity >= state.listener.limits.evictableIdle {
            if let current = idlest, current.lastActivity <= connection.lastActivity { continue }
            idlest = connection
        }
        guard let idlest else { return false }
        close(idlest, &state)
        return true
    }

    // MARK: timeouts and shutdown

    /// Closes connections that are idle, trickle a message, or cannot be written to; resumes
    /// reading on connections paused by others' buffered replies, and accepting after a pause.
    func sweep(_ state: inout LoopState, now: Int64) {
        let limits = state.listener.limits
        let idle = state.listener.underPressure ? limits.pressureIdleTimeout : limits.idleTimeout
        for case let connection? in connections where connection.outstanding == 0 {
            let expired: Bool
            if let started = connection.messageStarted, now - started > limits.idleTimeout {
                expired = true
            } else if connection.pendingOutput > 0 {
                expired = now - connection.lastActivity > limits.idleTimeout
            } else {
                expired = now - connection.lastActivity > idle
            }
            if expired {
                close(connection, &state, abandoned: true)
            } else if connection.interest & SKYDNS_EPOLLIN == 0 && !connection.readClosed && !isPaused(connection, state) {
                answerBuffered(connection, &state, now: now)
                noteIncomplete(connection, now: now)
                settle(connection, &state)
            }
        }
        if let until = acceptPausedUntil, now >= until, !draining {
            acceptPausedUntil = nil
            setListening(true)
        }
    }

    /// Stop: no more accepting; each connection answers what it has already received, then
    /// closes once its replies are out.
    func beginDrain(_ state: inout LoopState, now: Int64) {
        draining = true
        setListening(false)
        for case let connection? in connections {
            readable(connection, &state, now: now)
            guard connections[slot(of: connection.token)] === connection else { continue }
            connection.readClosed = true
            settle(connection, &state)
        }
    }
}
