// Syscalls and ioctls the guest init needs that Swift's Glibc module does not
// expose (variadic ioctl/syscall, pivot_root, finit_module, reboot).
#pragma once
#include <stdint.h>

int pen_pivot_root(const char *new_root, const char *put_old);
int pen_finit_module(int fd);
/// Never returns: syncs, then powers the machine off.
void pen_power_off(void);
int pen_set_controlling_tty(int fd);
int pen_set_winsize(int fd, uint16_t rows, uint16_t cols);
/// Freezes the filesystem mounted at path so its journal is checkpointed and it ends clean.
int pen_freeze_fs(const char *path);
int pen_thaw_fs(const char *path);
/// syncfs(2): flushes one filesystem and reports writeback errors since fd was opened.
int pen_syncfs(int fd);
/// Brings an interface up, with an IPv4 address and netmask when addr is non-null.
int pen_if_up(const char *ifname, const char *addr, const char *netmask);
int pen_add_default_route(const char *gateway);
/// The IPv6 default route: every destination through `ifname`, no gateway.
int pen_add_default_route6(const char *ifname);
/// The original destination of a connection the redirect sent to a listener (SO_ORIGINAL_DST,
/// IP6T_SO_ORIGINAL_DST by the socket's family): its address (4 or 16 bytes) into `address`,
/// its length returned with the port in *port; -1 + errno when it has none.
int pen_original_destination(int fd, uint8_t address[16], uint16_t *port);
/// accept4(SOCK_NONBLOCK | SOCK_CLOEXEC), which glibc hides behind _GNU_SOURCE.
int pen_accept_nonblocking(int listener);
/// Closes a socket with a reset (SO_LINGER 0): its peer sees ECONNRESET, not an end of stream.
void pen_close_with_reset(int fd);
int pen_guest_errno(void);

/// Blocks SIGCHLD (and SIGTERM/SIGINT/SIGHUP/SIGPWR, which PID 1 handles itself) and
/// returns a non-blocking signalfd that reports them.
int pen_signal_fd(void);
/// Blocks every signal in the calling thread: the init's helper threads never take the
/// process's signals (SIGCHLD must reach the session loop's signalfd).
void pen_block_all_signals(void);
/// Reads one signal from the signalfd; returns its number, 0 when none is pending.
int pen_read_signal(int fd);

/// Forks and execs argv (PATH looked up via execvpe with envp). The child gets a new
/// session, the given fds as 0/1/2, an empty signal mask, default dispositions, and cwd.
/// When ctty_fd >= 0 it becomes the child's controlling terminal.
/// Returns the pid, or -1 with errno set.
int pen_spawn_child(const char *const argv[], const char *const envp[],
                    int in_fd, int out_fd, int err_fd, int ctty_fd, const char *cwd);
/// pipe2(O_CLOEXEC); glibc hides pipe2 behind _GNU_SOURCE, which Swift's import lacks.
int pen_pipe_cloexec(int fds[2]);
/// A new pseudo-terminal of rows × cols: the controller (non-blocking, close-on-exec) in
/// *controller, the terminal side (close-on-exec) in *terminal. -1 + errno on failure.
int pen_open_pty(int *controller, int *terminal, uint16_t rows, uint16_t cols);
/// Mixes `count` bytes into the kernel's entropy pool, credited as full entropy
/// (RNDADDENTROPY), then forces the CRNG to reseed from it (RNDRESEEDCRNG). -1 + errno.
int pen_add_entropy(const uint8_t *bytes, int count);
