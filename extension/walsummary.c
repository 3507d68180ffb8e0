/*-------------------------------------------------------------------------
 *
 * walsummary.c
 *	  Which blocks WAL changed between two LSNs, from PostgreSQL 17's WAL
 *	  summaries (the files in pg_wal/summaries), for incremental backups.
 *
 * This is what PostgreSQL's own incremental backup does before it sends
 * a file (basebackup_incremental.c: PrepareForIncrementalBackup and
 * GetFileBackupMethod), from inside the backup worker:
 *
 *	 wait (bounded) until the summarizer has reached this backup's start
 *	 for each timeline of this backup's history, newest first, down to the
 *	 one the parent started on:
 *		 the part of [parent's start, this backup's start) on that timeline
 *		 must be covered, without a gap, by summary files of that timeline
 *	 merge those files into one block reference table
 *
 * A gap anywhere (summaries removed by wal_summary_keep_time, summarize_wal
 * turned off for a while, a summarizer that has not caught up) means the
 * summaries cannot say that a block did not change, so the caller is told
 * why and reads every page instead.  Summaries may reach before the
 * parent's start or past this backup's: that only names more blocks.
 *
 * backup/walsummary.h, which has GetWalSummaries() and friends, is not
 * among the server headers PostgreSQL installs, so the directory is listed
 * and the files read here, with the block reference table reader of
 * common/blkreftable.h.  On PostgreSQL 15 and 16 (no RVX_HAVE_WAL_SUMMARIES
 * from archive_compat.h) the summaries are always "unavailable".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/timeline.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "archive_compat.h"
#include "walsummary.h"

#ifdef RVX_HAVE_WAL_SUMMARIES

#define SUMMARY_DIR			XLOGDIR "/summaries"
/* how long one wait for the summarizer sleeps */
#define SUMMARY_POLL_MS		100
/* block numbers taken from a summary file at a time */
#define BLOCKS_PER_READ		512

struct RvxWalSummaries
{
	BlockRefTable *brtab;
	BlockNumber *blocks;		/* RELSEG_SIZE of them, for segment queries */
};

/* One summary file, from its name: <tli><start><end>.summary */
typedef struct SummaryFile
{
	TimeLineID	tli;
	XLogRecPtr	start_lsn;
	XLogRecPtr	end_lsn;
} SummaryFile;

typedef struct SummaryReader
{
	int			fd;
	off_t		pos;
	char		path[MAXPGPATH];
} SummaryReader;

static void summary_error(void *arg, char *fmt,...) pg_attribute_printf(2, 3);

static List *
list_summaries(void)
{
	DIR		   *dir;
	struct dirent *de;
	List	   *result = NIL;

	dir = AllocateDir(SUMMARY_DIR);
	while ((de = ReadDir(dir, SUMMARY_DIR)) != NULL)
	{
		uint32		v[5];
		SummaryFile *sf;

		if (strspn(de->d_name, "0123456789ABCDEF") != 40 ||
			strcmp(de->d_name + 40, ".summary") != 0 ||
			sscanf(de->d_name, "%08X%08X%08X%08X%08X",
				   &v[0], &v[1], &v[2], &v[3], &v[4]) != 5)
			continue;
		sf = palloc(sizeof(SummaryFile));
		sf->tli = v[0];
		sf->start_lsn = ((uint64) v[1]) << 32 | v[2];
		sf->end_lsn = ((uint64) v[3]) << 32 | v[4];
		result = lappend(result, sf);
	}
	FreeDir(dir);
	return result;
}

static int
summary_cmp(const ListCell *a, const ListCell *b)
{
	const SummaryFile *x = lfirst(a);
	const SummaryFile *y = lfirst(b);

	if (x->start_lsn != y->start_lsn)
		return x->start_lsn < y->start_lsn ? -1 : 1;
	return 0;
}

/*
 * The summaries of timeline tli that overlap [from, to) are appended to
 * *used; returns the first LSN of the range none of them covers (>= to
 * when they cover it all).
 */
static XLogRecPtr
cover_range(List *all, TimeLineID tli, XLogRecPtr from, XLogRecPtr to, List **used)
{
	List	   *mine = NIL;
	XLogRecPtr	covered = from;
	ListCell   *lc;

	foreach(lc, all)
	{
		SummaryFile *sf = lfirst(lc);

		if (sf->tli == tli && sf->end_lsn > from && sf->start_lsn < to)
			mine = lappend(mine, sf);
	}
	list_sort(mine, summary_cmp);
	foreach(lc, mine)
	{
		SummaryFile *sf = lfirst(lc);

		if (sf->start_lsn > covered)
			break;				/* a gap */
		if (sf->end_lsn > covered)
			covered = sf->end_lsn;
	}
	*used = list_concat(*used, mine);
	return covered;
}

