/* Seals on SQLite files; see dbseal.h. */
#include "store/dbseal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/fdio.h"

/* The first page holds SQLite's header (page size, page count, change
 * counter) and the root of the schema: most damage shows there. */
#define FIRST_PAGE 4096

/* What a seal says, as one line of text. */
static int describe(const char *path, char *out, size_t size)
{
	unsigned char page[FIRST_PAGE], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	struct stat sb;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int n;

	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -1;
	}
	do
		got = pread(fd, page, sizeof(page), 0);
	while (got < 0 && errno == EINTR);
	close(fd);
	if (got < 0 || EVP_Digest(page, (size_t)got, md, &mdlen, EVP_sha256(), NULL) != 1)
		return -1;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[2 * mdlen] = '\0';
	n = snprintf(out, size, "ferry seal 1 %ju %ju %jd %jd.%09ld %jd.%09ld %s\n",
		     (uintmax_t)sb.st_dev, (uintmax_t)sb.st_ino, (intmax_t)sb.st_size,
		     (intmax_t)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec, (intmax_t)sb.st_ctim.tv_sec,
		     sb.st_ctim.tv_nsec, hex);
	return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Files this process (or the parent it was forked from) checked or found
 * sealed: a parallel worker opens the files its parent opened and checked
 * minutes ago, and still holds open. */
#define VERIFIED_MAX 8
static struct {
	dev_t dev;
	ino_t ino;
} verified[VERIFIED_MAX];
static size_t nverified;

static bool same_file(const char *path, dev_t *dev, ino_t *ino)
{
	struct stat sb;

	if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
		return false;
	*dev = sb.st_dev;
	*ino = sb.st_ino;
	return true;
}

static int seal_path(const char *path, char *out, size_t size)
{
	int n = snprintf(out, size, "%s.seal", path);

	return n > 0 && (size_t)n < size ? 0 : -1;
}

bool db_seal_holds(const char *path)
{
	char seal[PATH_MAX], want[512], have[512];
	ssize_t got;
	dev_t dev;
	ino_t ino;
	int fd;

	if (same_file(path, &dev, &ino))
		for (size_t i = 0; i < nverified; i++)
			if (verified[i].dev == dev && verified[i].ino == ino)
				return true;
	if (seal_path(path, seal, sizeof(seal)) != 0 ||
	    (fd = open(seal, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return false;
	do
		got = read(fd, have, sizeof(have) - 1);
	while (got < 0 && errno == EINTR);
	close(fd);
	if (got <= 0)
		return false;
	have[got] = '\0';
	return describe(path, want, sizeof(want)) == 0 && strcmp(want, have) == 0;
}

void db_seal_break(const char *path)
{
	char seal[PATH_MAX];
	dev_t dev;
	ino_t ino;

	if (seal_path(path, seal, sizeof(seal)) == 0)
		unlink(seal);
	if (nverified < VERIFIED_MAX && same_file(path, &dev, &ino)) {
		verified[nverified].dev = dev;
		verified[nverified].ino = ino;
		nverified++;
	}
}

void db_seal_make(const char *path)
{
	char seal[PATH_MAX], wal[PATH_MAX], line[512];
	struct stat sb;
	int fd;

	if (seal_path(path, seal, sizeof(seal)) != 0 ||
	    snprintf(wal, sizeof(wal), "%s-wal", path) >= (int)sizeof(wal) ||
	    lstat(wal, &sb) == 0 || errno != ENOENT || describe(path, line, sizeof(line)) != 0)
		return;
	fd = open(seal, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (fd_write_all(fd, line, strlen(line)) != 0) {
		close(fd);
		unlink(seal);
		return;
	}
	close(fd);
}
