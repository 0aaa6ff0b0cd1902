#define _GNU_SOURCE
#include "host_sys.h"
#include <grp.h>
#include <sys/syscall.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <sys/resource.h>
#include <linux/close_range.h>
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

// The last steps of every child pen starts: no blocked signals (and, for a daemon, every
// disposition back to its default), the three standard descriptors, the kept ones inherited,
// exec. Async-signal-safe calls only.
static void exec_child(const char *const argv[], const char *const envp[], int stdin_fd, int stdout_fd,
                       int stderr_fd, const int *keep_fds, int keep_count, int reset_dispositions, int exec_fd) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (reset_dispositions)
        for (int s = 1; s < 32; s++) signal(s, SIG_DFL);
    if (dup2(stdin_fd, 0) < 0 || dup2(stdout_fd, 1) < 0 || dup2(stderr_fd, 2) < 0) _exit(127);
    // Nothing pen itself inherited, nor any other descriptor it holds, reaches the child: every
    // descriptor above 2 closes on exec, then the kept ones are let through by name.
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        struct rlimit limit;  // a kernel before 5.11: every descriptor the process may have
        rlim_t top = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY ? limit.rlim_cur : 1 << 20;
        for (rlim_t fd = 3; fd < top; fd++) fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    }
    for (int i = 0; i < keep_count; i++) {
        int flags = fcntl(keep_fds[i], F_GETFD);
        if (flags < 0 || fcntl(keep_fds[i], F_SETFD, flags & ~FD_CLOEXEC) < 0) _exit(127);
    }
    // An executable pen opened itself (QEMU's execute-only copy) runs through its descriptor:
    // no path the new uid would have to reach. (Close-on-exec is fine for an ELF executable.)
    if (exec_fd >= 0)
        syscall(SYS_execveat, exec_fd, "", (char *const *)argv, (char *const *)envp, AT_EMPTY_PATH);
    else
        execve(argv[0], (char *const *)argv, (char *const *)envp);
    _exit(127);
}

#include <stddef.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/stat.h>

// QEMU's 9p share with security_model=none makes the guest's chmod, open(O_CREAT) and mknod
// the host's. This seccomp filter, installed in QEMU before it starts, refuses (EPERM) the
// setuid and setgid bits in any mode QEMU passes, and every mknod but a regular file's (device
// nodes, FIFOs and sockets); the guest sees its call fail and the host's files stay plain.
// x86_64 only (pen's only host architecture); other ABIs (i386, x32) are refused outright.
static int confine_file_modes(void) {
#if defined(__x86_64__)
    struct sock_filter f[96];
    int n = 0, denies[48], nd = 0;
#define STMT(code, k) (f[n++] = (struct sock_filter)BPF_STMT(code, k))
#define JUMP(code, k, jt, jf) (f[n++] = (struct sock_filter)BPF_JUMP(code, k, jt, jf))
#define TO_DENY() (denies[nd++] = n - 1)
#define ARG(i) (unsigned)(offsetof(struct seccomp_data, args) + (i) * 8)  // the low 32 bits
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 0); f[n - 1].jf = 0; denies[nd++] = -(n);  // patched below
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 0); TO_DENY();  // x32
    static const struct { int nr, arg; } modes[] = {
        { SYS_chmod, 1 }, { SYS_fchmod, 1 }, { SYS_fchmodat, 2 }, { SYS_open, 2 }, { SYS_openat, 3 },
        { SYS_creat, 1 }, { SYS_mkdir, 1 }, { SYS_mkdirat, 2 } };
    for (unsigned i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        JUMP(BPF_JMP | BPF_JEQ | BPF_K, modes[i].nr, 0, 3);
        STMT(BPF_LD | BPF_W | BPF_ABS, ARG(modes[i].arg));
        JUMP(BPF_JMP | BPF_JSET | BPF_K, S_ISUID | S_ISGID, 0, 0); TO_DENY();
        STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    }
    static const struct { int nr, arg; } nodes[] = { { SYS_mknod, 1 }, { SYS_mknodat, 2 } };
    for (unsigned i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        JUMP(BPF_JMP | BPF_JEQ | BPF_K, nodes[i].nr, 0, 6);
        STMT(BPF_LD | BPF_W | BPF_ABS, ARG(nodes[i].arg));
        JUMP(BPF_JMP | BPF_JSET | BPF_K, S_ISUID | S_ISGID, 0, 0); TO_DENY();
        STMT(BPF_ALU | BPF_AND | BPF_K, S_IFMT);
        JUMP(BPF_JMP | BPF_JEQ | BPF_K, S_IFREG, 1, 0);
        JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 0); f[n - 1].jt = 0; TO_DENY();  // jf → deny
        STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    }
    // fchmodat2 (452) and openat2 (437, its mode is behind a pointer) say "not implemented", the
    // answer on which a libc falls back to fchmodat and openat, which the rules above check.
    static const int unimplemented[] = { 452, 437 };
    for (unsigned i = 0; i < sizeof unimplemented / sizeof unimplemented[0]; i++) {
        JUMP(BPF_JMP | BPF_JEQ | BPF_K, unimplemented[i], 0, 1);
        STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
    }
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    int deny = n;
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
    for (int i = 0; i < nd; i++) {
        if (denies[i] < 0) {  // the architecture check: anything but x86_64 is denied
            int at = -denies[i] - 1;
            f[at].jt = 0;
            f[at].jf = (unsigned char)(deny - at - 1);
        } else {
            int at = denies[i];
            unsigned char offset = (unsigned char)(deny - at - 1);
            // The nodes' type check denies on "not zero" (its false branch); everything else on true.
            if (BPF_OP(f[at].code) == BPF_JEQ && f[at].k == 0 && BPF_CLASS(f[at].code) == BPF_JMP) f[at].jf = offset;
            else f[at].jt = offset;
        }
    }
