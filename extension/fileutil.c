/*-------------------------------------------------------------------------
 *
 * fileutil.c
 *	  Small file-name and file helpers shared by the files of the module.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "nodes/pg_list.h"
#include "storage/fd.h"

#include "fileutil.h"

bool
revrx_has_suffix(const char *name, const char *suffix)
{
	size_t		len = strlen(name);
	size_t		slen = strlen(suffix);

	return len > slen && strcmp(name + len - slen, suffix) == 0;
}

bool
revrx_file_exists(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0)
		return true;
	if (errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	return false;
}

void
revrx_unlink_if_exists(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", path)));
}

int
revrx_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0)
	{
		ssize_t		n;

		errno = 0;
		n = write(fd, p, len);
		if (n <= 0)
		{
			if (n < 0 && errno == EINTR)
				continue;
			/* if write didn't set errno, assume problem is no disk space */
			return errno ? errno : ENOSPC;
		}
		p += n;
		len -= n;
	}
	return 0;
}

bool
revrx_walk_files(const char *dir, int elevel, RevrxFileVisitor visit, void *arg)
{
	DIR		   *d;
	struct dirent *de;
	List	   *subdirs = NIL;
	bool		go_on = true;
	ListCell   *lc;

	d = AllocateDir(dir);
	if (d == NULL)
		return true;
	while (go_on && (de = ReadDirExtended(d, dir, elevel)) != NULL)
	{
		char		path[MAXPGPATH];
		struct stat sb;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, MAXPGPATH, "%s/%s", dir, de->d_name);
		if (lstat(path, &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode))
			subdirs = lappend(subdirs, pstrdup(path));
		else
			go_on = visit(path, de->d_name, &sb, arg);
	}
	FreeDir(d);

	foreach(lc, subdirs)
	{
		if (go_on)
			go_on = revrx_walk_files((char *) lfirst(lc), elevel, visit, arg);
	}
	list_free_deep(subdirs);
	return go_on;
}
