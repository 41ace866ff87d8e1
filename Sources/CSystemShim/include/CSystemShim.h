#ifndef SKYDNS_CSYSTEMSHIM_H
#define SKYDNS_CSYSTEMSHIM_H
#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>

// One datagram slot for batched receive/send: recvmmsg and sendmmsg need _GNU_SOURCE, which
// Swift's Glibc module does not define, so the batching lives here.
//
// `peer` holds the client's address and, past it (from byte 64, beyond any sockaddr_in6), the
// local address the query reached, when the socket reports it (IP_PKTINFO / IPV6_PKTINFO, turned
// on by skydns_receive_local_addresses for wildcard binds). Every reply sent to that peer, at once
// or later (forwarded, parked), leaves from that address: a client ignores a reply from any other.
typedef struct skydns_dgram {
    struct sockaddr_storage peer;
    socklen_t peer_len;
    unsigned char *buf;
    size_t cap;
    size_t len;
} skydns_dgram;

/// Receives up to `count` datagrams; with `wait`, blocks for the first one, else returns -1 with
/// errno EAGAIN when none is there. Returns the number received, or -1 with errno.
int skydns_recv_batch(int fd, skydns_dgram *slots, unsigned int count, int wait);
/// Sends `count` datagrams, each to its `peer`, from the local address kept with it. Returns the number sent.
int skydns_send_batch(int fd, skydns_dgram *slots, unsigned int count);
/// Sends one datagram to `peer` (a skydns_dgram's, or a copy of it) from the local address kept
/// with it. Returns sendmsg's result.
long skydns_send_reply(int fd, const void *buf, size_t len, const struct sockaddr_storage *peer, socklen_t peer_len);
/// Asks the kernel to report each datagram's local address (for a socket bound to 0.0.0.0 or ::;
/// a dual-stack socket reports its IPv4 queries' too). Returns 0, or -1 with errno.
int skydns_receive_local_addresses(int fd, int family);
/// Returns freed heap memory to the system (glibc's malloc_trim), e.g. after a large load.
void skydns_release_free_memory(void);

/// CPUs this process may run on (its affinity mask, so `taskset -c 0` counts 1).
int skydns_usable_cpus(void);

// ---- TCP event loops (events.c) ----
#define SKYDNS_MAX_EVENTS 256
#define SKYDNS_EPOLLIN 0x001u
#define SKYDNS_EPOLLOUT 0x004u
#define SKYDNS_EPOLLERR 0x008u
#define SKYDNS_EPOLLHUP 0x010u
#define SKYDNS_EPOLLEXCLUSIVE (1u << 28)

/// One readiness event: the token given at registration and the EPOLL* bits.
typedef struct skydns_event {
    unsigned long long token;
    unsigned int events;
} skydns_event;

int skydns_epoll_create(void);
int skydns_epoll_add(int epfd, int fd, unsigned int events, unsigned long long token);
int skydns_epoll_modify(int epfd, int fd, unsigned int events, unsigned long long token);
int skydns_epoll_remove(int epfd, int fd);
/// Waits up to `timeout_ms` (-1: forever) for at most `count` (capped at SKYDNS_MAX_EVENTS) events.
int skydns_epoll_wait(int epfd, skydns_event *events, int count, int timeout_ms);
/// A non-blocking eventfd, for waking a loop from another thread.
int skydns_eventfd(void);
/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC; fills `peer`.
int skydns_accept(int fd, struct sockaddr_storage *peer, socklen_t *peer_len);
/// Sets (`on` != 0) or clears O_NONBLOCK.
int skydns_set_nonblocking(int fd, int on);
/// An fd kept in reserve, released to accept-and-close one connection when the fd table is full.
int skydns_open_reserve_fd(void);
/// Closes a TCP socket whose peer has stopped taking its data: with a reset (SO_LINGER 0)
/// when bytes still wait in its send queue, so the kernel frees them at once instead of keeping
/// an orphan socket that probes a zero window for minutes (and whose FIN never reaches the peer).
/// A socket with an empty send queue is closed as usual. Returns close's result.
int skydns_close_abandoned(int fd);
#endif