#undef STMT
#undef JUMP
#undef TO_DENY
#undef ARG
    struct sock_fprog program = { .len = (unsigned short)n, .filter = f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program);
#else
    return 0;
#endif
}

pid_t pen_spawn(const char *const argv[], const char *const envp[],
                int stdin_fd, int stdout_fd, int stderr_fd,
                const int *keep_fds, int keep_count,
                int uid, int gid, const unsigned *groups, int group_count, int confine_modes, int exec_fd) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) return pid;
    // Child: only async-signal-safe calls from here to execve.
    if (uid >= 0) {
        // Groups, then the gid, then the uid (after which none of them could change any more).
        // Raw syscalls: glibc's wrappers would signal the parent's other threads, which the
        // forked child does not have.
        if (syscall(SYS_setgroups, (size_t)group_count, groups) != 0) _exit(126);
        if (syscall(SYS_setresgid, gid, gid, gid) != 0) _exit(126);
        if (syscall(SYS_setresuid, uid, uid, uid) != 0) _exit(126);
        if (getuid() != (uid_t)uid || geteuid() != (uid_t)uid) _exit(126);
    }
    // After any change of credentials, which clears it.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) _exit(127);
    if (getppid() != parent) _exit(127);  // parent already gone
    if (confine_modes && confine_file_modes() != 0) _exit(126);
    exec_child(argv, envp, stdin_fd, stdout_fd, stderr_fd, keep_fds, keep_count, 0, exec_fd);
    return -1;  // not reached
}

int pen_get_winsize(int fd, uint16_t *rows, uint16_t *cols) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0) return -1;
    *rows = ws.ws_row;
    *cols = ws.ws_col;
    return 0;
}

int pen_errno(void) { return errno; }

#include <string.h>
#include <sys/socket.h>

static int signal_pipe_write = -1;

static void on_signal(int signo) {
    int saved = errno;
    unsigned char b = (unsigned char)signo;
    (void)!write(signal_pipe_write, &b, 1);
    errno = saved;
}

int pen_signal_pipe(const int *signals, int count) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
    signal_pipe_write = fds[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < count; i++)
        if (sigaction(signals[i], &sa, NULL) != 0) return -1;
    return fds[0];
}

#include <sys/prctl.h>

int pen_set_undumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }

int pen_signal_pipe_release(const int *signals, int count) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < count; i++)
        if (sigaction(signals[i], &sa, NULL) != 0) return -1;
    if (signal_pipe_write >= 0) close(signal_pipe_write);
    signal_pipe_write = -1;
    return 0;
}

int pen_signal_is_default(int signo) {
    struct sigaction sa;
    if (sigaction(signo, NULL, &sa) != 0) return -1;
    return sa.sa_handler == SIG_DFL ? 1 : 0;
}

int pen_socketpair(int fds[2]) { return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds); }

#include <sys/syscall.h>

// pidfds name one process for good: a signal sent through one can never reach a process that
// later reuses the pid. glibc 2.36 (Debian 12) has no wrappers we can rely on, so call the syscalls.
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

int pen_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int pen_pidfd_send_signal(int pidfd, int sig) { return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0); }

#include <sys/wait.h>

long pen_peer_uid(int fd) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    return (long)cred.uid;
}

int pen_spawn_detached(const char *const argv[], const char *const envp[],
                       int stdin_fd, int stdout_fd, int stderr_fd, const int *keep_fds, int keep_count) {
    pid_t child = fork();
    if (child < 0) return -1;
    if (child == 0) {
        // Only async-signal-safe calls from here to execve.
        if (setsid() < 0) _exit(127);
        pid_t grandchild = fork();
        if (grandchild != 0) _exit(grandchild < 0 ? 127 : 0);
        exec_child(argv, envp, stdin_fd, stdout_fd, stderr_fd, keep_fds, keep_count, 1, -1);
    }
    int status;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { errno = ECHILD; return -1; }
    return 0;
}

int pen_accept(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC); }

int pen_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

#include <sys/uio.h>

long pen_send_with_fd(int socket, const void *buf, unsigned long len, int fd) {
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    union { char space[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space,
                          .msg_controllen = sizeof control.space };
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    ssize_t n;
    do { n = sendmsg(socket, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n;
}

#include <linux/falloc.h>

int pen_punch_hole(int fd, long long offset, long long length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
}

#include <linux/fs.h>

int pen_reflink(int destination, int source) { return ioctl(destination, FICLONE, source); }

long long pen_seek_data(int fd, long long offset) { return (long long)lseek(fd, (off_t)offset, SEEK_DATA); }

long long pen_seek_hole(int fd, long long offset) { return (long long)lseek(fd, (off_t)offset, SEEK_HOLE); }
