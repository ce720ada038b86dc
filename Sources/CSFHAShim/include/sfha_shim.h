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

/** setns(2) into a network namespace. */
int sfha_setns_network(int fd);

#endif
