/* benches/gen.c: the output generator and line checker used by benches/workloads.sh.
 *
 * It owns the W1-W4 payloads and their integrity check, nothing else; it is not part of the
 * crate or its test suite. Build: cc -O2 -o gen benches/gen.c
 *
 *   gen lines TAG N LEN [both]  write N numbered LEN-byte lines to stdout
 *                               ("TAG out 0000000001 ~~~\n"); with "both", also N lines to stderr
 *                               ("TAG err ..."), interleaved in ~64 KiB writes, so both pipes are
 *                               busy at once. With GEN_RATE=BYTES (per second) in the
 *                               environment, it paces itself to that rate (sleeping between
 *                               writes), for measuring a consumer at a given drain rate.
 *   gen check PAIRS N LEN       read `runall --ci` prefixed output on stdin and check that each of
 *                               PAIRS (tag, stream) pairs printed exactly lines 1..N in order,
 *                               every line whole (LEN bytes), under the right label and tag (`|`
 *                               for out, `!` for err); other runall lines (commands, outcomes,
 *                               summary) are skipped. Prints a one-line verdict; exit 0 if intact.
 *   gen relay LOGDIR K N LEN    the least a relay with per-env logs can do, as a yardstick for
 *                               runall's CPU: start K children of `gen lines w1-I N LEN`, each on
 *                               its own 1 MiB pipe, read them all on one thread (poll, 256 KiB
 *                               reads) and write every chunk to LOGDIR/w1-I.log (LOGDIR "-": no
 *                               logs, the bytes are dropped). No framing, no screen. Prints
 *                               "relay: BYTES bytes, wall S s, own CPU S s, C cores".
 *   gen ptyread N LEN           the floor of a tty env's drain: start `gen lines tty-0 N LEN` on a
 *                               new pseudo-terminal (the slave its stdout, as runall gives it),
 *                               and only read the master (poll, then read, until EIO once the
 *                               child closed the slave). No log, no screen. Prints "ptyread:
 *                               BYTES bytes in READS reads, wall S s, MiB/s".
 *   gen own FILE CMD ARGS...    run CMD, and once it exited (seen with waitid(WNOWAIT), before
 *                               reaping it) write its own CPU seconds, user+sys of all its threads
 *                               without its children's, to FILE; exits with CMD's status. GNU time
 *                               around a process counts the children it reaped too.
 *
 * Lines are built by bumping an ASCII counter in place, so the generator costs far less CPU
 * than the relay it feeds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE 4096
#define SEQ_DIGITS 10
#define WRITE_SIZE 65536
#define MAX_PAIRS 4096
#define MAX_RELAY 64
#define RELAY_READ (256 * 1024)

static size_t line_len = 100;

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("write");
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* A line template: "TAG STREAM 0000000000 ~~~~...~\n"; returns the counter's offset. */
static size_t make_line(char *line, const char *tag, const char *stream) {
    int head = snprintf(line, line_len, "%s %s ", tag, stream);
    if (head < 0 || head + SEQ_DIGITS + 2 > (int)line_len) {
        fprintf(stderr, "gen: tag too long\n");
        exit(2);
    }
    memset(line + head, '0', SEQ_DIGITS);
    line[head + SEQ_DIGITS] = ' ';
    memset(line + head + SEQ_DIGITS + 1, '~', line_len - head - SEQ_DIGITS - 2);
    line[line_len - 1] = '\n';
    return (size_t)head;
}

static void bump(char *digits) {
    for (int i = SEQ_DIGITS - 1; i >= 0; i--) {
        if (digits[i] != '9') {
            digits[i]++;
            return;
        }
        digits[i] = '0';
    }
}

/* Fills buf with as many whole lines as fit in WRITE_SIZE; returns how many. */
static long fill(char *buf, char *line, size_t seq_at, long left) {
    long per_write = (long)(WRITE_SIZE / line_len);
    long k = left < per_write ? left : per_write;
    for (long i = 0; i < k; i++) {
        bump(line + seq_at);
        memcpy(buf + i * line_len, line, line_len);
    }
    return k;
}

/* Seconds since an arbitrary start (CLOCK_MONOTONIC). */
static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* With a rate (bytes per second), sleep until `sent` bytes are due since `start`. */
static void pace(double rate, double start, double sent) {
    if (rate <= 0)
        return;
    double ahead = sent / rate - (now_s() - start);
    if (ahead > 0) {
        struct timespec t = {(time_t)ahead, (long)((ahead - (double)(time_t)ahead) * 1e9)};
        nanosleep(&t, NULL);
    }
}

static int gen_lines(const char *tag, long n, int both) {
    static char out_buf[WRITE_SIZE], err_buf[WRITE_SIZE];
    const char *rate_env = getenv("GEN_RATE");
    double rate = rate_env ? atof(rate_env) : 0, start = now_s(), sent = 0;
    char out_line[MAX_LINE], err_line[MAX_LINE];
    size_t out_at = make_line(out_line, tag, "out");
    size_t err_at = make_line(err_line, tag, "err");
    long out_left = n, err_left = both ? n : 0;
    while (out_left > 0 || err_left > 0) {
        if (out_left > 0) {
            long k = fill(out_buf, out_line, out_at, out_left);
            write_all(1, out_buf, (size_t)k * line_len);
            out_left -= k;
            sent += (double)k * (double)line_len;
        }
        if (err_left > 0) {
            long k = fill(err_buf, err_line, err_at, err_left);
            write_all(2, err_buf, (size_t)k * line_len);
            err_left -= k;
            sent += (double)k * (double)line_len;
        }
        pace(rate, start, sent);
    }
    return 0;
}

