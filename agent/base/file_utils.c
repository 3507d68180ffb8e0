/*-------------------------------------------------------------------------
 *
 * file_utils.c
 *	  Durable local files (see file_utils.h).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/file_utils.h"
#include "spool.h"

/* nftw's callback has no argument: the removal under way, per thread. */
static __thread struct
{
	bool		keep_top;
	int			first_errno;
	char		first_path[PATH_MAX];
} removal;

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (ftw->level == 0 && removal.keep_top)
		return 0;
	if ((flag == FTW_DP || flag == FTW_DNR ? rmdir(path) : unlink(path)) != 0 &&
		errno != ENOENT && removal.first_errno == 0)
	{
		removal.first_errno = errno;
		snprintf(removal.first_path, sizeof(removal.first_path), "%s", path);
	}
	return 0;
}

int
rvx_remove_tree(const char *path, bool keep_top, RvxError *err)
{
	removal.keep_top = keep_top;
	removal.first_errno = 0;
	if (nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
		return rvx_error(err, RVX_E_IO, "could not remove \"%s\": %s", path, strerror(errno));
	if (removal.first_errno != 0)
		return rvx_error(err, RVX_E_IO, "could not remove \"%s\": %s", removal.first_path,
						 strerror(removal.first_errno));
	return 0;
}

int
rvx_fsync_dir(const char *dir, RvxError *err)
{
	int			fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return rvx_error(err, RVX_E_IO, "could not open directory \"%s\": %s",
						 dir, strerror(errno));
	if (fsync(fd) != 0)
	{
		int			save = errno;

		close(fd);
		return rvx_error(err, RVX_E_IO, "could not fsync directory \"%s\": %s",
						 dir, strerror(save));
	}
	close(fd);
	return 0;
}

int
rvx_write_file_durable(const char *path, const void *data, size_t len, bool sync,
					   RvxError *err)
{
	static int	counter;
	char		tmp[PATH_MAX];
	char		dir[PATH_MAX];
	char	   *slash;
	int			fd;

	/* unique per call: several threads may write the same file at once */
	snprintf(tmp, sizeof(tmp), "%s%s.%d.%d", path, RVX_SPOOL_TMP_SUFFIX, (int) getpid(),
			 __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	if (fd < 0)
		return rvx_error(err, RVX_E_IO, "could not create \"%s\": %s", tmp, strerror(errno));
	if (write(fd, data, len) != (ssize_t) len)
	{
		int			save = errno ? errno : ENOSPC;

		close(fd);
		unlink(tmp);
		return rvx_error(err, RVX_E_IO, "could not write \"%s\": %s", tmp, strerror(save));
	}
	if (sync && fsync(fd) != 0)
	{
		int			save = errno;

		close(fd);
		unlink(tmp);
		return rvx_error(err, RVX_E_IO, "could not fsync \"%s\": %s", tmp, strerror(save));
	}
	close(fd);
	if (rename(tmp, path) != 0)
	{
		int			save = errno;

		unlink(tmp);
		return rvx_error(err, RVX_E_IO, "could not rename \"%s\" to \"%s\": %s",
						 tmp, path, strerror(save));
	}
	if (!sync)
		return 0;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	return rvx_fsync_dir(dir, err);
}

int
rvx_write_file_owned(const char *path, const void *data, size_t len, bool append,
					 uid_t owner, gid_t group, RvxError *err)
{
	int			fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC),
						  0600);

	if (fd < 0)
		return rvx_error(err, RVX_E_IO, "could not open \"%s\": %s", path, strerror(errno));
	if ((len > 0 && write(fd, data, len) != (ssize_t) len) ||
		(owner != (uid_t) -1 && fchown(fd, owner, group) != 0) ||
		fsync(fd) != 0)
	{
		int			save = errno ? errno : ENOSPC;

		close(fd);
		return rvx_error(err, RVX_E_IO, "could not write \"%s\": %s", path, strerror(save));
	}
	if (close(fd) != 0)
		return rvx_error(err, RVX_E_IO, "could not close \"%s\": %s", path, strerror(errno));
	return 0;
}
