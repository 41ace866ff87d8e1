#define _GNU_SOURCE
#include "CSystemShim.h"
#include <sys/uio.h>
#include <errno.h>
#include <sched.h>
#include <malloc.h>
#include <unistd.h>

// Large enough for any batch the server asks for; the kernel caps vlen at UIO_MAXIOV anyway.
#define SKYDNS_MAX_BATCH 64

/// Points one mmsghdr at a slot's buffer (`length` bytes) and peer address.
static void describe(struct mmsghdr *msg, struct iovec *iov, skydns_dgram *slot, size_t length, socklen_t peer_len) {
    iov->iov_base = slot->buf;
    iov->iov_len = length;
    msg->msg_hdr.msg_name = &slot->peer;
    msg->msg_hdr.msg_namelen = peer_len;
    msg->msg_hdr.msg_iov = iov;
    msg->msg_hdr.msg_iovlen = 1;
    msg->msg_hdr.msg_control = NULL;
    msg->msg_hdr.msg_controllen = 0;
    msg->msg_hdr.msg_flags = 0;
    msg->msg_len = 0;
}

int skydns_recv_batch(int fd, skydns_dgram *slots, unsigned int count) {
    struct mmsghdr msgs[SKYDNS_MAX_BATCH];
    struct iovec iov[SKYDNS_MAX_BATCH];
    if (count > SKYDNS_MAX_BATCH) count = SKYDNS_MAX_BATCH;
    for (unsigned int i = 0; i < count; i++) {
        describe(&msgs[i], &iov[i], &slots[i], slots[i].cap, sizeof(slots[i].peer));
    }
    int n = recvmmsg(fd, msgs, count, MSG_WAITFORONE, NULL);
    for (int i = 0; i < n; i++) {
        slots[i].len = msgs[i].msg_len;
        slots[i].peer_len = msgs[i].msg_hdr.msg_namelen;
    }
    return n;
}

int skydns_send_batch(int fd, skydns_dgram *slots, unsigned int count) {
    struct mmsghdr msgs[SKYDNS_MAX_BATCH];
    struct iovec iov[SKYDNS_MAX_BATCH];
    if (count > SKYDNS_MAX_BATCH) count = SKYDNS_MAX_BATCH;
    for (unsigned int i = 0; i < count; i++) {
        describe(&msgs[i], &iov[i], &slots[i], slots[i].len, slots[i].peer_len);
    }
    unsigned int sent = 0;
    while (sent < count) {
        int n = sendmmsg(fd, msgs + sent, count - sent, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            // Skip the datagram that failed (e.g. an unreachable peer) so the rest still go out.
            sent++;
            continue;
        }
        sent += (unsigned int)n;
    }
    return (int)sent;
}

int skydns_usable_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int count = CPU_COUNT(&set);
        if (count > 0) return count;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

void skydns_release_free_memory(void) {
    malloc_trim(0);
}
