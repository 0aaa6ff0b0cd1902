#define _GNU_SOURCE
#include "guest_sys.h"
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

int pen_pivot_root(const char *new_root, const char *put_old) {
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int pen_finit_module(int fd) {
    return (int)syscall(SYS_finit_module, fd, "", 0);
}

void pen_power_off(void) {
    sync();
    reboot(RB_POWER_OFF);
    for (;;) pause();
}

int pen_set_controlling_tty(int fd) { return ioctl(fd, TIOCSCTTY, 1); }

int pen_set_winsize(int fd, uint16_t rows, uint16_t cols) {
    struct winsize ws = { .ws_row = rows, .ws_col = cols };
    return ioctl(fd, TIOCSWINSZ, &ws);
}

int pen_syncfs(int fd) {
    return syncfs(fd);
}

// FIFREEZE / FITHAW on the filesystem mounted at `path`.
static int fs_ioctl(const char *path, unsigned long request) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = ioctl(fd, request, 0);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int pen_freeze_fs(const char *path) { return fs_ioctl(path, FIFREEZE); }

int pen_thaw_fs(const char *path) { return fs_ioctl(path, FITHAW); }

static int set_sockaddr(struct sockaddr *sa, const char *text) {
    struct sockaddr_in *in = (struct sockaddr_in *)sa;
    memset(in, 0, sizeof *in);
    in->sin_family = AF_INET;
    if (inet_pton(AF_INET, text, &in->sin_addr) != 1) { errno = EINVAL; return -1; }
    return 0;
}

int pen_if_up(const char *ifname, const char *addr, const char *netmask) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    int rc = 0;
    if (addr) {
        if ((rc = set_sockaddr(&ifr.ifr_addr, addr)) == 0) rc = ioctl(s, SIOCSIFADDR, &ifr);
        if (rc == 0 && (rc = set_sockaddr(&ifr.ifr_netmask, netmask)) == 0) rc = ioctl(s, SIOCSIFNETMASK, &ifr);
    }
    if (rc == 0) rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(s);
    errno = saved;
    return rc;
}

int pen_add_default_route(const char *gateway) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct rtentry rt;
    memset(&rt, 0, sizeof rt);
    int rc = set_sockaddr(&rt.rt_gateway, gateway);
    set_sockaddr(&rt.rt_dst, "0.0.0.0");
    set_sockaddr(&rt.rt_genmask, "0.0.0.0");
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    if (rc == 0) rc = ioctl(s, SIOCADDRT, &rt);
    int saved = errno;
    close(s);
    errno = saved;
    return rc;
}

static int with_socket(int family, int (*body)(int, const void *), const void *arg) {
    int s = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    int rc = body(s, arg);
    int saved = errno;
    close(s);
    errno = saved;
    return rc;
}

static int add_route6(int s, const void *arg) { return ioctl(s, SIOCADDRT, (struct in6_rtmsg *)arg); }

int pen_add_default_route6(const char *ifname) {
    struct in6_rtmsg rt;
    memset(&rt, 0, sizeof rt);
    rt.rtmsg_dst = in6addr_any;
    rt.rtmsg_dst_len = 0;
    rt.rtmsg_metric = 1;
    rt.rtmsg_flags = RTF_UP;
    if ((rt.rtmsg_ifindex = (int)if_nametoindex(ifname)) == 0) return -1;
    return with_socket(AF_INET6, add_route6, &rt);
}

int pen_original_destination(int fd, uint8_t address[16], uint16_t *port) {
    struct sockaddr_storage local;
    socklen_t length = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &length) != 0) return -1;
    if (local.ss_family == AF_INET) {
        struct sockaddr_in original;
        length = sizeof original;
        if (getsockopt(fd, SOL_IP, 80 /* SO_ORIGINAL_DST */, &original, &length) != 0) return -1;
        memcpy(address, &original.sin_addr, 4);
        *port = ntohs(original.sin_port);
        return 4;
    }
    if (local.ss_family == AF_INET6) {
        struct sockaddr_in6 original;
        length = sizeof original;
        if (getsockopt(fd, SOL_IPV6, 80 /* IP6T_SO_ORIGINAL_DST */, &original, &length) != 0) return -1;
        memcpy(address, &original.sin6_addr, 16);
        *port = ntohs(original.sin6_port);
        return 16;
    }
    errno = EAFNOSUPPORT;
    return -1;
}

int pen_accept_nonblocking(int listener) {
    return accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

void pen_close_with_reset(int fd) {
    struct linger now = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
    close(fd);
}

int pen_guest_errno(void) { return errno; }

#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>

static void pen_handled_signals(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGPWR);
}

int pen_signal_fd(void) {
    sigset_t set;
    pen_handled_signals(&set);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

void pen_block_all_signals(void) {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
}

int pen_read_signal(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n != (ssize_t)sizeof info) return 0;
    return (int)info.ssi_signo;
}

int pen_spawn_child(const char *const argv[], const char *const envp[],
                    int in_fd, int out_fd, int err_fd, int ctty_fd, const char *cwd) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    sigset_t none;
    sigemptyset(&none);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();
    if (ctty_fd >= 0 && ioctl(ctty_fd, TIOCSCTTY, 1) != 0) _exit(126);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(126);
    for (int fd = 3; fd < 1024; fd++) close(fd);
    if (cwd && chdir(cwd) != 0) { if (chdir("/") != 0) _exit(126); }
    // execvpe searches the caller's PATH, so adopt the one the child is given.
    for (const char *const *e = envp; *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0) setenv("PATH", *e + 5, 1);
    execvpe(argv[0], (char *const *)argv, (char *const *)envp);
    int e = errno;
    _exit(e == ENOENT ? 127 : 126);
}

int pen_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

#include <stdio.h>

int pen_open_pty(int *controller, int *terminal, uint16_t rows, uint16_t cols) {
    int c = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (c < 0) return -1;
    char name[64];
    if (grantpt(c) != 0 || unlockpt(c) != 0 || ptsname_r(c, name, sizeof name) != 0) {
        int saved = errno; close(c); errno = saved; return -1;
    }
    int t = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (t < 0) { int saved = errno; close(c); errno = saved; return -1; }
    struct winsize ws = { .ws_row = rows, .ws_col = cols };
    ioctl(c, TIOCSWINSZ, &ws);
    fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
    *controller = c;
    *terminal = t;
    return 0;
}

#include <linux/random.h>

int pen_add_entropy(const uint8_t *bytes, int count) {
    if (count <= 0 || count > 512) { errno = EINVAL; return -1; }
    // rand_pool_info ends in a flexible array: give it room in a buffer of its own.
    union { struct rand_pool_info info; uint8_t raw[sizeof(struct rand_pool_info) + 512]; } pool;
    pool.info.entropy_count = count * 8;
    pool.info.buf_size = count;
    memcpy(pool.info.buf, bytes, (size_t)count);
    int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = ioctl(fd, RNDADDENTROPY, &pool.info);
    if (rc == 0) rc = ioctl(fd, RNDRESEEDCRNG);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}
