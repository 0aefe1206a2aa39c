/*
 * image — model images in POSIX shared memory, and model resolution.
 *
 * An image is one POSIX shared memory object named "/wf." NAME (on Linux,
 * the file /dev/shm/wf.NAME).  Its layout:
 *
 *   [0, sizeof header)                struct wf_image_header
 *   [payload_offset, +payload_size)   the payload: a GGUF file's bytes
 *                                     (payload_offset is page-aligned, so
 *                                     the GGUF's own alignment holds)
 *
 * and the object's size is exactly total_size = payload_offset +
 * payload_size.  A builder creates the object with O_CREAT|O_EXCL, writes
 * the header (ready = 0, its own pid) on the first page, reserves every
 * byte with posix_fallocate() (a full /dev/shm fails at build time, not
 * with SIGBUS later), fills the payload, and LAST stores WF_IMAGE_READY
 * into header.ready with release semantics.  Readers
 * load ready with acquire semantics, so once they see it every payload byte
 * is visible.  A loader that dies before publishing leaves an object that
 * never becomes ready; attaching it fails and `wf-shm ls` calls it stale.
 *
 * Readers map images PROT_READ, MAP_SHARED: N processes share one copy of
 * the pages and none can modify them.
 *
 * Errors: functions return 0 / -1 (or NULL) and write one line, without a
 * trailing newline, into the caller's err[errlen] buffer; nothing prints.
 */
#ifndef WF_IMAGE_H
#define WF_IMAGE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define WF_IMAGE_MAGIC "WFIMAGE"       /* 8 bytes with the NUL */
/* 2 (2026-12-04): the output matrix's 8-bit copy as WF_Q8R (`wf.output_q8r`)
 * where version 1 held row-scaled Q8_0 (`wf.output_q8_0`) */
#define WF_IMAGE_VERSION 2
#define WF_IMAGE_READY 0x59444552u     /* "REDY": header.ready once published */
#define WF_IMAGE_PREFIX "/wf."         /* shm object name = prefix + NAME */
#define WF_IMAGE_DIR "/dev/shm"        /* where Linux shows shm objects */
#define WF_IMAGE_NAME_MAX 64           /* bytes of NAME, without the NUL */
#define WF_IMAGE_PATH_MAX 2048         /* bytes of source path kept, with the NUL */

/* What the payload holds. */
enum wf_image_payload {
	WF_IMAGE_PAYLOAD_GGUF = 1,     /* the source GGUF's bytes, unchanged */
	WF_IMAGE_PAYLOAD_REPACKED = 2  /* a GGUF rewritten in the kernels' layout */
};

/*
 * The header at offset 0.  Native byte order (an image never leaves its
 * machine).  Every field but ready is written before the payload and never
 * changes after; ready goes 0 -> WF_IMAGE_READY once, last.
 */
struct wf_image_header {
	char magic[8];                 /* WF_IMAGE_MAGIC */
	uint32_t version;              /* WF_IMAGE_VERSION */
	uint32_t header_size;          /* sizeof(struct wf_image_header) */
	_Atomic uint32_t ready;        /* 0 while building, then WF_IMAGE_READY */
	uint32_t payload_kind;         /* enum wf_image_payload */
	uint64_t payload_offset;       /* page-aligned, >= header_size */
	uint64_t payload_size;
	uint64_t total_size;           /* payload_offset + payload_size == object size */
	/* The source file, as fstat() saw it when the build began. */
	uint64_t src_dev;
	uint64_t src_ino;
	uint64_t src_size;
	int64_t src_mtime_sec;
	int64_t src_mtime_nsec;
	/* The builder. creator_start is its start time in clock ticks since
	 * boot (Linux /proc/PID/stat field 22; 0 if unknown), so a recycled
	 * pid is not mistaken for a live builder. */
	int64_t creator_pid;
	uint64_t creator_start;
	int64_t created_sec;           /* CLOCK_REALTIME when the build began */
	int64_t created_nsec;
	uint64_t reserved[8];          /* zero */
	char name[WF_IMAGE_NAME_MAX + 8];  /* NAME, NUL-terminated */
	char src_path[WF_IMAGE_PATH_MAX];  /* absolute source path, NUL-terminated
	                                    * (truncated if longer) */
};

/* ---------------------------------------------------------------------- */
/* Names. */

/* 0 if name is a valid image NAME: 1..WF_IMAGE_NAME_MAX bytes of
 * [A-Za-z0-9._-], starting with a letter, digit or '_'.  Else -1 with
 * "invalid image name 'X': ..." in err. */
