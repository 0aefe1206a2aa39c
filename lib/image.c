/*
 * image — model images in POSIX shared memory.  See image.h for the
 * layout and the publication protocol.
 */
#include "image.h"
#include "errf.h"
#include "gguf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(struct wf_image_header) <= 4096, "image header must fit in one page");
_Static_assert(sizeof(WF_IMAGE_MAGIC) == 8, "magic is 8 bytes with its NUL");

#define DEFAULT_MARK_SIZE 128 /* bytes of the default mark object */

/* WF_IMAGE_PREFIX as a file name in WF_IMAGE_DIR. */
static const char file_prefix[] = "wf.";

/* "/wf.NAME" into buf (NAME already validated). */
static void obj_name(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", WF_IMAGE_PREFIX, name);
}

/* "/dev/shm/wf.NAME": only for stat() where shm_open cannot tell us. */
static void obj_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s%s", WF_IMAGE_DIR, file_prefix, name);
}

static int name_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

int wf_image_name_ok(const char *name, char *err, size_t errlen)
{
	size_t n, i;
	if (!name || !*name) {
		wf_errf(err, errlen, "invalid image name '': empty");
		return -1;
	}
	n = strlen(name);
	if (n > WF_IMAGE_NAME_MAX) {
		wf_errf(err, errlen, "invalid image name '%.*s...': longer than %d bytes", 16, name,
		    WF_IMAGE_NAME_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!name_char(c)) {
			if (c >= 0x20 && c < 0x7f)
				wf_errf(err, errlen, "invalid image name '%s': '%c' is not allowed (use A-Z a-z 0-9 . _ -)",
				    name, c);
			else
				wf_errf(err, errlen, "invalid image name: byte 0x%02x is not allowed (use A-Z a-z 0-9 . _ -)", c);
			return -1;
		}
	}
	if (name[0] == '.' || name[0] == '-') {
		wf_errf(err, errlen, "invalid image name '%s': must start with a letter, digit or '_'", name);
		return -1;
	}
	return 0;
}

void wf_image_default_name(const char *path, char *out, size_t outlen)
{
	const char *b = strrchr(path, '/');
	size_t n, i, k = 0;
	b = b ? b + 1 : path;
	n = strlen(b);
	if (n >= 5 && strcasecmp(b + n - 5, ".gguf") == 0)
		n -= 5;
	for (i = 0; i < n && k < WF_IMAGE_NAME_MAX && k + 1 < outlen; i++) {
		unsigned char c = (unsigned char)b[i];
		out[k++] = name_char(c) ? (char)c : '_';
	}
	out[k] = '\0';
	if (k && (out[0] == '.' || out[0] == '-'))
		out[0] = '_';
	if (!k)
		snprintf(out, outlen, "model");
}

/* ---------------------------------------------------------------------- */
/* Processes. */

/*
 * Start time (clock ticks since boot, /proc/PID/stat field 22) of pid, and
 * whether it is a zombie.  0 if unknown (no /proc, or no such process).
 */
static uint64_t proc_start(long pid, int *zombie)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd, field;
	*zombie = 0;
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may hold spaces and ')': fields resume after the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	for (field = 3; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return 0;
		if (field == 3 && (*p == 'Z' || *p == 'X'))
			*zombie = 1;
		if (field == 22)
			return strtoull(p, NULL, 10);
		while (*p && *p != ' ')
			p++;
	}
	return 0;
}

/* 1 if the loader recorded in h is still running. */
static int loader_alive(const struct wf_image_header *h)
{
	int zombie;
	uint64_t start;
	if (h->creator_pid <= 0 || h->creator_pid > INT_MAX)
		return 0;
	if (kill((pid_t)h->creator_pid, 0) != 0 && errno != EPERM)
		return 0;
	start = proc_start((long)h->creator_pid, &zombie);
	if (zombie)
		return 0;
	if (start && h->creator_start && start != h->creator_start)
		return 0; /* the pid was recycled */
	return 1;
}

/* "root (uid 0)" or "uid 1234" into buf. */
static void user_desc(uid_t uid, char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];
	if (getpwuid_r(uid, &pw, tmp, sizeof tmp, &res) == 0 && res && res->pw_name)
		snprintf(buf, len, "%s (uid %lu)", res->pw_name, (unsigned long)uid);
	else
		snprintf(buf, len, "uid %lu", (unsigned long)uid);
}

