#ifndef SKYDNS_CSYSTEMSHIM_H
#define SKYDNS_CSYSTEMSHIM_H
#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>

// One datagram slot for batched receive/send: recvmmsg and sendmmsg need _GNU_SOURCE, which
// Swift's Glibc module does not define, so the batching lives here.
typedef struct skydns_dgram {
    struct sockaddr_storage peer;
    socklen_t peer_len;
    unsigned char *buf;
    size_t cap;
    size_t len;
} skydns_dgram;

/// Receives up to `count` datagrams; blocks for the first one. Returns the number received, or -1 with errno.
int skydns_recv_batch(int fd, skydns_dgram *slots, unsigned int count);
/// Sends `count` datagrams, each to its `peer`. Returns the number sent, or -1 with errno.
int skydns_send_batch(int fd, skydns_dgram *slots, unsigned int count);
/// Returns freed heap memory to the system (glibc's malloc_trim), e.g. after a large load.
void skydns_release_free_memory(void);

/// CPUs this process may run on (its affinity mask, so `taskset -c 0` counts 1).
int skydns_usable_cpus(void);
#endif
