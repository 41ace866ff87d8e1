#define _GNU_SOURCE
#include "CSystemShim.h"
#include <sys/uio.h>
#include <errno.h>
#include <sched.h>
#include <malloc.h>
#include <string.h>
#include <unistd.h>

// Large enough for any batch the server asks for; the kernel caps vlen at UIO_MAXIOV anyway.
#define SKYDNS_MAX_BATCH 64
// Room for one IP_PKTINFO or IPV6_PKTINFO control message (and the other kind, if both come).
#define SKYDNS_CONTROL_SIZE 128

// Where a peer's sockaddr_storage keeps the local address a query reached (see the header).
#define LOCAL_OFFSET 64
enum { LOCAL_NONE = 0, LOCAL_V4 = 4, LOCAL_V6 = 6 };

typedef struct {
    unsigned char kind;
    unsigned char pad[3];
    unsigned int ifindex;
    unsigned char address[16];
} stored_local;

_Static_assert(LOCAL_OFFSET >= sizeof(struct sockaddr_in6), "the local address must lie past any peer address");
_Static_assert(LOCAL_OFFSET + sizeof(stored_local) <= sizeof(struct sockaddr_storage), "it must fit the storage");

static stored_local *local_of(struct sockaddr_storage *peer) {
    return (stored_local *)((unsigned char *)peer + LOCAL_OFFSET);
}

/// Reads the IP_PKTINFO / IPV6_PKTINFO message recvmsg left in `msg` into the peer's storage.
static void keep_local(struct msghdr *msg, struct sockaddr_storage *peer) {
    stored_local *local = local_of(peer);
    local->kind = LOCAL_NONE;
    if (msg->msg_controllen == 0 || (msg->msg_flags & MSG_CTRUNC)) return;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO
            && c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
            struct in_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof(info));
            local->kind = LOCAL_V4;
            // The interface is left to routing: only the source address is pinned.
            local->ifindex = 0;
            memcpy(local->address, &info.ipi_spec_dst, 4);
            return;
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO
            && c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
            struct in6_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof(info));
            local->kind = LOCAL_V6;
            // A link-local source needs its interface.
            local->ifindex = info.ipi6_ifindex;
            memcpy(local->address, &info.ipi6_addr, 16);
            return;
        }
    }
}

/// Writes the control message that makes a reply leave from the stored local address; returns
/// its length (0: none stored, the kernel picks the source).
static size_t put_local(const struct sockaddr_storage *peer, unsigned char *control) {
    const stored_local *local = (const stored_local *)((const unsigned char *)peer + LOCAL_OFFSET);
    struct msghdr msg = { .msg_control = control, .msg_controllen = SKYDNS_CONTROL_SIZE };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (local->kind == LOCAL_V4) {
        struct in_pktinfo info = { 0 };
        memcpy(&info.ipi_spec_dst, local->address, 4);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(info));
        memcpy(CMSG_DATA(c), &info, sizeof(info));
        return CMSG_SPACE(sizeof(info));
    }
    if (local->kind == LOCAL_V6) {
        struct in6_pktinfo info = { 0 };
        memcpy(&info.ipi6_addr, local->address, 16);
        info.ipi6_ifindex = local->ifindex;
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(info));
        memcpy(CMSG_DATA(c), &info, sizeof(info));
        return CMSG_SPACE(sizeof(info));
    }
    return 0;
}

/// Points one mmsghdr at a slot's buffer (`length` bytes) and peer address.
static void describe(struct mmsghdr *msg, struct iovec *iov, skydns_dgram *slot, size_t length, socklen_t peer_len,
                     unsigned char *control, size_t control_len) {
    iov->iov_base = slot->buf;
    iov->iov_len = length;
    msg->msg_hdr.msg_name = &slot->peer;
    msg->msg_hdr.msg_namelen = peer_len;
    msg->msg_hdr.msg_iov = iov;
    msg->msg_hdr.msg_iovlen = 1;
    msg->msg_hdr.msg_control = control_len > 0 ? control : NULL;
    msg->msg_hdr.msg_controllen = control_len;
    msg->msg_hdr.msg_flags = 0;
    msg->msg_len = 0;
}

int skydns_recv_batch(int fd, skydns_dgram *slots, unsigned int count, int wait) {
    struct mmsghdr msgs[SKYDNS_MAX_BATCH];
    struct iovec iov[SKYDNS_MAX_BATCH];
    _Alignas(struct cmsghdr) unsigned char control[SKYDNS_MAX_BATCH][SKYDNS_CONTROL_SIZE];
    if (count > SKYDNS_MAX_BATCH) count = SKYDNS_MAX_BATCH;
    for (unsigned int i = 0; i < count; i++) {
        // The peer's address must be short of LOCAL_OFFSET: sockaddr_in6 is.
        describe(&msgs[i], &iov[i], &slots[i], slots[i].cap, LOCAL_OFFSET, control[i], SKYDNS_CONTROL_SIZE);
    }
    int n = recvmmsg(fd, msgs, count, wait ? MSG_WAITFORONE : MSG_DONTWAIT, NULL);
    for (int i = 0; i < n; i++) {
        slots[i].len = msgs[i].msg_len;
        slots[i].peer_len = msgs[i].msg_hdr.msg_namelen;
        keep_local(&msgs[i].msg_hdr, &slots[i].peer);
    }
    return n;
}

int skydns_send_batch(int fd, skydns_dgram *slots, unsigned int count) {
    struct mmsghdr msgs[SKYDNS_MAX_BATCH];
    struct iovec iov[SKYDNS_MAX_BATCH];
    _Alignas(struct cmsghdr) unsigned char control[SKYDNS_MAX_BATCH][SKYDNS_CONTROL_SIZE];
    if (count > SKYDNS_MAX_BATCH) count = SKYDNS_MAX_BATCH;
    for (unsigned int i = 0; i < count; i++) {
        size_t control_len = put_local(&slots[i].peer, control[i]);
        describe(&msgs[i], &iov[i], &slots[i], slots[i].len, slots[i].peer_len, control[i], control_len);
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

long skydns_send_reply(int fd, const void *buf, size_t len, const struct sockaddr_storage *peer, socklen_t peer_len) {
    _Alignas(struct cmsghdr) unsigned char control[SKYDNS_CONTROL_SIZE];
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    size_t control_len = put_local(peer, control);
    struct msghdr msg = {
        .msg_name = (void *)peer, .msg_namelen = peer_len, .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = control_len > 0 ? control : NULL, .msg_controllen = control_len,
    };
    return sendmsg(fd, &msg, 0);
}

int skydns_receive_local_addresses(int fd, int family) {
    int on = 1;
    if (family == AF_INET6) {
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on)) != 0) return -1;
        // A dual-stack socket gets IPv4 queries too: their IPv4 local address comes as IP_PKTINFO.
        (void)setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
        return 0;
    }
    return setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
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