int wf_image_name_ok(const char *name, char *err, size_t errlen);

/*
 * The default NAME for a model file at path: its basename without a final
 * ".gguf" (any case), every byte outside [A-Za-z0-9._-] replaced by '_', a
 * leading '.' or '-' replaced by '_', cut to WF_IMAGE_NAME_MAX bytes;
 * "model" if nothing is left.  Writes into out[outlen] (outlen >
 * WF_IMAGE_NAME_MAX); the result always passes wf_image_name_ok().
 */
void wf_image_default_name(const char *path, char *out, size_t outlen);

/* ---------------------------------------------------------------------- */
/* Building. */

struct wf_image_builder {
	char name[WF_IMAGE_NAME_MAX + 1];
	int fd;
	uint8_t *map;                  /* writable mapping of the whole object */
	size_t map_size;
	uint8_t *payload;              /* map + payload_offset: fill this */
	uint64_t payload_size;
	uint64_t written;              /* bytes appended by wf_image_sink() */
	int created;                   /* the object is ours to remove on abort */
	int published;
};

/*
 * Create image NAME for a payload of payload_size bytes, built from the
 * file at src_path whose fstat() is *src_st.  mode is the object's
 * permission bits (0600 is the default to use).  Creates "/wf.NAME" with
 * O_CREAT|O_EXCL ("image 'NAME' already exists" if taken), reserves the
 * space with posix_fallocate() ("image 'NAME': cannot reserve N bytes in
 * shared memory: No space left on device"), maps it read-write and writes
 * the header with ready = 0.  On success the caller fills b->payload —
 * directly, or through wf_image_sink() — then calls wf_image_publish(), or
 * wf_image_abort() on any failure.  On failure nothing is left behind.
 */
int wf_image_create(struct wf_image_builder *b, const char *name, mode_t mode, uint64_t payload_size,
                    uint32_t payload_kind, const char *src_path, const struct stat *src_st,
                    char *err, size_t errlen);

/* A wf_gguf_sink (see gguf.h) appending to the payload; ctx is the
 * struct wf_image_builder.  Writing past payload_size is an error. */
int wf_image_sink(void *ctx, const void *buf, size_t n, char *err, size_t errlen);

/*
 * Publish: check that the payload parses as GGUF (wf_gguf_parse) and, if
 * wf_image_sink() was used, that it wrote exactly payload_size bytes; then
 * store ready with release semantics, unmap and close.  Fails too when the
 * name no longer refers to this object (the image was removed while it was
 * built).  On failure the image is not published (call wf_image_abort()).
 */
int wf_image_publish(struct wf_image_builder *b, char *err, size_t errlen);

/* Unmap, close and, unless published, remove the object, if the name
 * still refers to it (another loader may have made a new image of that
 * name after this one was removed).  Returns 1 when it removed it, else 0.
 * Safe to call after a failed create or after publish (then it only
 * releases). */
int wf_image_abort(struct wf_image_builder *b);

/* ---------------------------------------------------------------------- */
/* Attaching. */

struct wf_image {
	char name[WF_IMAGE_NAME_MAX + 1];
	const struct wf_image_header *hdr;
	const void *map;               /* the whole object, PROT_READ */
	size_t map_size;
	const void *payload;           /* map + payload_offset */
	size_t payload_size;
};

/*
 * Attach the READY image NAME read-only.  Refuses, each with its message:
 *   no such object         "no image 'NAME'"
 *   another user's object  "image 'NAME' belongs to nobody (uid 65534), not to root (uid 0)"
 *   too small for a header "image 'NAME': size N bytes is too small for a header"
 *   bad magic / version    "image 'NAME': bad magic (not a wf image)" /
 *                          "image 'NAME': format version N, expected 2 (made by another
 *                           version of wf: remove it with 'wf-shm rm NAME' and load the
 *                           model again)"
 *   not ready              "image 'NAME' is not ready: its loader (pid N) is still building it" /
 *                          "image 'NAME' is not ready: its loader (pid N) died before finishing
 *                           (remove it with 'wf-shm rm --stale')"
 *   size vs header         "image 'NAME': size N bytes disagrees with its header (M bytes)"
 * An image whose source file changed since it was built still attaches by
 * name (its bytes are consistent); only lookups by path skip it.
 */
int wf_image_attach(struct wf_image *im, const char *name, char *err, size_t errlen);

/*
 * Find and attach the ready image built from the file with *st (same
 * st_dev, st_ino, st_size and st_mtim), owned by this user, that attaches
 * cleanly; among several the one with the smallest name.  Returns 1 when
 * attached, 0 when there is none (not an error), -1 only when the image
 * directory cannot be read for another reason than its absence.
 */
