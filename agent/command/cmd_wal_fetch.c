/*-------------------------------------------------------------------------
 *
 * cmd_wal_fetch.c
 *	  `revrx-agent wal-fetch NAME DEST`: the restore_command.
 *
 * Postgres calls restore_command for every file recovery wants, including
 * files that do not exist (the next timeline's history file, the segment
 * after the end of the archive), and treats an exit status from 1 to 125
 * as "not available", above as a failed command.  So a missing file exits
 * 1 at once with one short line, and everything else that goes wrong (a
 * corrupt or truncated object, another cluster's object, an unreachable
 * repository) exits with a message naming the object, and a status that
 * stops archive recovery rather than end it there
 * (rvx_wal_fetch_failed()).  DEST appears only once its content was
 * verified against the SHA-256 recorded when the file was archived.
 *
 * A segment that is not stored complete may have streamed partials
 * (wal_partial.h): the chain of them from the segment's start, of the
 * newest generation that has one, is written one after the other and
 * zero-padded to the segment size, the way pg_receivewal's ".partial"
 * file is used.  PostgreSQL's replay stops at the end of the valid WAL in
 * it, so recovery ends there, with every commit whose WAL the chain holds.
 * A chain that reaches the segment's end is the segment, exactly.  A
 * partial is never used when the complete segment exists, nor for another
 * timeline than the one in its name.
 *
 * Nor when the repository holds later WAL of the same timeline that the
 * chain does not reach: a later segment, a later partial of the same or a
 * newer generation, or a partial of this segment after a gap in the chain
 * (a range that was never stored).  The missing WAL may still arrive (an
 * upload that has not succeeded yet) or be lost, and recovery would end
 * at the gap, promote, and silently leave the later WAL behind.  wal-fetch
 * then fails with exit code 126, which PostgreSQL does not take for "not
 * available" but as a failed command: recovery stops with a FATAL naming
 * the file, instead of ending early.  When the WAL is lost for good, the
 * operator adds --accept-gap to restore_command: the chain up to the gap
 * is then served, with a warning, and recovery ends with what it holds;
 * never past the gap.  A segment with no object and no partial at all
 * while later WAL of its timeline is stored is such a gap too (exit 126):
 * answering "not found" would make PostgreSQL (XLogFileReadAnyTLI) fall
 * back to the parent timeline's segment of the same number, whose WAL after
 * the switch point is not this timeline's.
 *
 * And that parent's segment is served only up to the switch point: when
 * the history file of a later timeline in the repository says it branched
 * off the chain's timeline inside the segment, the chain is cut there and
 * zeros follow (the WAL after it was written by the old primary after the
 * failover, or by a server recovered to an earlier point: another history).
 * Recovery along the child then ends at the switch point when the child's
 * own segment is not stored, rather than replaying the other history.
 * Recovery along the parent itself (recovery_target_timeline set to it)
 * also stops there: wal-fetch is not told the target, and serving WAL that
 * may belong to another history is the worse mistake.  A complete segment
 * is served as it is (PostgreSQL itself archives a parent's last segment as
 * SEG.partial at promotion, and a complete one was archived by a server on
 * that timeline).
 *
 *-------------------------------------------------------------------------
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "command/commands.h"
#include "info/fetch.h"
#include "info/repo_meta.h"
#include "info/wal_partial.h"
#include "restore/wal_prefetch.h"
#include "walname.h"

/*
 * An exit status PostgreSQL's restore_command handling treats as a failed
 * command (above 125, like "not executable"), not as a missing file: the
 * startup process stops with FATAL rather than end recovery.
 */
#define RVX_WAL_FETCH_STOP_RECOVERY 126

/*
 * Serves segment name from its streamed partials (see the header): 1 when
 * dest was written, 0 when there is nothing to serve,
 * RVX_WAL_FETCH_STOP_RECOVERY when later WAL of its timeline exists that
 * the partials do not reach (or, with no partial at all, that the segment
 * is missing from), unless accept_gap; -1 on error.
 */
