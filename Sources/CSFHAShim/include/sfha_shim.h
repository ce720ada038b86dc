#ifndef SFHA_SHIM_H
#define SFHA_SHIM_H

#include <spawn.h>
#include <sys/types.h>

/* Linux/glibc calls that need _GNU_SOURCE, which Swift's Glibc module is built without. */

/** posix_spawn_file_actions_addclosefrom_np: close every descriptor >= from in the child. */
int sfha_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from);

/** pidfd_open(2): a descriptor that becomes readable when the process exits. */
int sfha_pidfd_open(pid_t pid);

/** pipe2(2) with O_CLOEXEC. */
int sfha_pipe_cloexec(int fds[2]);

/** 1 when the child has exited (it stays waitable), 0 when it still runs, -1 on error. */
int sfha_child_has_exited(pid_t pid);

/** pthread_setname_np(3) for the calling thread (names of at most 15 bytes). */
int sfha_set_thread_name(const char *name);
/** setns(2) into a network namespace. */
int sfha_setns_network(int fd);

/* ==== control socket (control.c; used by Sources/SFHACore/Control) ==== */

/** Longest Unix socket path (bytes, without the terminating NUL): 107 on Linux. */
int sfha_unix_path_max(void);

/** socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC [| SOCK_NONBLOCK]). */
int sfha_unix_socket(int nonblocking);

/** bind(2) to a filesystem path; -1 with errno ENAMETOOLONG when the path does not fit in sun_path. */
int sfha_unix_bind(int fd, const char *path);

/** connect(2) to a filesystem path (retried on EINTR); -1 with errno (ENOENT, ECONNREFUSED, EAGAIN, ...). */
int sfha_unix_connect(int fd, const char *path);

/** accept4(2) with SOCK_CLOEXEC | SOCK_NONBLOCK. */
int sfha_unix_accept(int fd);

/** SO_PEERCRED: the peer's pid, uid and gid as of connect(2). 0, or -1 with errno. */
int sfha_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid);

/** SO_PEERGROUPS: the peer's supplementary groups. Their count, or -1 with errno (ERANGE: capacity too small). */
int sfha_peer_groups(int fd, gid_t *groups, int capacity);

/** send(2) with MSG_NOSIGNAL: a closed peer gives EPIPE instead of SIGPIPE. */
ssize_t sfha_send_nosignal(int fd, const void *buffer, size_t length);

/* ==== end control socket ==== */

/// Sends one datagram to the AF_UNIX socket at `path` (a leading '@' names an abstract socket, as in
/// $NOTIFY_SOCKET). Returns 0, or -1 with errno set.
int sfha_unix_datagram_send(const char *path, const void *buffer, size_t length);

#endif
