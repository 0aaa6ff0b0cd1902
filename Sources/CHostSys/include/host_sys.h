// Host-side process and terminal helpers that need fork/prctl/ioctl, which
// Swift cannot call safely or at all (variadic ioctl, code between fork and exec).
#pragma once
#include <stdint.h>
#include <sys/types.h>

/// Forks and execs argv[0] (a path) with envp. The child gets PR_SET_PDEATHSIG(SIGKILL)
/// so it dies with the calling thread (pen's main thread), even when pen is SIGKILLed.
/// stdin_fd/stdout_fd/stderr_fd become 0/1/2; each fd in keep_fds[0..keep_count) is
/// inherited (its close-on-exec flag cleared in the child only). Returns the pid or -1.
/// With uid >= 0 the child first becomes uid:gid with exactly the given supplementary groups
/// (exit status 126 when it cannot). With confine_modes the child runs under a seccomp
/// filter that refuses setuid/setgid mode bits and every mknod but a regular file's (QEMU,
/// whose 9p share would otherwise make the guest's modes and nodes the host's). With exec_fd
/// >= 0 that descriptor is executed (execveat) instead of the path argv[0].
pid_t pen_spawn(const char *const argv[], const char *const envp[],
                int stdin_fd, int stdout_fd, int stderr_fd,
                const int *keep_fds, int keep_count,
                int uid, int gid, const unsigned *groups, int group_count, int confine_modes, int exec_fd);

int pen_get_winsize(int fd, uint16_t *rows, uint16_t *cols);
int pen_errno(void);

/// fallocate(PUNCH_HOLE | KEEP_SIZE): frees the blocks of [offset, offset+length) of a file.
int pen_punch_hole(int fd, long long offset, long long length);
/// FICLONE: `destination` shares `source`'s blocks (btrfs, XFS); -1 with errno where it cannot.
int pen_reflink(int destination, int source);
long long pen_seek_data(int fd, long long offset);
long long pen_seek_hole(int fd, long long offset);

/// Installs handlers for the given signals that write each signal number as one byte to a
/// non-blocking pipe, and returns the pipe's read end (works whatever thread gets the signal).
int pen_signal_pipe(const int *signals, int count);
/// prctl(PR_SET_DUMPABLE, 0): no core dump of this process, and its /proc files (environ,
/// mem) and ptrace closed to other processes of the same user. 0, or -1 + errno.
int pen_set_undumpable(void);
/// Puts the given signals back to their default action and closes the pipe's write end.
int pen_signal_pipe_release(const int *signals, int count);
/// 1 when `signo`'s action is the default one, 0 when it is handled or ignored, -1 on error.
int pen_signal_is_default(int signo);
/// socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC).
int pen_socketpair(int fds[2]);

/// pidfd_open(pid, 0): a descriptor naming this one process (readable once it has exited). -1 + errno on failure.
int pen_pidfd_open(pid_t pid);
/// pidfd_send_signal(pidfd, sig, NULL, 0): signals exactly the process the pidfd names. -1 + errno on failure.
int pen_pidfd_send_signal(int pidfd, int sig);

/// The uid of the process at the other end of a connected Unix socket (SO_PEERCRED); -1 + errno on failure.
long pen_peer_uid(int fd);
/// Forks twice so the grandchild is in a new session, not our child, and never gets our death
/// signal: a daemon. It execs argv[0] with envp, the given fds as 0/1/2 and keep_fds inherited.
/// Returns 0 once the intermediate child has exited, -1 + errno if fork failed.
int pen_spawn_detached(const char *const argv[], const char *const envp[],
                       int stdin_fd, int stdout_fd, int stderr_fd, const int *keep_fds, int keep_count);
/// accept4(fd, NULL, NULL, SOCK_CLOEXEC): the next connection on a listening socket, or -1.
int pen_accept(int fd);
/// pipe2(fds, O_CLOEXEC).
int pen_pipe(int fds[2]);
/// Sends `len` bytes of `buf` on a connected Unix socket with `fd` attached (SCM_RIGHTS), as
/// QMP's getfd expects. Returns the bytes sent or -1 + errno.
long pen_send_with_fd(int socket, const void *buf, unsigned long len, int fd);
