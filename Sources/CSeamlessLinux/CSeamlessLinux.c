#define _GNU_SOURCE
#include "CSeamlessLinux.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

int seamless_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0, 0, 0) == 0 ? 0 : errno;
}

int seamless_spawn(const char *path, char *const argv[], char *const envp[], int stdin_fd,
                   int stdout_fd, int stderr_fd, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int result = posix_spawn_file_actions_init(&actions);
    if (result != 0) return result;
    result = posix_spawnattr_init(&attributes);
    if (result != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return result;
    }
    const int descriptors[3] = {stdin_fd, stdout_fd, stderr_fd};
    for (int target = 0; target < 3 && result == 0; target++) {
        if (descriptors[target] >= 0) {
            result = posix_spawn_file_actions_adddup2(&actions, descriptors[target], target);
        }
    }
    // Nothing else of the caller's: SwiftNIO's sockets and libpcap's are not close-on-exec, and
    // a child holding a copy of a socket keeps it open after the caller closes it.
    if (result == 0) result = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGPIPE);
    if (result == 0) result = posix_spawnattr_setsigmask(&attributes, &none);
    if (result == 0) result = posix_spawnattr_setsigdefault(&attributes, &defaults);
    if (result == 0) result = posix_spawnattr_setpgroup(&attributes, 0);
    if (result == 0) {
        result = posix_spawnattr_setflags(
            &attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    }
    if (result == 0) result = posix_spawn(pid, path, &actions, &attributes, argv, envp);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return result;
}

int seamless_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC) == 0 ? 0 : errno; }

int seamless_tun_open(const char *name) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -errno;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    request.ifr_flags = IFF_TUN | IFF_NO_PI;
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &request) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

int seamless_poll_nanoseconds(struct pollfd *fds, unsigned long count, int64_t timeout) {
    if (timeout < 0) return ppoll(fds, count, NULL, NULL);
    struct timespec limit = {.tv_sec = timeout / 1000000000, .tv_nsec = timeout % 1000000000};
    return ppoll(fds, count, &limit, NULL);
}

int64_t seamless_realtime_microseconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/// Reads /proc/PID/stat into `buffer` and returns a pointer to field 3 (the state), or NULL.
static char *stat_fields(pid_t pid, char *buffer, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *file = fopen(path, "re");
    if (file == NULL) return NULL;
    size_t length = fread(buffer, 1, size - 1, file);
    fclose(file);
    buffer[length] = '\0';
    // The command name (field 2) is in parentheses and may itself contain spaces and ')'.
    char *cursor = strrchr(buffer, ')');
    if (cursor == NULL || cursor[1] == '\0') return NULL;
    return cursor + 2;  // skip ") ", now at field 3
}

int seamless_process_is_alive(pid_t pid) {
    char buffer[1024];
    char *state = stat_fields(pid, buffer, sizeof buffer);
    return state != NULL && *state != 'Z' && *state != 'X';
}

long long seamless_process_start_ticks(pid_t pid) {
    char buffer[1024];
    char *cursor = stat_fields(pid, buffer, sizeof buffer);
    if (cursor == NULL) return -1;
    for (int field = 3; field < 22; field++) {
        cursor = strchr(cursor, ' ');
        if (cursor == NULL) return -1;
        cursor++;
    }
    long long ticks = -1;
    if (sscanf(cursor, "%lld", &ticks) != 1) return -1;
    return ticks;
}

struct build_id_result {
    uint8_t *out;
    size_t capacity;
    size_t length;
};

/// Looks through the PT_NOTE segments of the first object (the executable) for the GNU build
/// ID note, checking every size against the segment's end.
static int find_build_id(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct build_id_result *result = data;
    for (ElfW(Half) index = 0; index < info->dlpi_phnum; index++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[index];
        if (segment->p_type != PT_NOTE) continue;
        size_t align = segment->p_align == 8 ? 8 : 4;
        const uint8_t *note = (const uint8_t *)(info->dlpi_addr + segment->p_vaddr);
        size_t left = segment->p_memsz;
        while (left >= sizeof(ElfW(Nhdr))) {
            const ElfW(Nhdr) *header = (const ElfW(Nhdr) *)note;
            size_t name = (header->n_namesz + align - 1) & ~(align - 1);
            size_t desc = (header->n_descsz + align - 1) & ~(align - 1);
            if (name > left - sizeof(ElfW(Nhdr)) || desc > left - sizeof(ElfW(Nhdr)) - name) break;
            const uint8_t *payload = note + sizeof(ElfW(Nhdr));
            if (header->n_type == NT_GNU_BUILD_ID && header->n_namesz == 4 && memcmp(payload, "GNU", 4) == 0) {
                size_t length = header->n_descsz < result->capacity ? header->n_descsz : result->capacity;
                memcpy(result->out, payload + name, length);
                result->length = length;
                return 1;
            }
            note += sizeof(ElfW(Nhdr)) + name + desc;
            left -= sizeof(ElfW(Nhdr)) + name + desc;
        }
    }
    return 1;  // only the first object is the executable
}

size_t seamless_build_id(uint8_t *out, size_t capacity) {
    struct build_id_result result = {out, capacity, 0};
    dl_iterate_phdr(find_build_id, &result);
    return result.length;
}