/*
 * Waits until the summarizer has written summaries up to lsn, for at most
 * wait_ms; false if it has not by then, or if summarize_wal was turned
 * off meanwhile.  *reached is how far it got.
 */
static bool
wait_for_summarizer(XLogRecPtr lsn, int wait_ms, XLogRecPtr *reached)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_ms);

	for (;;)
	{
		TimeLineID	tli;
		XLogRecPtr	pending;
		int			pid;
		int			rc;

		GetWalSummarizerState(&tli, reached, &pending, &pid);
		if (*reached >= lsn)
			return true;
		if (!summarize_wal || GetCurrentTimestamp() >= deadline)
			return false;

		/* it may be sleeping off an idle spell: there is WAL for it now */
		rvx_wake_wal_summarizer();
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   SUMMARY_POLL_MS, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

static int
summary_read(void *arg, void *data, int length)
{
	SummaryReader *r = arg;
	ssize_t		n;

	n = pg_pread(r->fd, data, length, r->pos);
	if (n < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", r->path)));
	r->pos += n;
	return (int) n;
}

/* The reader's complaints about a damaged file: they do not return. */
static void
summary_error(void *arg, char *fmt,...)
{
	StringInfoData buf;
	va_list		ap;
	int			needed;

	initStringInfo(&buf);
	for (;;)
	{
		va_start(ap, fmt);
		needed = appendStringInfoVA(&buf, fmt, ap);
		va_end(ap);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg_internal("%s", buf.data)));
}

/*
 * Adds one summary file's blocks and limits to brtab; false if the file is
 * gone (the summarizer removes those older than wal_summary_keep_time, and
 * may have done so since the directory was listed).
 */
static bool
merge_summary(BlockRefTable *brtab, const SummaryFile *sf)
{
	SummaryReader r;
	BlockRefTableReader *reader;
	RelFileLocator rlocator;
	ForkNumber	fork;
	BlockNumber limit;
	BlockNumber blocks[BLOCKS_PER_READ];

	snprintf(r.path, MAXPGPATH, SUMMARY_DIR "/%08X%08X%08X%08X%08X.summary",
			 sf->tli, LSN_FORMAT_ARGS(sf->start_lsn), LSN_FORMAT_ARGS(sf->end_lsn));
	r.pos = 0;
	r.fd = OpenTransientFile(r.path, O_RDONLY | PG_BINARY);
	if (r.fd < 0 && errno == ENOENT)
		return false;
	if (r.fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", r.path)));

	reader = CreateBlockRefTableReader(summary_read, &r, r.path, summary_error, NULL);
	while (BlockRefTableReaderNextRelation(reader, &rlocator, &fork, &limit))
	{
		unsigned	n;

		BlockRefTableSetLimitBlock(brtab, &rlocator, fork, limit);
		while ((n = BlockRefTableReaderGetBlocks(reader, blocks, BLOCKS_PER_READ)) > 0)
		{
			for (unsigned i = 0; i < n; i++)
				BlockRefTableMarkBlockModified(brtab, &rlocator, fork, blocks[i]);
		}
		CHECK_FOR_INTERRUPTS();
	}
	DestroyBlockRefTableReader(reader);
	CloseTransientFile(r.fd);
	return true;
}

RvxWalSummaries *
rvx_wal_summaries_load(TimeLineID from_tli, XLogRecPtr from_lsn,
					   TimeLineID to_tli, XLogRecPtr to_lsn,
					   int wait_ms, int *nsummaries, char **why)
{
	XLogRecPtr	reached;
	List	   *history;
	List	   *all;
	List	   *used = NIL;
	bool		found_parent = false;
	ListCell   *lc;
	RvxWalSummaries *ws;

	*nsummaries = 0;
	*why = NULL;
	if (!summarize_wal)
	{
		*why = pstrdup("summarize_wal is off");
		return NULL;
	}
	if (!wait_for_summarizer(to_lsn, wait_ms, &reached))
	{
		*why = summarize_wal ?
			psprintf("the WAL summarizer had summarized up to %X/%X, not yet to this backup's start %X/%X, after %d s",
					 LSN_FORMAT_ARGS(reached), LSN_FORMAT_ARGS(to_lsn), wait_ms / 1000) :
			pstrdup("summarize_wal was turned off");
		return NULL;
	}

	/*
	 * The history of this backup's timeline, newest first: each entry's
	 * part of the range must be summarized on that timeline, down to the
	 * one that holds the parent's start.
	 */
	history = readTimeLineHistory(to_tli);
	all = list_summaries();
	foreach(lc, history)
	{
		TimeLineHistoryEntry *tle = lfirst(lc);
		XLogRecPtr	lo = Max(tle->begin, from_lsn);
		XLogRecPtr	hi = tle->tli == to_tli ? to_lsn : tle->end;
		bool		reaches_parent = tle->begin <= from_lsn;

		if (reaches_parent && tle->tli != from_tli)
			break;				/* from_lsn is on another timeline: not ours */
		if (lo < hi)
		{
			XLogRecPtr	covered = cover_range(all, tle->tli, lo, hi, &used);

			if (covered < hi)
			{
				*why = psprintf("the WAL summaries of timeline %u do not cover %X/%X (they are needed from %X/%X to %X/%X)",
								tle->tli, LSN_FORMAT_ARGS(covered),
								LSN_FORMAT_ARGS(lo), LSN_FORMAT_ARGS(hi));
				return NULL;
			}
		}
		if (reaches_parent)
		{
			found_parent = true;
			break;
		}
	}
	if (!found_parent)
	{
		*why = psprintf("the parent's start %X/%X on timeline %u is not in the history of timeline %u",
						LSN_FORMAT_ARGS(from_lsn), from_tli, to_tli);
		return NULL;
	}

	ws = palloc(sizeof(RvxWalSummaries));
	ws->brtab = CreateEmptyBlockRefTable();
	ws->blocks = MemoryContextAllocHuge(CurrentMemoryContext,
										(Size) RELSEG_SIZE * sizeof(BlockNumber));
	foreach(lc, used)
	{
		SummaryFile *sf = lfirst(lc);

		if (!merge_summary(ws->brtab, sf))
		{
			*why = psprintf("the WAL summary of timeline %u from %X/%X to %X/%X was removed while it was needed",
							sf->tli, LSN_FORMAT_ARGS(sf->start_lsn), LSN_FORMAT_ARGS(sf->end_lsn));
			return NULL;
		}
	}
	*nsummaries = list_length(used);
	return ws;
}

void
rvx_wal_summaries_segment(RvxWalSummaries *ws, Oid spcoid, Oid dboid,
						  Oid relnumber, ForkNumber fork, int segno,
						  RvxSegmentChanges *changes, uint8 *named)
{
	RelFileLocator rlocator;
	BlockRefTableEntry *entry;
	BlockNumber limit;
	BlockNumber start = (BlockNumber) segno * RELSEG_SIZE;
	BlockNumber stop = start + RELSEG_SIZE;
	int			n;

	changes->new_database = false;
	changes->nnamed = 0;
	changes->limit = RELSEG_SIZE;
	if (named != NULL)
		memset(named, 0, RELSEG_SIZE / 8);

	/*
	 * A database created in the range, e.g. by a file copy (whose pages
	 * are not WAL-logged block by block), has an entry of its own, with
	 * relation number 0: every file of it is new, whatever it is named.
	 */
	rlocator.spcOid = spcoid;
	rlocator.dbOid = dboid;
	rlocator.relNumber = 0;
	if (BlockRefTableGetEntry(ws->brtab, &rlocator, MAIN_FORKNUM, &limit) != NULL)
	{
		changes->new_database = true;
		return;
	}

	rlocator.relNumber = relnumber;
	entry = BlockRefTableGetEntry(ws->brtab, &rlocator, fork, &limit);
	if (entry == NULL)
		return;
	if (limit != InvalidBlockNumber && limit < stop)
		changes->limit = limit <= start ? 0 : limit - start;

	n = BlockRefTableEntryGetBlocks(entry, start, stop, ws->blocks, RELSEG_SIZE);
	for (int i = 0; i < n; i++)
	{
		uint32		b = ws->blocks[i] - start;

		if (named != NULL)
			named[b / 8] |= (uint8) (1 << (b % 8));
	}
	changes->nnamed = (uint32) n;
}

#else							/* no WAL summaries before PostgreSQL 17 */

RvxWalSummaries *
rvx_wal_summaries_load(TimeLineID from_tli, XLogRecPtr from_lsn,
					   TimeLineID to_tli, XLogRecPtr to_lsn,
					   int wait_ms, int *nsummaries, char **why)
{
	*nsummaries = 0;
	*why = pstrdup("this server has no WAL summaries (they came with PostgreSQL 17)");
	return NULL;
}

void
rvx_wal_summaries_segment(RvxWalSummaries *ws, Oid spcoid, Oid dboid,
						  Oid relnumber, ForkNumber fork, int segno,
						  RvxSegmentChanges *changes, uint8 *named)
{
	elog(ERROR, "WAL summaries are not available on this server");
}

#endif
