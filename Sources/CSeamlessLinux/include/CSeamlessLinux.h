// CSeamlessLinux: the few Linux calls Swift cannot make directly (variadic prctl) or that are
// clearer as one C function (spawning a process with its pipes and its own process group).
#ifndef CSEAMLESS_LINUX_H
#define CSEAMLESS_LINUX_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Asks the kernel to send `signal` to the calling process when its parent thread exits
/// (prctl(PR_SET_PDEATHSIG)). Returns 0 or an errno value.
int seamless_set_parent_death_signal(int signal);

/// Starts `path` with `argv` and `envp`, its standard input, output and error replaced by the
/// given descriptors (-1 keeps the caller's), in a process group of its own (so a terminal's
/// Ctrl-C reaches only the coordinator, which then stops its peers in order), with all signals
/// unblocked and SIGINT, SIGTERM, SIGPIPE at their defaults, and no other descriptor of the
/// caller's (sockets included, close-on-exec or not). Stores the child's pid in `pid`.
/// Returns 0 or an errno value.
int seamless_spawn(const char *path, char *const argv[], char *const envp[], int stdin_fd,
                   int stdout_fd, int stderr_fd, pid_t *pid);

/// pipe2(fds, O_CLOEXEC): a pipe whose ends are not inherited by spawned processes (unless
/// dup2'ed onto their standard descriptors). Returns 0 or an errno value.
int seamless_pipe_cloexec(int fds[2]);

/// Opens a new TUN device named `name` (at most 15 characters), without the packet-info
/// header, non-blocking and close-on-exec: each read returns one IP packet, each write sends
/// one. The device disappears when the descriptor is closed. Returns the descriptor, or
/// -errno.
int seamless_tun_open(const char *name);

/// poll() with a timeout in nanoseconds (ppoll): the link emulator's deliveries are due with
/// sub-millisecond precision. A negative timeout waits without limit.
int seamless_poll_nanoseconds(struct pollfd *fds, unsigned long count, int64_t timeout);

/// Wall-clock time (CLOCK_REALTIME, the clock of pcap timestamps) in microseconds since the
/// Unix epoch.
int64_t seamless_realtime_microseconds(void);

/// The start time of process `pid` in clock ticks since boot (field 22 of /proc/PID/stat), or
/// -1 if there is no such process. A pid plus its start time names one process for good, even
/// after the pid is reused.
long long seamless_process_start_ticks(pid_t pid);

/// 1 while process `pid` exists and has not exited (a zombie, exited but not reaped, counts as
/// ended), else 0.
int seamless_process_is_alive(pid_t pid);

/// Copies the GNU build ID of the running executable (the linker's hash of what it linked, in
/// the image's .note.gnu.build-id: read from memory, no file is read) into `out`, at most
/// `capacity` bytes. Returns its length, or 0 when the executable has none.
size_t seamless_build_id(uint8_t *out, size_t capacity);

#endif
