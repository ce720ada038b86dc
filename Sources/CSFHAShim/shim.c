#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sfha_shim.h"

int sfha_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int sfha_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int sfha_set_thread_name(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}

int sfha_setns_network(int fd) {
    return setns(fd, CLONE_NEWNET);
}

int sfha_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int sfha_child_has_exited(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return -1;
    return info.si_pid == pid ? 1 : 0;
}
