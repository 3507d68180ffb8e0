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