int wf_image_find(struct wf_image *im, const struct stat *st, char *err, size_t errlen);

/* Unmap.  Safe on a zeroed or already detached struct. */
void wf_image_detach(struct wf_image *im);

/* ---------------------------------------------------------------------- */
/* Inspecting (for wf-shm ls/info; never needs the image to be ready). */

enum wf_image_state {
	WF_IMAGE_STATE_READY,
	WF_IMAGE_STATE_BUILDING,       /* not ready, its loader is alive */
	WF_IMAGE_STATE_STALE,          /* loader died, or source changed / gone */
	WF_IMAGE_STATE_DAMAGED,        /* bad magic, version or size */
	WF_IMAGE_STATE_UNREADABLE      /* cannot be opened (permissions) */
};

struct wf_image_info {
	char name[WF_IMAGE_NAME_MAX + 1];
	struct stat st;                /* of the object */
	int have_header;               /* hdr below is valid (magic and version ok) */
	struct wf_image_header hdr;    /* a copy; hdr.ready as read */
	enum wf_image_state state;
	char reason[256];              /* why not ready, e.g. "source changed (mtime)" */
};

/* "ready", "building", "stale", "damaged", "unreadable". */
const char *wf_image_state_name(enum wf_image_state s);

/* Read image NAME's header and classify it.  -1 only when there is no
 * such image or name is invalid ("no image 'NAME'"). */
int wf_image_inspect(const char *name, struct wf_image_info *info, char *err, size_t errlen);

/*
 * The names of all images (objects "/wf.NAME" with valid NAMEs), sorted.
 * *names is one malloc'd block (free it with free()); *n its count.  No
 * image directory means no images.  -1 on a read or allocation error.
 */
int wf_image_list(char ***names, size_t *n, char *err, size_t errlen);

/* Remove image NAME (shm_unlink); "no image 'NAME'" if absent.  If it is
 * the default image, the default mark is removed too. */
int wf_image_remove(const char *name, char *err, size_t errlen);

/* ---------------------------------------------------------------------- */
/*
 * The default image.  The mark is a tiny shm object "/wf-default.UID"
 * (per user, since images of other users cannot be attached) holding the
 * NAME.  It lies outside the "/wf." namespace, so it is never listed as an
 * image.
 */

/* Mark NAME (must be valid) as this user's default image. */
int wf_image_set_default(const char *name, char *err, size_t errlen);

/* The default NAME into out[outlen]: 1 when set, 0 when there is no mark,
 * -1 when the mark is unreadable, foreign or invalid. */
int wf_image_get_default(char *out, size_t outlen, char *err, size_t errlen);

/* Remove the mark (no mark is fine). */
int wf_image_clear_default(char *err, size_t errlen);

/* ---------------------------------------------------------------------- */
/*
 * Model resolution, shared by every program.
 *
 * wf_model_open(arg): arg is the -m value or NULL.
 *   arg NULL    -> $WF_MODEL if set and not empty (same rules), else the
 *                  default image; with none of them:
 *                  "no model: use -m FILE|IMAGE, set WF_MODEL, or mark a
 *                   default image with 'wf-shm load --default FILE'"
 *   "shm:NAME"  -> image NAME
 *   an existing file -> the ready image built from that file if there is
 *                  one, else a read-only mmap of the file (fstat, map
 *                  exactly st_size, fd kept open until close)
 *   otherwise   -> image by that name; "ARG: no such file or image"
 * The GGUF bytes are then (base, size): hand them to wf_gguf_parse().
 * Messages about a model given by $WF_MODEL start "WF_MODEL: ".
 */
struct wf_model_src {
	const void *base;              /* the GGUF bytes */
	size_t size;
	char name[WF_IMAGE_PATH_MAX];  /* for messages: the file path or image name given */
	int is_image;                  /* 1: an attached image, 0: a mapped file */
	char image[WF_IMAGE_NAME_MAX + 1]; /* the image's NAME when is_image, else "" */
	uint32_t payload_kind;         /* WF_IMAGE_PAYLOAD_*; GGUF for a file */
	/* private */
	struct wf_image im;
	int has_fd;
	int fd;
	void *fmap;
	size_t fmap_size;
};

int wf_model_open(const char *arg, struct wf_model_src *src, char *err, size_t errlen);

/* Unmap and close.  Safe on a zeroed or already closed struct. */
void wf_model_close(struct wf_model_src *src);

#endif