static int
fetch_partials(RvxRepo *repo, const RvxClusterInfo *ci, const char *name, const char *dest,
			   bool accept_gap, RvxError *err)
{
	RvxPartialSet set;
	RvxPartialChain chain;
	RvxFetchOptions opts = RVX_FETCH_OPTIONS_INIT;
	size_t	   *links = NULL;
	RvxFetchPart *parts = NULL;
	RvxWalPageCheck *pages = NULL;
	uint8_t		(*heads)[RVX_RANGE_HEADER_LEN] = NULL;
	char		later[256] = "";
	char		last[256] = "";
	char		history[32] = "";
	uint32_t	tli;
	uint64_t	segno;
	uint64_t	branch = 0;
	uint32_t	limit;			/* the chain is not used past it */
	size_t		nlinks;
	int			rc = -1;

	if (!rvx_walname_segno(name, ci->wal_segment_size, &tli, &segno))
		return rvx_error(err, RVX_E_USAGE, "\"%s\" is not the name of a WAL segment", name);
	if (rvx_partial_list(repo, name, &set, err) != 0)
		return -1;
	for (size_t i = 0; i < set.keys.n; i++)
		if (set.ranges[i].end > ci->wal_segment_size)
		{
			rvx_error(err, RVX_E_CORRUPT, "partial \"%s\" reaches past the end of a segment",
					  set.keys.s[i]);
			goto out;
		}
	links = malloc((set.keys.n ? set.keys.n : 1) * sizeof(size_t));
	parts = calloc(set.keys.n ? set.keys.n : 1, sizeof(RvxFetchPart));
	pages = malloc((set.keys.n ? set.keys.n : 1) * sizeof(RvxWalPageCheck));
	heads = malloc((set.keys.n ? set.keys.n : 1) * sizeof(*heads));
	if (links == NULL || parts == NULL || pages == NULL || heads == NULL)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		goto out;
	}
	rvx_partial_chain(set.ranges, set.keys.n, links, &chain);
	if (chain.found)
		snprintf(last, sizeof(last), "%s", set.keys.s[links[chain.nlinks - 1]]);

	/*
	 * A later timeline that branched off inside the segment: its WAL after
	 * the switch point is another server's (the old primary's, after the
	 * failover), and PostgreSQL asks for this segment when the child's own
	 * is not stored.  So the chain is never used past that point.
	 */
	limit = ci->wal_segment_size;
	if (chain.found)
	{
		rc = rvx_partial_branch_point(repo, ci->system_id, name, ci->wal_segment_size, &branch,
									  history, sizeof(history), err);
		if (rc < 0)
			goto out;
		if (rc == 1)
			limit = (uint32_t) (branch - segno * ci->wal_segment_size);
		rc = -1;
		if (limit == 0)
		{
			rvx_info("\"%s\": timeline %.8s branched off at its start (%s); its partials are not used",
					 name, history, history);
			rc = 0;
			goto out;
		}
	}

	/* a chain that reaches the segment's end (or the branch) leaves nothing out */
	if (!chain.found || chain.end < limit)
	{
		if (chain.gap_after || (!chain.found && set.keys.n > 0))
		{
			/* the first partial the chain does not reach */
			for (size_t i = 0; i < set.keys.n; i++)
				if (!chain.found || set.ranges[i].generation > chain.generation ||
					(set.ranges[i].generation == chain.generation && set.ranges[i].end > chain.end))
				{
					snprintf(later, sizeof(later), "%s", set.keys.s[i]);
					break;
				}
		}
		else
		{
			/*
			 * Later WAL of the timeline: with no partial at all, too, the
			 * segment is then missing, not the end of the WAL (PostgreSQL
			 * would fall back to the parent timeline's segment).
			 */
			rc = rvx_partial_later_wal(repo, name, chain.found ? chain.generation : 0, later,
									   sizeof(later), err);
			if (rc < 0)
				goto out;
			if (rc == 0)
				later[0] = '\0';
			rc = -1;
		}
		if (later[0] && accept_gap)
			rvx_warn("segment \"%s\" is missing from %s but later WAL of its timeline exists (\"%s\"); "
					 "recovery ends at partial \"%s\", offset %X (--accept-gap)",
					 name, repo->display, later, chain.found ? last : "(none)",
					 (unsigned int) chain.end);
		else if (later[0])
		{
			rvx_err("segment \"%s\" is missing from %s but later WAL of its timeline exists (\"%s\"); "
					"refusing to end recovery at partial \"%s\", offset %X",
					name, repo->display, later, chain.found ? last : "(none)",
					(unsigned int) chain.end);
			rvx_err("hint: ship the missing WAL (is revrx-agent run still retrying it?); "
					"if it is lost, \"wal-fetch --accept-gap\" in restore_command ends recovery "
					"at the last WAL before the gap, leaving the later WAL unused");
			rc = RVX_WAL_FETCH_STOP_RECOVERY;
			goto out;
		}
	}
	if (!chain.found)
	{
		rc = 0;
		goto out;
	}

	/* each range's WAL pages must say what its name says (wal_partial.h) */
	nlinks = rvx_partial_chain_parts(&set, links, chain.nlinks, tli, segno, ci->wal_segment_size,
									 limit, parts, pages, heads);
	opts.expect_system_id = ci->system_id;
	opts.pad_to = ci->wal_segment_size;
	if (limit < chain.end)
		opts.cut_at = limit;
	if (rvx_fetch_parts_to_file(repo, parts, nlinks, &opts, dest, err) != 0)
		goto out;
	if (limit < chain.end)
		rvx_info("restored \"%s\" from %zu partial(s) up to %X/%X, where timeline %.8s branched off "
				 "(%s): the WAL of timeline %.8s after it is not served",
				 name, nlinks, (unsigned int) (branch >> 32), (unsigned int) branch, history,
				 history, name);
	else
		rvx_info("restored \"%s\" from %zu partial(s) up to \"%s\" (%u bytes of WAL%s)",
				 name, chain.nlinks, last, (unsigned int) chain.end,
				 chain.end == ci->wal_segment_size ? ", the whole segment" : "");
	rc = 1;