static void foreign_msg(const char *what, uid_t owner, char *err, size_t errlen)
{
	char a[128], b[128];
	user_desc(owner, a, sizeof a);
	user_desc(geteuid(), b, sizeof b);
	wf_errf(err, errlen, "%s belongs to %s, not to %s", what, a, b);
}

/* ---------------------------------------------------------------------- */
/* Building. */

static size_t page_size(void)
{
	long p = sysconf(_SC_PAGESIZE);
	return p >= 4096 ? (size_t)p : 4096;
}

int wf_image_create(struct wf_image_builder *b, const char *name, mode_t mode, uint64_t payload_size,
                    uint32_t payload_kind, const char *src_path, const struct stat *src_st,
                    char *err, size_t errlen)
{
	char obj[WF_IMAGE_NAME_MAX + 8], real[PATH_MAX];
	uint64_t off, total;
	struct wf_image_header *h;
	struct timespec now;
	int r, zombie;

	memset(b, 0, sizeof *b);
	b->fd = -1;
	if (wf_image_name_ok(name, err, errlen) < 0)
		return -1;
	snprintf(b->name, sizeof b->name, "%s", name);
	if (mode & ~(mode_t)0777) {
		wf_errf(err, errlen, "image '%s': mode %04o is not a permission mode (0000..0777)", name,
		    (unsigned)mode);
		return -1;
	}
	off = (sizeof *h + page_size() - 1) / page_size() * page_size();
	total = off + payload_size;
	if (total < payload_size || total > (uint64_t)SIZE_MAX || total > (uint64_t)INT64_MAX) {
		wf_errf(err, errlen, "image '%s': payload of %llu bytes is too large", name,
		    (unsigned long long)payload_size);
		return -1;
	}
	obj_name(name, obj, sizeof obj);
	b->fd = shm_open(obj, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (b->fd < 0) {
		if (errno == EEXIST)
			wf_errf(err, errlen, "image '%s' already exists", name);
		else
			wf_errf(err, errlen, "image '%s': cannot create shared memory object %s: %s", name, obj,
			    strerror(errno));
		return -1;
	}
	b->created = 1;
	/* shm_open applied the umask; the caller asked for exactly mode. */
	if (fchmod(b->fd, mode) < 0) {
		wf_errf(err, errlen, "image '%s': chmod %04o: %s", name, (unsigned)mode, strerror(errno));
		goto fail;
	}
	/* The header goes in first, on a one-page object, so that from here on
	 * a reader sees who is building it (state "building", not "damaged")
	 * even while posix_fallocate() below is still at work. */
	if (ftruncate(b->fd, (off_t)off) < 0) {
		wf_errf(err, errlen, "image '%s': cannot reserve %llu bytes in shared memory: %s", name,
		    (unsigned long long)off, strerror(errno));
		goto fail;
	}
	h = mmap(NULL, (size_t)off, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	if (h == MAP_FAILED) {
		wf_errf(err, errlen, "image '%s': mmap of %llu bytes: %s", name, (unsigned long long)off,
		    strerror(errno));
		goto fail;
	}
	memcpy(h->magic, WF_IMAGE_MAGIC, sizeof h->magic);
	h->version = WF_IMAGE_VERSION;
	h->header_size = sizeof *h;
	atomic_store_explicit(&h->ready, 0, memory_order_relaxed);
	h->payload_kind = payload_kind;
	h->payload_offset = off;
	h->payload_size = payload_size;
	h->total_size = total;
	if (src_st) {
		h->src_dev = (uint64_t)src_st->st_dev;
		h->src_ino = (uint64_t)src_st->st_ino;
		h->src_size = (uint64_t)src_st->st_size;
		h->src_mtime_sec = (int64_t)src_st->st_mtim.tv_sec;
		h->src_mtime_nsec = (int64_t)src_st->st_mtim.tv_nsec;
	}
	h->creator_pid = (int64_t)getpid();
	h->creator_start = proc_start((long)getpid(), &zombie);
	clock_gettime(CLOCK_REALTIME, &now);
	h->created_sec = (int64_t)now.tv_sec;
	h->created_nsec = (int64_t)now.tv_nsec;
	snprintf(h->name, sizeof h->name, "%s", name);
	if (src_path) {
		size_t l;
		if (realpath(src_path, real))
			src_path = real;
		l = strnlen(src_path, sizeof h->src_path - 1);
		memcpy(h->src_path, src_path, l); /* cut if longer; the rest is zero */
	}
	munmap(h, (size_t)off);

	/* Reserve every byte now: a full /dev/shm is an error here, never a
	 * SIGBUS when a page is first touched. */
	r = posix_fallocate(b->fd, 0, (off_t)total);
	if (r == EINVAL || r == EOPNOTSUPP) /* no fallocate for shm here: size only */
		r = ftruncate(b->fd, (off_t)total) < 0 ? errno : 0;
	if (r) {
		wf_errf(err, errlen, "image '%s': cannot reserve %llu bytes in shared memory: %s", name,
		    (unsigned long long)total, strerror(r));
		goto fail;
	}
	b->map = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		wf_errf(err, errlen, "image '%s': mmap of %llu bytes: %s", name, (unsigned long long)total,
		    strerror(errno));
		goto fail;
	}
	b->map_size = (size_t)total;
	b->payload = b->map + off;
	b->payload_size = payload_size;
	return 0;
fail:
	wf_image_abort(b);
	return -1;
}

int wf_image_sink(void *ctx, const void *buf, size_t n, char *err, size_t errlen)
{
	struct wf_image_builder *b = ctx;
	if (n > b->payload_size - b->written) {
		wf_errf(err, errlen, "image '%s': payload overflow (%llu + %zu bytes > %llu)", b->name,
		    (unsigned long long)b->written, n, (unsigned long long)b->payload_size);
		return -1;
	}
	memcpy(b->payload + b->written, buf, n);
	b->written += n;
	return 0;
}

/* Whether b's name still refers to the object b created (not removed,
 * nor removed and made again by another loader). */
static int still_ours(const struct wf_image_builder *b)
{
	char obj[WF_IMAGE_NAME_MAX + 8];
	struct stat a, c;
	obj_name(b->name, obj, sizeof obj);
	int fd = shm_open(obj, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int same = fstat(fd, &c) == 0 && fstat(b->fd, &a) == 0 && a.st_dev == c.st_dev && a.st_ino == c.st_ino;
	close(fd);
	return same;
}

int wf_image_publish(struct wf_image_builder *b, char *err, size_t errlen)
{
	struct wf_gguf g;
	struct wf_image_header *h;
	char e[256];
	if (!b->map || b->published) {
		wf_errf(err, errlen, "image '%s': nothing to publish", b->name);
		return -1;
	}
	if (b->written && b->written != b->payload_size) {
		wf_errf(err, errlen, "image '%s': payload incomplete (%llu of %llu bytes written)", b->name,
		    (unsigned long long)b->written, (unsigned long long)b->payload_size);
		return -1;
	}
	if (wf_gguf_parse(&g, b->payload, (size_t)b->payload_size, e, sizeof e) < 0) {
		wf_errf(err, errlen, "image '%s': payload is not a valid GGUF: %s", b->name, e);
		return -1;
	}
	wf_gguf_free(&g);
	if (!still_ours(b)) {
		wf_errf(err, errlen, "image '%s': removed while it was being built", b->name);
		return -1;
	}
	h = (struct wf_image_header *)b->map;
	/* Release: every byte written above is visible to a reader whose
	 * acquire load sees WF_IMAGE_READY. */
	atomic_store_explicit(&h->ready, WF_IMAGE_READY, memory_order_release);
	b->published = 1;
	munmap(b->map, b->map_size);
	b->map = NULL;
	b->payload = NULL;
	close(b->fd);
	b->fd = -1;
	return 0;
}

int wf_image_abort(struct wf_image_builder *b)
{
	char obj[WF_IMAGE_NAME_MAX + 8];
	/* the name is removed only while it is still this builder's object:
	 * another loader may have made a new image of that name meanwhile */
	int ours = b->created && !b->published && b->fd >= 0 && still_ours(b);
	if (b->map)
		munmap(b->map, b->map_size);
	b->map = NULL;
	b->payload = NULL;
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	if (ours) {
		obj_name(b->name, obj, sizeof obj);
		shm_unlink(obj);
	}
	b->created = 0;
	return ours;
}

/* ---------------------------------------------------------------------- */
/* Checking a header. */

/*
 * Check header h (a mapping or copy of at least sizeof *h bytes) of image
 * name against the object's size.  Returns 0 if attachable, else -1 with a
 * message and *state set.  ready is loaded with acquire semantics.
 */
static int check_header(const struct wf_image_header *h, uint64_t objsize, const char *name,
                        enum wf_image_state *state, char *err, size_t errlen)
{
	*state = WF_IMAGE_STATE_DAMAGED;
	if (memcmp(h->magic, WF_IMAGE_MAGIC, sizeof h->magic) != 0) {
		wf_errf(err, errlen, "image '%s': bad magic (not a wf image)", name);
		return -1;
	}
	if (h->version != WF_IMAGE_VERSION) {
		wf_errf(err, errlen,
		        "image '%s': format version %u, expected %u (made by another version of wf: "
		        "remove it with 'wf-shm rm %s' and load the model again)",
		        name, h->version, WF_IMAGE_VERSION, name);
		return -1;
	}
	if (h->header_size != sizeof *h) {
		wf_errf(err, errlen, "image '%s': header size %u, expected %zu", name, h->header_size, sizeof *h);
		return -1;
	}
	/* Not ready first: a builder's object may not have its full size yet. */
	if (atomic_load_explicit(&h->ready, memory_order_acquire) != WF_IMAGE_READY) {
		if (loader_alive(h)) {
			*state = WF_IMAGE_STATE_BUILDING;
			wf_errf(err, errlen, "image '%s' is not ready: its loader (pid %lld) is still building it", name,
			    (long long)h->creator_pid);
		} else {
			*state = WF_IMAGE_STATE_STALE;
			wf_errf(err, errlen,
			    "image '%s' is not ready: its loader (pid %lld) died before finishing "
			    "(remove it with 'wf-shm rm --stale')",
			    name, (long long)h->creator_pid);
		}
		return -1;
	}
	if (h->total_size != objsize) {
		wf_errf(err, errlen, "image '%s': size %llu bytes disagrees with its header (%llu bytes)", name,
		    (unsigned long long)objsize, (unsigned long long)h->total_size);
		return -1;
	}
	if (h->payload_offset < h->header_size || h->payload_offset > h->total_size ||
	    h->payload_size != h->total_size - h->payload_offset) {
		wf_errf(err, errlen, "image '%s': payload (offset %llu, %llu bytes) does not fill the image (%llu bytes)",
		    name, (unsigned long long)h->payload_offset, (unsigned long long)h->payload_size,
		    (unsigned long long)h->total_size);
		return -1;
	}
	*state = WF_IMAGE_STATE_READY;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Attaching. */

/* As wf_image_attach; *missing = 1 when there is no such object. */
static int attach(struct wf_image *im, const char *name, int *missing, char *err, size_t errlen)
{
	char obj[WF_IMAGE_NAME_MAX + 8], path[WF_IMAGE_NAME_MAX + 32], what[WF_IMAGE_NAME_MAX + 16];
	struct stat st;
	enum wf_image_state state;
	void *map;
	int fd;

	memset(im, 0, sizeof *im);
	*missing = 0;
	if (wf_image_name_ok(name, err, errlen) < 0)
		return -1;
	obj_name(name, obj, sizeof obj);
	snprintf(what, sizeof what, "image '%s'", name);
	fd = shm_open(obj, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT) {
			*missing = 1;
			wf_errf(err, errlen, "no image '%s'", name);
		} else if (e == EACCES && (obj_path(name, path, sizeof path), stat(path, &st) == 0) &&
		           st.st_uid != geteuid()) {
			foreign_msg(what, st.st_uid, err, errlen);
		} else {
			wf_errf(err, errlen, "image '%s': %s", name, strerror(e));
		}
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		wf_errf(err, errlen, "image '%s': fstat: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		foreign_msg(what, st.st_uid, err, errlen);
		close(fd);
		return -1;
	}
	if (st.st_size < (off_t)sizeof(struct wf_image_header) || (uint64_t)st.st_size > SIZE_MAX) {
		wf_errf(err, errlen, "image '%s': size %lld bytes is too small for a header", name,
		    (long long)st.st_size);
		close(fd);
		return -1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		wf_errf(err, errlen, "image '%s': mmap of %lld bytes: %s", name, (long long)st.st_size,
		    strerror(errno));
		return -1;
	}
	if (check_header(map, (uint64_t)st.st_size, name, &state, err, errlen) < 0) {
		munmap(map, (size_t)st.st_size);
		return -1;
	}
	snprintf(im->name, sizeof im->name, "%s", name);
	im->map = map;
	im->map_size = (size_t)st.st_size;
	im->hdr = map;
	im->payload = (const uint8_t *)map + im->hdr->payload_offset;
	im->payload_size = (size_t)im->hdr->payload_size;
	return 0;
}

int wf_image_attach(struct wf_image *im, const char *name, char *err, size_t errlen)
{
	int missing;
	return attach(im, name, &missing, err, errlen);
}

void wf_image_detach(struct wf_image *im)
{
	if (im->map)
		munmap((void *)im->map, im->map_size);
	memset(im, 0, sizeof *im);
}

static int same_source(const struct wf_image_header *h, const struct stat *st)
{
	return h->src_dev == (uint64_t)st->st_dev && h->src_ino == (uint64_t)st->st_ino &&
	       h->src_size == (uint64_t)st->st_size && h->src_mtime_sec == (int64_t)st->st_mtim.tv_sec &&
	       h->src_mtime_nsec == (int64_t)st->st_mtim.tv_nsec;
}

int wf_image_find(struct wf_image *im, const struct stat *st, char *err, size_t errlen)
{
	char **names;
	size_t n, i;
	char e[256];
	memset(im, 0, sizeof *im);
	if (wf_image_list(&names, &n, err, errlen) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		int missing;
		if (attach(im, names[i], &missing, e, sizeof e) < 0)
			continue;
		if (same_source(im->hdr, st)) {
			free(names);
			return 1;
		}
		wf_image_detach(im);
	}
	free(names);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Inspecting. */

const char *wf_image_state_name(enum wf_image_state s)
{
	switch (s) {
	case WF_IMAGE_STATE_READY: return "ready";
	case WF_IMAGE_STATE_BUILDING: return "building";
	case WF_IMAGE_STATE_STALE: return "stale";
	case WF_IMAGE_STATE_DAMAGED: return "damaged";
	case WF_IMAGE_STATE_UNREADABLE: return "unreadable";
	}
	return "?";
}

/* Why the source of a ready image no longer matches, or "" if it does. */
static void source_check(const struct wf_image_header *h, char *why, size_t len)
{
	struct stat st;
	char diff[64] = "";
	why[0] = '\0';
	if (!h->src_path[0])
		return;
	if (stat(h->src_path, &st) < 0) {
		if (errno == ENOENT)
			snprintf(why, len, "source file is gone");
		else
			snprintf(why, len, "source file cannot be checked: %s", strerror(errno));
		return;
	}
	if (h->src_dev != (uint64_t)st.st_dev)
		strcat(diff, ", device");
	if (h->src_ino != (uint64_t)st.st_ino)
		strcat(diff, ", inode");
	if (h->src_size != (uint64_t)st.st_size)
		strcat(diff, ", size");
	if (h->src_mtime_sec != (int64_t)st.st_mtim.tv_sec || h->src_mtime_nsec != (int64_t)st.st_mtim.tv_nsec)
		strcat(diff, ", mtime");
	if (diff[0])
		snprintf(why, len, "source file changed (%s)", diff + 2);
}

int wf_image_inspect(const char *name, struct wf_image_info *info, char *err, size_t errlen)
{
	char obj[WF_IMAGE_NAME_MAX + 8], path[WF_IMAGE_NAME_MAX + 32], e[256];
	const struct wf_image_header *h;
	void *map;
	int fd;

	memset(info, 0, sizeof *info);
	if (wf_image_name_ok(name, err, errlen) < 0)
		return -1;
	snprintf(info->name, sizeof info->name, "%s", name);
	obj_name(name, obj, sizeof obj);
	fd = shm_open(obj, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		int en = errno;
		obj_path(name, path, sizeof path);
		if (en != ENOENT && stat(path, &info->st) == 0) {
			info->state = WF_IMAGE_STATE_UNREADABLE;
			snprintf(info->reason, sizeof info->reason, "%s", strerror(en));
			return 0;
		}
		wf_errf(err, errlen, "no image '%s'", name);
		return -1;
	}
	if (fstat(fd, &info->st) < 0) {
		info->state = WF_IMAGE_STATE_UNREADABLE;
		snprintf(info->reason, sizeof info->reason, "fstat: %s", strerror(errno));
		close(fd);
		return 0;
	}
	if (info->st.st_size < (off_t)sizeof *h) {
		info->state = WF_IMAGE_STATE_DAMAGED;
		snprintf(info->reason, sizeof info->reason, "size %lld bytes is too small for a header",
		         (long long)info->st.st_size);
		close(fd);
		return 0;
	}
	map = mmap(NULL, sizeof *h, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		info->state = WF_IMAGE_STATE_UNREADABLE;
		snprintf(info->reason, sizeof info->reason, "mmap: %s", strerror(errno));
		return 0;
	}
	h = map;
	if (check_header(h, (uint64_t)info->st.st_size, name, &info->state, e, sizeof e) < 0) {
		/* the message after "image 'NAME': " or "image 'NAME' is not ready: " */
		const char *r = strstr(e, "': ");
		r = r ? r + 3 : (r = strstr(e, "ready: ")) ? r + 7 : e;
		snprintf(info->reason, sizeof info->reason, "%s", r);
	}
	if (memcmp(h->magic, WF_IMAGE_MAGIC, sizeof h->magic) == 0 && h->version == WF_IMAGE_VERSION &&
	    h->header_size == sizeof *h) {
		info->have_header = 1;
		memcpy(&info->hdr, h, sizeof *h);
		info->hdr.name[sizeof info->hdr.name - 1] = '\0';
		info->hdr.src_path[sizeof info->hdr.src_path - 1] = '\0';
	}
	munmap(map, sizeof *h);
	if (info->state == WF_IMAGE_STATE_READY) {
		source_check(&info->hdr, info->reason, sizeof info->reason);
		if (info->reason[0])
			info->state = WF_IMAGE_STATE_STALE;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int wf_image_list(char ***names, size_t *n, char *err, size_t errlen)
{
	const char *pre = file_prefix;
	size_t pl = strlen(pre), cnt = 0, bytes = 0, cap = 0, i;
	char **v = NULL, **out, *s;
	struct dirent *d;
	DIR *dir;

	*names = NULL;
	*n = 0;
	dir = opendir(WF_IMAGE_DIR);
	if (!dir) {
		if (errno == ENOENT)
			return 0;
		wf_errf(err, errlen, "%s: %s", WF_IMAGE_DIR, strerror(errno));
		return -1;
	}
	while ((d = readdir(dir))) {
		char **nv;
		if (strncmp(d->d_name, pre, pl) != 0 || wf_image_name_ok(d->d_name + pl, NULL, 0) < 0)
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof *v);
			if (!nv)
				goto oom;
			v = nv;
		}
		if (!(v[cnt] = strdup(d->d_name + pl)))
			goto oom;
		bytes += strlen(v[cnt]) + 1;
		cnt++;
	}
	closedir(dir);
	dir = NULL;
	if (cnt)
		qsort(v, cnt, sizeof *v, cmp_str);
	/* one block: cnt pointers, then the strings */
	out = malloc(cnt * sizeof *out + bytes + 1);
	if (!out)
		goto oom;
	s = (char *)(out + cnt);
	for (i = 0; i < cnt; i++) {
		size_t l = strlen(v[i]) + 1;
		memcpy(s, v[i], l);
		out[i] = s;
		s += l;
		free(v[i]);
	}
	free(v);
	*names = out;
	*n = cnt;
	return 0;
oom:
	if (dir)
		closedir(dir);
	for (i = 0; i < cnt; i++)
		free(v[i]);
	free(v);
	wf_errf(err, errlen, "out of memory listing images");
	return -1;
}

int wf_image_remove(const char *name, char *err, size_t errlen)
{
	char obj[WF_IMAGE_NAME_MAX + 8], def[WF_IMAGE_NAME_MAX + 1], e[256];
	if (wf_image_name_ok(name, err, errlen) < 0)
		return -1;
	obj_name(name, obj, sizeof obj);
	if (shm_unlink(obj) < 0) {
		if (errno == ENOENT)
			wf_errf(err, errlen, "no image '%s'", name);
		else
			wf_errf(err, errlen, "image '%s': cannot remove: %s", name, strerror(errno));
		return -1;
	}
	if (wf_image_get_default(def, sizeof def, e, sizeof e) == 1 && strcmp(def, name) == 0)
		wf_image_clear_default(e, sizeof e);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The default mark. */

static void mark_name(char *buf, size_t len)
{
	snprintf(buf, len, "/wf-default.%lu", (unsigned long)geteuid());
}

int wf_image_set_default(const char *name, char *err, size_t errlen)
{
	char obj[64];
	struct stat st;
	char *map;
	int fd;
	if (wf_image_name_ok(name, err, errlen) < 0)
		return -1;
	mark_name(obj, sizeof obj);
	fd = shm_open(obj, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		wf_errf(err, errlen, "default mark %s: %s", obj, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid()) {
		if (st.st_uid != geteuid())
			foreign_msg("default mark", st.st_uid, err, errlen);
		else
			wf_errf(err, errlen, "default mark %s: fstat: %s", obj, strerror(errno));
		close(fd);
		return -1;
	}
	if (ftruncate(fd, DEFAULT_MARK_SIZE) < 0) {
		wf_errf(err, errlen, "default mark %s: %s", obj, strerror(errno));
		close(fd);
		return -1;
	}
	map = mmap(NULL, DEFAULT_MARK_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		wf_errf(err, errlen, "default mark %s: mmap: %s", obj, strerror(errno));
		return -1;
	}
	memset(map, 0, DEFAULT_MARK_SIZE);
	memcpy(map, name, strlen(name));
	munmap(map, DEFAULT_MARK_SIZE);
	return 0;
}

int wf_image_get_default(char *out, size_t outlen, char *err, size_t errlen)
{
	char obj[64], e[256];
	struct stat st;
	const char *map;
	size_t len;
	int fd;
	mark_name(obj, sizeof obj);
	out[0] = '\0';
	fd = shm_open(obj, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		wf_errf(err, errlen, "default mark %s: %s", obj, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		wf_errf(err, errlen, "default mark %s: fstat: %s", obj, strerror(errno));
		close(fd);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		foreign_msg("default mark", st.st_uid, err, errlen);
		close(fd);
		return -1;
	}
	if (st.st_size != DEFAULT_MARK_SIZE) {
		wf_errf(err, errlen, "default mark %s: size %lld bytes, expected %d", obj, (long long)st.st_size,
		    DEFAULT_MARK_SIZE);
		close(fd);
		return -1;
	}
	map = mmap(NULL, DEFAULT_MARK_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		wf_errf(err, errlen, "default mark %s: mmap: %s", obj, strerror(errno));
		return -1;
	}
	len = strnlen(map, DEFAULT_MARK_SIZE);
	if (len >= outlen || len > WF_IMAGE_NAME_MAX) {
		munmap((void *)map, DEFAULT_MARK_SIZE);
		wf_errf(err, errlen, "default mark %s: no valid image name in it", obj);
		return -1;
	}
	memcpy(out, map, len);
	out[len] = '\0';
	munmap((void *)map, DEFAULT_MARK_SIZE);
	if (wf_image_name_ok(out, e, sizeof e) < 0) {
		wf_errf(err, errlen, "default mark %s: %s", obj, e);
		out[0] = '\0';
		return -1;
	}
	return 1;
}

int wf_image_clear_default(char *err, size_t errlen)
{
	char obj[64];
	mark_name(obj, sizeof obj);
	if (shm_unlink(obj) < 0 && errno != ENOENT) {
		wf_errf(err, errlen, "default mark %s: cannot remove: %s", obj, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Model resolution. */

static const char no_model[] =
	"no model: use -m FILE|IMAGE, set WF_MODEL, or mark a default image with "
	"'wf-shm load --default FILE'";

/* Use image im (attached) as the model. */
static void use_image(struct wf_model_src *src, const char *display)
{
	snprintf(src->name, sizeof src->name, "%s", display);
	snprintf(src->image, sizeof src->image, "%s", src->im.name);
	src->is_image = 1;
	src->base = src->im.payload;
	src->size = src->im.payload_size;
	src->payload_kind = src->im.hdr->payload_kind;
}

/* Resolve arg by the -m rules; pre prefixes error messages. */
static int open_arg(const char *arg, const char *pre, struct wf_model_src *src, char *err, size_t errlen)
{
	char e[512];
	struct stat st;
	int missing, r;

	if (strncmp(arg, "shm:", 4) == 0) {
		if (attach(&src->im, arg + 4, &missing, e, sizeof e) < 0) {
			wf_errf(err, errlen, "%s%s", pre, e);
			return -1;
		}
		use_image(src, arg + 4);
		return 0;
	}
	if (stat(arg, &st) < 0) {
		int en = errno;
		if ((en == ENOENT || en == ENOTDIR) && wf_image_name_ok(arg, NULL, 0) == 0) {
			if (attach(&src->im, arg, &missing, e, sizeof e) < 0) {
				if (missing)
					wf_errf(err, errlen, "%s%s: no such file or image", pre, arg);
				else
					wf_errf(err, errlen, "%s%s", pre, e);
				return -1;
			}
			use_image(src, arg);
			return 0;
		}
		wf_errf(err, errlen, "%s%s: %s", pre, arg, strerror(en));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		wf_errf(err, errlen, "%s%s: not a regular file", pre, arg);
		return -1;
	}
	src->fd = open(arg, O_RDONLY | O_CLOEXEC);
	if (src->fd < 0) {
		wf_errf(err, errlen, "%s%s: %s", pre, arg, strerror(errno));
		return -1;
	}
	src->has_fd = 1;
	if (fstat(src->fd, &st) < 0) {
		wf_errf(err, errlen, "%s%s: fstat: %s", pre, arg, strerror(errno));
		wf_model_close(src);
		return -1;
	}
	r = wf_image_find(&src->im, &st, e, sizeof e);
	if (r == 1) {
		close(src->fd);
		src->fd = -1;
		src->has_fd = 0;
		use_image(src, arg);
		return 0;
	}
	/* No image (a listing error only means we cannot use one): map the file. */
	if ((uint64_t)st.st_size > SIZE_MAX) {
		wf_errf(err, errlen, "%s%s: %lld bytes do not fit in the address space", pre, arg,
		    (long long)st.st_size);
		wf_model_close(src);
		return -1;
	}
	snprintf(src->name, sizeof src->name, "%s", arg);
	src->payload_kind = WF_IMAGE_PAYLOAD_GGUF;
	if (st.st_size == 0) { /* mmap cannot map 0 bytes; the parser reports the empty file */
		static const uint8_t empty[1];
		src->base = empty;
		src->size = 0;
		return 0;
	}
	src->fmap = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, src->fd, 0);
	if (src->fmap == MAP_FAILED) {
		src->fmap = NULL;
		wf_errf(err, errlen, "%s%s: mmap: %s", pre, arg, strerror(errno));
		wf_model_close(src);
		return -1;
	}
	src->fmap_size = (size_t)st.st_size;
	src->base = src->fmap;
	src->size = src->fmap_size;
	return 0;
}

int wf_model_open(const char *arg, struct wf_model_src *src, char *err, size_t errlen)
{
	char def[WF_IMAGE_NAME_MAX + 1], e[512];
	int missing, r;

	memset(src, 0, sizeof *src);
	src->fd = -1;
	if (arg)
		return open_arg(arg, "", src, err, errlen);
	arg = getenv("WF_MODEL");
	if (arg && *arg)
		return open_arg(arg, "WF_MODEL: ", src, err, errlen);
	r = wf_image_get_default(def, sizeof def, e, sizeof e);
	if (r < 0) {
		wf_errf(err, errlen, "%s", e);
		return -1;
	}
	if (r == 0) {
		wf_errf(err, errlen, "%s", no_model);
		return -1;
	}
	if (attach(&src->im, def, &missing, e, sizeof e) < 0) {
		if (missing)
			wf_errf(err, errlen, "default image '%s' does not exist (mark another with 'wf-shm load --default FILE')",
			    def);
		else
			wf_errf(err, errlen, "default image: %s", e);
		return -1;
	}
	use_image(src, def);
	return 0;
}

void wf_model_close(struct wf_model_src *src)
{
	wf_image_detach(&src->im);
	if (src->fmap)
		munmap(src->fmap, src->fmap_size);
	src->fmap = NULL;
	if (src->has_fd && src->fd >= 0)
		close(src->fd);
	src->has_fd = 0;
	src->fd = -1;
	src->base = NULL;
	src->size = 0;
	src->is_image = 0;
}