struct pair {
    char tag[32];
    int err;
    long last;
};

static struct pair pairs[MAX_PAIRS];
static int npairs;
static long bad_lines, out_of_order;

static struct pair *find(const char *tag, size_t len, int err) {
    for (int i = 0; i < npairs; i++)
        if (pairs[i].err == err && strlen(pairs[i].tag) == len && memcmp(pairs[i].tag, tag, len) == 0)
            return &pairs[i];
    if (npairs == MAX_PAIRS || len >= sizeof pairs[0].tag)
        return NULL;
    struct pair *p = &pairs[npairs++];
    memcpy(p->tag, tag, len);
    p->tag[len] = 0;
    p->err = err;
    p->last = 0;
    return p;
}

static void report_bad(const char *line, size_t len, const char *why) {
    if (bad_lines + out_of_order <= 5)
        fprintf(stderr, "gen check: %s: %.*s\n", why, (int)(len > 160 ? 160 : len), line);
}

/* One line of runall's output, without its '\n'. */
static void check_line(const char *line, size_t len) {
    /* "<label padded> | payload" or "<label padded> ! payload" */
    const char *sep = NULL;
    for (size_t i = 0; i + 2 < len; i++) {
        if (line[i] == ' ' && (line[i + 1] == '|' || line[i + 1] == '!') && line[i + 2] == ' ') {
            sep = line + i;
            break;
        }
        if (line[i] == ' ' && line[i + 1] != ' ')
            break; /* the label is one word, then padding */
    }
    const char *tilde = memchr(line, '~', len);
    if (sep == NULL) {
        if (tilde != NULL) {
            bad_lines++;
            report_bad(line, len, "payload without a label");
        }
        return;
    }
    size_t label_len = (size_t)(memchr(line, ' ', len) - (void *)line);
    const char *payload = sep + 3;
    size_t plen = len - (size_t)(payload - line);
    if (tilde == NULL)
        return; /* a runall status line ($ command, outcome, ...) */
    int err = sep[1] == '!';
    /* payload: "TAG out 0000000001 ~~~", line_len - 1 bytes without the newline */
    if (plen != line_len - 1 || plen < label_len + 5 + SEQ_DIGITS || memcmp(payload, line, label_len) != 0 ||
        payload[label_len] != ' ' || memcmp(payload + label_len + 1, err ? "err " : "out ", 4) != 0) {
        bad_lines++;
        report_bad(line, len, "broken, mislabelled or mixed line");
        return;
    }
    long seq = 0;
    const char *d = payload + label_len + 5;
    for (int i = 0; i < SEQ_DIGITS; i++)
        seq = seq * 10 + (d[i] - '0');
    struct pair *p = find(line, label_len, err);
    if (p == NULL) {
        bad_lines++;
        return;
    }
    if (seq != p->last + 1) {
        out_of_order++;
        report_bad(line, len, "out of order");
    }
    p->last = seq;
}

static int check(int want_pairs, long n) {
    size_t cap = 1 << 20, have = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        die("malloc");
    long total = 0;
    for (;;) {
        ssize_t r = read(0, buf + have, cap - have);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            die("read");
        }
        if (r == 0)
            break;
        have += (size_t)r;
        size_t start = 0;
        for (;;) {
            char *nl = memchr(buf + start, '\n', have - start);
            if (nl == NULL)
                break;
            check_line(buf + start, (size_t)(nl - (buf + start)));
            total++;
            start = (size_t)(nl - buf) + 1;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
        if (have == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (buf == NULL)
                die("realloc");
        }
    }
    if (have > 0)
        check_line(buf, have);
    long short_pairs = 0;
    for (int i = 0; i < npairs; i++)
        if (pairs[i].last != n)
            short_pairs++;
    int ok = npairs == want_pairs && short_pairs == 0 && bad_lines == 0 && out_of_order == 0;
    printf("%s: %ld lines read, %d/%d streams, %ld short, %ld broken, %ld out of order\n",
           ok ? "intact" : "BROKEN", total, npairs, want_pairs, short_pairs, bad_lines, out_of_order);
    return ok ? 0 : 1;
}

/* Runs argv, writes its own CPU seconds (utime + stime from /proc/PID/stat, read while it is
 * an unreaped zombie) to `file`, returns its exit status. */