out:
	free(links);
	free(parts);
	free(pages);
	free(heads);
	rvx_partial_set_free(&set);
	return rc;
}

/*
 * The exit status of a fetch that failed for another reason than the file
 * not being stored (an unreachable repository, a damaged object, a full
 * disk).  PostgreSQL takes 1 to 125 for "not available": in archive
 * recovery that ends recovery at this file and promotes the server,
 * leaving every later WAL behind, and a failed history file could make it
 * choose the wrong timeline.  So when archive recovery asks (the
 * destination is its own, and the data directory, where restore_command
 * runs, has recovery.signal and no standby.signal), the failure stops
 * recovery instead (the startup process's FATAL names the command), and
 * starting the server again, once the repository answers, resumes it.  A
 * standby retries what it did not get (and may stream it meanwhile), and
 * a fetch by hand gets the error's own code.
 */
int
rvx_wal_fetch_failed(const char *dest, int code)
{
	char		queue[PATH_MAX];

	if (dest != NULL && rvx_prefetch_dir(dest, queue, sizeof(queue)) &&
		access("recovery.signal", F_OK) == 0 && access("standby.signal", F_OK) != 0)
	{
		rvx_err("archive recovery cannot go on without this file: it stops here, and resumes when the server is started again");
		return RVX_WAL_FETCH_STOP_RECOVERY;
	}
	return code == RVX_OK ? RVX_E_INTERNAL : code;
}

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
	char		queue[PATH_MAX];
	bool		queued;
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

	/* the segments fetched ahead (wal_prefetch.h) */
	queued = rvx_prefetch_dir(dest, queue, sizeof(queue));
	if (queued && rvx_walname_kind(name) == RVX_WAL_HISTORY)
		rvx_prefetch_stop(queue);
	if (queued && rvx_walname_kind(name) == RVX_WAL_SEGMENT &&
		rvx_prefetch_take(queue, name, dest, cfg))
	{
		rvx_debug("restored \"%s\" from the segments fetched ahead", name);
		rvx_prefetch_ahead(queue, name, cfg);
		return 0;
	}

	repo = rvx_repo_open(&cfg->repo, &err);
	if (repo == NULL)
	{
		rvx_err("%s", err.msg);
		return rvx_wal_fetch_failed(dest, err.code);
	}
	if (rvx_repo_meta_load(repo, &ci, &err) != 0)
		goto fail;
	rc = rvx_wal_find(repo, name, RVX_COMPRESS_ZSTD, key, sizeof(key), &info, &err);
	if (rc < 0)
		goto fail;
	if (rc == 0 && rvx_walname_kind(name) == RVX_WAL_SEGMENT)
	{
		rc = fetch_partials(repo, &ci, name, dest, accept_gap, &err);
		if (rc < 0)
			goto fail;
		if (rc == RVX_WAL_FETCH_STOP_RECOVERY)
		{
			rvx_repo_close(repo);
			return rc;
		}
		if (rc == 1)
		{
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
	if (queued)
		rvx_prefetch_ahead(queue, name, cfg);
	return 0;

fail:
	rvx_err("could not fetch \"%s\": %s", name, err.msg);
	rvx_repo_close(repo);
	return rvx_wal_fetch_failed(dest, err.code);
}
