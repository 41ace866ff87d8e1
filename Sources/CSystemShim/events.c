#define _GNU_SOURCE
#include "CSystemShim.h"
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <fcntl.h>
#include <unistd.h>

// epoll_event is packed on x86-64 and holds a union; Swift sees these plain wrappers instead.

int skydns_epoll_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

static int control(int epfd, int op, int fd, unsigned int events, unsigned long long token) {
    struct epoll_event event = { .events = events, .data = { .u64 = token } };
    return epoll_ctl(epfd, op, fd, &event);
}

int skydns_epoll_add(int epfd, int fd, unsigned int events, unsigned long long token) {
    return control(epfd, EPOLL_CTL_ADD, fd, events, token);
}

int skydns_epoll_modify(int epfd, int fd, unsigned int events, unsigned long long token) {
    return control(epfd, EPOLL_CTL_MOD, fd, events, token);
}

int skydns_epoll_remove(int epfd, int fd) {
    struct epoll_event unused = { 0 };
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &unused);
}

int skydns_epoll_wait(int epfd, skydns_event *events, int count, int timeout_ms) {
    struct epoll_event raw[SKYDNS_MAX_EVENTS];
    if (count > SKYDNS_MAX_EVENTS) count = SKYDNS_MAX_EVENTS;
    int n = epoll_wait(epfd, raw, count, timeout_ms);
    for (int i = 0; i < n; i++) {
        events[i].token = raw[i].data.u64;
        events[i].events = raw[i].events;
    }
    return n;
}

int skydns_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

int skydns_accept(int fd, struct sockaddr_storage *peer, socklen_t *peer_len) {
    *peer_len = sizeof(*peer);
    return accept4(fd, (struct sockaddr *)peer, peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int skydns_set_nonblocking(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
}

int skydns_open_reserve_fd(void) {
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int skydns_close_abandoned(int fd) {
    int queued = 0;
    if (ioctl(fd, SIOCOUTQ, &queued) == 0 && queued > 0) {
        struct linger reset = { .l_onoff = 1, .l_linger = 0 };
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    }
    return close(fd);
}