static int own(const char *file, char **argv) {
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        execvp(argv[0], argv);
        die("exec");
    }
    siginfo_t info;
    while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) < 0)
        if (errno != EINTR)
            die("waitid");
    char path[64], stat[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(stat, 1, sizeof stat - 1, f) : 0;
    if (f)
        fclose(f);
    stat[n] = 0;
    /* fields after "(comm)": state ppid ... utime(14) stime(15) */
    char *p = strrchr(stat, ')');
    unsigned long utime = 0, stime = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        fprintf(stderr, "gen own: cannot read %s\n", path);
    FILE *out = fopen(file, "w");
    if (out == NULL)
        die(file);
    fprintf(out, "%.2f\n", (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK));
    fclose(out);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The relay yardstick (see the header): one thread, poll, read, write to the env's log. */
static int relay(const char *dir, int k, const char *n, const char *len) {
    static char buf[RELAY_READ];
    struct pollfd fds[MAX_RELAY];
    int logs[MAX_RELAY];
    if (k < 1 || k > MAX_RELAY) {
        fprintf(stderr, "gen relay: K must be 1..%d\n", MAX_RELAY);
        return 2;
    }
    double start = now_s();
    for (int i = 0; i < k; i++) {
        int p[2];
        char tag[32], path[4096];
        if (pipe2(p, O_CLOEXEC) < 0)
            die("pipe2");
        fcntl(p[1], F_SETPIPE_SZ, 1 << 20); /* best effort, as runall does */
        snprintf(tag, sizeof tag, "w1-%d", i);
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            if (dup2(p[1], 1) < 0)
                die("dup2");
            execl("/proc/self/exe", "gen", "lines", tag, n, len, (char *)NULL);
            die("exec");
        }
        close(p[1]);
        fds[i].fd = p[0];
        fds[i].events = POLLIN;
        logs[i] = -1;
        if (strcmp(dir, "-") != 0) {
            snprintf(path, sizeof path, "%s/%s.log", dir, tag);
            logs[i] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (logs[i] < 0)
                die(path);
        }
    }
    long long total = 0;
    for (int open_pipes = k; open_pipes > 0;) {
        if (poll(fds, (nfds_t)k, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        for (int i = 0; i < k; i++) {
            if (fds[i].fd < 0 || fds[i].revents == 0)
                continue;
            ssize_t r = read(fds[i].fd, buf, sizeof buf);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_pipes--;
                continue;
            }
            total += r;
            if (logs[i] >= 0)
                write_all(logs[i], buf, (size_t)r);
        }
    }
    double wall = now_s() - start;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    int failed = 0, status;
    while (wait(&status) > 0)
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    for (int i = 0; i < k; i++)
        if (logs[i] >= 0)
            close(logs[i]);
    printf("relay: %lld bytes, wall %.2f s, own CPU %.2f s, %.2f cores\n", total, wall, cpu, cpu / wall);
    return failed;
}

/* The bare PTY reader: what the kernel's PTY path delivers to a reader that does nothing else. */
static int ptyread(const char *self, const char *n, const char *len) {
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
        perror("gen ptyread: openpt");
        return 1;
    }
    const char *name = ptsname(master);
    int slave = name ? open(name, O_RDWR | O_NOCTTY) : -1;
    if (slave < 0) {
        perror("gen ptyread: slave");
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        dup2(slave, 0);
        dup2(slave, 1);
        dup2(slave, 2);
        execl(self, self, "lines", "tty-0", n, len, (char *)NULL);
        _exit(127);
    }
    close(slave);
    fcntl(master, F_SETFL, O_NONBLOCK);
    static char buf[256 * 1024];
    long long total = 0, reads = 0;
    struct pollfd pfd = {.fd = master, .events = POLLIN};
    for (;;) {
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            break;
        ssize_t got = read(master, buf, sizeof buf);
        if (got > 0) {
            total += got;
            reads++;
        } else if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
            continue;
        } else {
            break; /* EIO: the last slave holder is gone */
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("ptyread: %lld bytes in %lld reads, wall %.2f s, %.0f MiB/s\n", total, reads, wall,
           (double)total / 1048576.0 / wall);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static void set_len(const char *arg) {
    long len = atol(arg);
    if (len < 2 || len > MAX_LINE) {
        fprintf(stderr, "gen: LEN must be 2..%d\n", MAX_LINE);
        exit(2);
    }
    line_len = (size_t)len;
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "lines") == 0) {
        set_len(argv[4]);
        return gen_lines(argv[2], atol(argv[3]), argc >= 6 && strcmp(argv[5], "both") == 0);
    }
    if (argc == 5 && strcmp(argv[1], "check") == 0) {
        set_len(argv[4]);
        return check(atoi(argv[2]), atol(argv[3]));
    }
    if (argc == 6 && strcmp(argv[1], "relay") == 0) {
        set_len(argv[5]);
        return relay(argv[2], atoi(argv[3]), argv[4], argv[5]);
    }
    if (argc == 4 && strcmp(argv[1], "ptyread") == 0)
        return ptyread(argv[0], argv[2], argv[3]);
    if (argc >= 4 && strcmp(argv[1], "own") == 0)
        return own(argv[2], argv + 3);
    fprintf(stderr, "usage: gen lines TAG N LEN [both] | gen check PAIRS N LEN | gen relay LOGDIR K N LEN | gen ptyread N LEN | gen own FILE CMD...\n");
    return 2;
}
