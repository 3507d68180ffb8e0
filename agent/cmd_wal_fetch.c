/*-------------------------------------------------------------------------
 *
 * cmd_wal_fetch.c
 *	  `revrx-agent wal-fetch NAME DEST`: the restore_command.
 *
 * Postgres calls restore_command for every file recovery wants, including
 * files that do not exist (the next timeline's history file, the segment
 * after the end of the archive), and treats any non-zero exit as "not
 * available".  So a missing file exits 1 at once with one short line, and
 * everything else that goes wrong (a corrupt or truncated object, another
 * cluster's object, an unreachable repository) exits with its own code and
 * a message naming the object.  DEST appears only once its content was
 * verified against the SHA-256 recorded when the file was archived.
 *
 * A segment that is not stored complete may have streamed partials
 * (wal_partial.h): the newest one of the requested timeline is used, its
 * content zero-padded to the segment size, the way pg_receivewal's
 * ".partial" file is used.  PostgreSQL's replay stops at the end of the
 * valid WAL in it, so recovery ends there, with every commit whose WAL the
 * partial holds.  A partial is never used when the complete segment
 * exists, nor for another timeline than the one in its name.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "fetch.h"
#include "log.h"
#include "repo_meta.h"
#include "wal_partial.h"
#include "walname.h"

int
rvx_cmd_wal_fetch(int argc, char **argv, RvxConfig *cfg)
{
	const char *name;
	const char *dest;
	RvxRepo    *repo;
	RvxClusterInfo ci;
	RvxObjectInfo info;
	RvxError	err;
	char		key[256];
	int			rc;

	if (argc != 3)
	{
		fprintf(stderr, "usage: revrx-agent wal-fetch WAL_FILE_NAME DESTINATION  (restore_command = 'revrx-agent wal-fetch %%f %%p')\n");
		return RVX_E_USAGE;
	}
	name = argv[1];
	dest = argv[2];
	if (rvx_walname_kind(name) == RVX_WAL_INVALID)
	{
		rvx_err("\"%s\" is not the name of a WAL file", name);
		return RVX_E_USAGE;
	}

	repo = rvx_repo_open(&cfg->repo, &err);
	if (repo == NULL)
	{
		rvx_err("%s", err.msg);
		return err.code;
	}
	if (rvx_repo_meta_load(repo, &ci, &err) != 0)
		goto fail;
	rc = rvx_wal_find(repo, name, RVX_COMPRESS_ZSTD, key, sizeof(key), &info, &err);
	if (rc < 0)
		goto fail;
	if (rc == 0 && rvx_walname_kind(name) == RVX_WAL_SEGMENT)
	{
		RvxPartialPick pick;
		RvxFetchOptions opts = RVX_FETCH_OPTIONS_INIT;

		rc = rvx_partial_find_newest(repo, name, &pick, &err);
		if (rc < 0)
			goto fail;
		if (rc == 1)
		{
			if (pick.end_offset >= ci.wal_segment_size)
			{
				rvx_error(&err, RVX_E_CORRUPT, "partial \"%s\" is longer than a segment", pick.key);
				goto fail;
			}
			opts.expect_system_id = ci.system_id;
			opts.expect_size = pick.end_offset;
			opts.pad_to = ci.wal_segment_size;
			if (rvx_fetch_to_file_opts(repo, pick.key, &opts, dest, &err) != 0)
				goto fail;
			rvx_info("restored \"%s\" from partial \"%s\" (%u bytes of WAL)",
					 name, pick.key, (unsigned int) pick.end_offset);
			rvx_repo_close(repo);
			return 0;
		}
	}
	if (rc == 0)
	{
		rvx_info("\"%s\" is not in %s", name, repo->display);
		rvx_repo_close(repo);
		return RVX_E_NOTFOUND;
	}
	if (rvx_fetch_to_file(repo, key, ci.system_id, dest, &err) != 0)
		goto fail;
	rvx_debug("restored \"%s\" from \"%s\"", name, key);
	rvx_repo_close(repo);
	return 0;

fail:
	rvx_err("could not fetch \"%s\": %s", name, err.msg);
	rvx_repo_close(repo);
	return err.code == RVX_OK ? RVX_E_INTERNAL : (int) err.code;
}
