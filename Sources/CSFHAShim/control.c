/* Unix-socket helpers for the sfhad control API (Sources/SFHACore/Control). They need _GNU_SOURCE (struct ucred,
 * accept4, SOCK_CLOEXEC) or are plain awkward from Swift (struct sockaddr_un). */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sfha_shim.h"

int sfha_unix_path_max(void) {
    struct sockaddr_un address;
    return (int)sizeof(address.sun_path) - 1;
}

int sfha_unix_socket(int nonblocking) {
    return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
}

static int sfha_fill_address(struct sockaddr_un *address, const char *path) {
    size_t length = strlen(path);
    if (length == 0 || length >= sizeof(address->sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memset(address, 0, sizeof(*address));
    address->sun_family = AF_UNIX;
    memcpy(address->sun_path, path, length + 1);
    return 0;
}

int sfha_unix_bind(int fd, const char *path) {
    struct sockaddr_un address;
    if (sfha_fill_address(&address, path) != 0) return -1;
    return bind(fd, (struct sockaddr *)&address, (socklen_t)sizeof(address));
}

int sfha_unix_connect(int fd, const char *path) {
    struct sockaddr_un address;
    if (sfha_fill_address(&address, path) != 0) return -1;
    int result;
    do {
        result = connect(fd, (struct sockaddr *)&address, (socklen_t)sizeof(address));
    } while (result != 0 && errno == EINTR);
    return result;
}

int sfha_unix_accept(int fd) {
    return accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
}

int sfha_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid) {
    struct ucred credentials;
    socklen_t length = sizeof(credentials);
    memset(&credentials, 0, sizeof(credentials));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    if (length != sizeof(credentials)) {
        errno = EINVAL;
        return -1;
    }
    *pid = credentials.pid;
    *uid = credentials.uid;
    *gid = credentials.gid;
    return 0;
}

int sfha_peer_groups(int fd, gid_t *groups, int capacity) {
#ifdef SO_PEERGROUPS
    if (capacity < 0) {
        errno = EINVAL;
        return -1;
    }
    socklen_t length = (socklen_t)((size_t)capacity * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &length) != 0) return -1;
    return (int)(length / sizeof(gid_t));
#else
    (void)fd;
    (void)groups;
    (void)capacity;
    errno = ENOPROTOOPT;
    return -1;
#endif
}

ssize_t sfha_send_nosignal(int fd, const void *buffer, size_t length) {
    return send(fd, buffer, length, MSG_NOSIGNAL);
}

int sfha_unix_datagram_send(const char *path, const void *buffer, size_t length) {
    struct sockaddr_un address;
    size_t path_length = strlen(path);
    if (path_length == 0 || path_length >= sizeof(address.sun_path)) {
        errno = EINVAL;
        return -1;
    }
    memset(&address, 0, sizeof(address));
    address.sun_family = AF_UNIX;
    memcpy(address.sun_path, path, path_length);
    if (path[0] == '@') address.sun_path[0] = '\0';  /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    socklen_t size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_length);
    ssize_t sent = sendto(fd, buffer, length, MSG_NOSIGNAL, (struct sockaddr *)&address, size);
    int saved = errno;
    close(fd);
    errno = saved;
    return sent == (ssize_t)length ? 0 : -1;
}
