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
                    if evictIdlest(&state, now: now, keepingPlace: false) { continue }
                    acceptWithReserve(on: listenFD, &state)
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

    /// The fd table is full and none of this loop's connections is idle: the pending connection
    /// is accepted with the reserved fd and handed to another loop to take the place of one of
    /// its idle connections, or refused (closed at once) rather than left to spin the loop.
    /// Without a reserve, accepting pauses.
    func acceptWithReserve(on listenFD: Int32, _ state: inout LoopState) {
        let listener = state.listener
        guard reserveFD >= 0 else {
            listener.refusals.warning(listener.context.logger,
                                      "TCP connection refused: no file descriptors left (\(listener.openConnections) connections open)")
            pauseAccepting(now: monotonicNanoseconds())
            // The kernel woke only this loop for the pending connection: another loop, which
            // may still hold its reserve, is asked to take it.
            listener.nudge(after: index)
            return
        }
        Glibc.close(reserveFD)
        var peer = sockaddr_storage()
        var peerLength = socklen_t(0)
        let fd = skydns_accept(listenFD, &peer, &peerLength)
        if fd >= 0 {
            let source = SourceKey(peer)
            if listener.admit(source) {
                let arrival = Arrival(fd: fd, source: source, origin: index, visited: 1, outOfDescriptors: true)
                if !listener.handOver(arrival) { refuse(arrival, listener) }
            } else {
                Glibc.close(fd)
                refusePerSource(peer, listener)
            }
        }
        // Fails until a descriptor is freed: pause until the loop the connection went to gives
        // one back (`restoreReserve`), or take the reserve again when the pause ends.
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
            refusePerSource(peer, listener)
            return
        }
        place(Arrival(fd: fd, source: source, origin: index, visited: 1, outOfDescriptors: false),
              &state, now: now)
    }

    /// Gives an admitted connection a place: below the cap a free one; at the cap (or, for one
    /// accepted with the reserve fd, always) the place of a connection of this loop, taken over
    /// whole so that no other loop can take it first. Each loop in turn looks for an idle one;
    /// when none has one, the loop holding a connection of the address holding the most closes
    /// the least recently active of them, if that address holds more than the new one's, so
    /// that addresses keeping every place busy cannot lock a new one out. One that cannot be
    /// passed on further takes, if it can, a place of its loop's heaviest address; else it is
    /// refused.
    /// True when the connection went on to another loop.
    @discardableResult
    func place(_ arrival: Arrival, _ state: inout LoopState, now: Int64) -> Bool {
        let listener = state.listener
        guard !draining else {
            refuse(arrival, listener)
            return false
        }
        var room = !arrival.outOfDescriptors && listener.reservePlace() || evictIdlest(&state, now: now, keepingPlace: true)
            || arrival.visited > listener.loopCount && evictFromHeavierSource(than: arrival.source, &state)
        if !room {
            if listener.handOver(arrival) { return true }
            // Not passed on: every loop has had it, or every hand-over place is taken. A flood
            // from one address does both: it keeps those places taken, and its connections on
            // their way make it the heaviest address with none in any loop to close. A
            // connection of this loop's heaviest address is then the last chance; without it
            // such a flood locked every new address out.
            room = evictFromHeavierSource(than: arrival.source, &state, heaviestOfAll: false)
        }
        guard room else {
            refuse(arrival, listener)
            return false
        }
        if arrival.outOfDescriptors { listener.returnReserve(to: arrival.origin) }
        guard let slot = freeSlots.popLast() else {
            listener.release(arrival.source)
            Glibc.close(arrival.fd)
            return false
        }
        // 31 bits of generation: connection tokens stay below the loop's own (near UInt64.max).
        generation = (generation &+ 1) & 0x7FFF_FFFF
        let token = generation << 32 | UInt64(slot)
        let connection = TCPConnection(fd: arrival.fd, token: token, source: arrival.source, now: now)
        connections[slot] = connection
        connection.interest = SKYDNS_EPOLLIN
        if !poller.add(arrival.fd, interest: SKYDNS_EPOLLIN, token: token) { close(connection, &state) }
        return false
    }

    /// Closes a connection no loop had room for, with one (rate-limited) log line.
    func refuse(_ arrival: Arrival, _ listener: TCPListener) {
        listener.forget(arrival.source)
        Glibc.close(arrival.fd)
        if arrival.outOfDescriptors && arrival.origin != index { listener.returnReserve(to: arrival.origin) }
        let reason = arrival.outOfDescriptors
            ? "no file descriptors left (\(listener.openConnections) connections open)"
            : "\(listener.limits.maxConnections) connections open, none idle"
        listener.refusals.warning(listener.context.logger, "TCP connection refused: \(reason)")
    }

    func refusePerSource(_ peer: sockaddr_storage, _ listener: TCPListener) {
        listener.refusals.warning(listener.context.logger,
                                  "TCP connection from \(addressText(peer)) refused: \(listener.limits.maxPerSource) connections from that address already")
    }

    /// Places the connections other loops handed over.
    func placeArrivals(_ state: inout LoopState, now: Int64) {
        let handed = arrivals.withLock { list in
            defer { list.removeAll(keepingCapacity: true) }
            return list
        }
        for arrival in handed where !place(arrival, &state, now: now) { state.listener.landed(arrival) }
    }

    /// Takes the reserve fd another loop opened for this one; accepting, paused for the want of
    /// it, resumes at once, so that a backlog is refused as fast as the loops can pass it on.
    func restoreReserve() {
        let returned = returnedReserve.exchange(-1, ordering: .acquiringAndReleasing)
        guard returned >= 0 else { return }
        guard reserveFD < 0 else {
            Glibc.close(returned)
            return
        }
        reserveFD = returned
        if acceptPausedUntil != nil && !draining {
            acceptPausedUntil = nil
            setListening(true)
        }
    }

    /// At the cap, or out of file descriptors: closes this loop's idlest connection, if one has
    /// been idle long enough and has nothing in flight. True when one was closed. Its replies
    /// still unread in the kernel are dropped with a reset, as for an idle timeout: a FIN behind
    /// them would never reach a client that does not read, and the kernel would keep them.
    /// - Parameter keepingPlace: its place among `maxConnections` stays taken, for the caller.
    func evictIdlest(_ state: inout LoopState, now: Int64, keepingPlace: Bool) -> Bool {
        var idlest: TCPConnection?
        for case let connection? in connections
        where connection.outstanding == 0 && connection.pendingOutput == 0
            && now - connection.lastActivity >= state.listener.limits.evictableIdle {
            if let current = idlest, current.lastActivity <= connection.lastActivity { continue }
            idlest = connection
        }
        guard let idlest else { return false }
        close(idlest, &state, abandoned: true, keepingPlace: keepingPlace)
        return true
    }

    /// At the cap with no connection idle: closes the least recently active connection of this
    /// loop whose address holds the most connections of all addresses (`heaviestOfAll`, else of
    /// this loop's), if that is more than `source` holds (the new one counted), whatever it has
    /// in flight. True when one was closed; its place passes to the caller. A loop without a
    /// connection of the heaviest of all closes none, and the next loop tries: the heaviest of
    /// this loop's own addresses may hold only a few, and it lost them one by one while another
    /// loop held dozens of the heaviest's.
    func evictFromHeavierSource(than source: SourceKey, _ state: inout LoopState, heaviestOfAll: Bool = true) -> Bool {
        let candidates = connections.map { $0.map { ($0.source, $0.lastActivity) } }
        let chosen: Int? = state.listener.withSourceCounts { counts in
            let floor = counts[source, default: 0]
            let least = heaviestOfAll ? counts.values.max() ?? 0 : 0
            var chosen: (slot: Int, held: Int, lastActivity: Int64)?
            for (slot, candidate) in candidates.enumerated() {
                guard let (owner, lastActivity) = candidate else { continue }
                let held = counts[owner, default: 0]
                guard held > floor, held >= least else { continue }
                if let current = chosen,
                   held < current.held || held == current.held && lastActivity >= current.lastActivity { continue }
                chosen = (slot, held, lastActivity)
            }
            return chosen?.slot
        }
        guard let chosen, let victim = connections[chosen] else { return false }
        close(victim, &state, abandoned: true, keepingPlace: true)
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
        // A reserve lost to a race for the last descriptor is taken again once one is free, not
        // only after a pause: without it the loop cannot refuse when descriptors run out again.
        if reserveFD < 0 && hasReserve { reserveFD = skydns_open_reserve_fd() }
        if let until = acceptPausedUntil, now >= until, !draining {
            acceptPausedUntil = nil
            if reserveFD < 0 { reserveFD = skydns_open_reserve_fd() }
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
