/* Writing whole buffers to file descriptors. */
#ifndef FERRY_FDIO_H
#define FERRY_FDIO_H

#include <stddef.h>

/* Writes all len bytes, retrying short writes and EINTR. Returns 0, or -1
 * with errno set. */
int fd_write_all(int fd, const void *buf, size_t len);

#endif
