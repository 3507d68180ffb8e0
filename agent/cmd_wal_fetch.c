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
 * Nor when the repository holds later WAL of the same timeline (a later
 * segment, or a later partial of the same or a newer generation): the
 * segment's complete copy is then missing (an upload that has not
 * succeeded yet, a lost object), and recovery would end at the partial,
 * promote, and silently leave the later WAL behind.  wal-fetch then fails
 * with exit code 126, which PostgreSQL does not take for "not available"
 * but as a failed command: recovery stops with a FATAL naming the file,
 * instead of ending early.  When the segment is lost for good, the
 * operator adds --accept-gap to restore_command: the partial is then
 * served, with a warning, and recovery ends with what it holds.  Not
 * checked: a child timeline that branched
 * off before the end of the segment (target_plan reports the range).
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

/*
 * An exit status PostgreSQL's restore_command handling treats as a failed
 * command (above 125, like "not executable"), not as a missing file: the
 * startup process stops with FATAL rather than end recovery.
 */
#define RVX_WAL_FETCH_STOP_RECOVERY 126

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
	bool		accept_gap = false;

	if (argc == 4 && strcmp(argv[1], "--accept-gap") == 0)
	{
		accept_gap = true;
		argc--;
		argv++;
	}
	if (argc != 3)
	{
		fprintf(stderr, "usage: revrx-agent wal-fetch [--accept-gap] WAL_FILE_NAME DESTINATION  (restore_command = 'revrx-agent wal-fetch %%f %%p')\n");
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
			char		later[256];

			if (pick.end_offset >= ci.wal_segment_size)
			{
				rvx_error(&err, RVX_E_CORRUPT, "partial \"%s\" is longer than a segment", pick.key);
				goto fail;
			}
			rc = rvx_partial_later_wal(repo, name, pick.generation, later, sizeof(later), &err);
			if (rc < 0)
				goto fail;
			if (rc == 1 && accept_gap)
				rvx_warn("segment \"%s\" is missing from %s but later WAL of its timeline exists (\"%s\"); "
						 "recovery ends at partial \"%s\" (--accept-gap)",
						 name, repo->display, later, pick.key);
			else if (rc == 1)
			{
				rvx_err("segment \"%s\" is missing from %s but later WAL of its timeline exists (\"%s\"); "
						"refusing to end recovery at partial \"%s\"",
						name, repo->display, later, pick.key);
				rvx_err("hint: ship the missing segment (is revrx-agent run still retrying it?); "
						"if it is lost, \"wal-fetch --accept-gap\" in restore_command ends recovery "
						"at the partial, leaving the later WAL unused");
				rvx_repo_close(repo);
				return RVX_WAL_FETCH_STOP_RECOVERY;
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
