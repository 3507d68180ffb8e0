/*-------------------------------------------------------------------------
 *
 * manifest.c
 *	  Writing backup_manifest (PostgreSQL's format) and backup.json.
 *
 * backup_manifest follows src/backend/replication/backup_manifest.c of
 * PostgreSQL 15 to the byte: the same header, one line per file with
 * "Path" (or hex "Encoded-Path" for a name that is not valid UTF-8),
 * "Size", "Last-Modified" in GMT and the SHA-256, then the WAL ranges the
 * backup needs (from the timeline history of its ending timeline back to
 * its starting one), then "Manifest-Checksum", the SHA-256 of every byte
 * before that key.  pg_verifybackup recomputes that checksum over the raw
 * bytes, which is why the layout, not just the JSON, must match.
 *
 * The server's own backup_manifest.c cannot be reused: it writes to a
 * BufFile and a replication connection, and its checksum contexts need a
 * resource owner that the backup worker does not have.  SHA-256 here comes
 * from common/sha256 (OpenSSL), as for the objects themselves.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/timeline.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"

#include "compress.h"
#include "manifest.h"
#include "sha256.h"

/* Text is handed to the sink in pieces of about this size. */
#define TEXT_FLUSH_SIZE		(64 * 1024)

typedef struct DocWriter
{
	StringInfoData buf;
	RevrxTextSink sink;
	void	   *arg;
	RvxSha256  *sha;			/* NULL once the checksummed part is over */
} DocWriter;

static void
doc_begin(DocWriter *w, RevrxTextSink sink, void *arg, bool checksummed)
{
	initStringInfo(&w->buf);
	w->sink = sink;
	w->arg = arg;
	w->sha = NULL;
	if (checksummed)
	{
		w->sha = rvx_sha256_new();
		if (w->sha == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
	}
}

/* Hands over (and checksums) what is buffered. */
static void
doc_flush(DocWriter *w)
{
	if (w->buf.len == 0)
		return;
	if (w->sha != NULL && rvx_sha256_update(w->sha, w->buf.data, w->buf.len) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256 of the backup manifest")));
	w->sink(w->arg, w->buf.data, w->buf.len);
	resetStringInfo(&w->buf);
}

static void
doc_maybe_flush(DocWriter *w)
{
	if (w->buf.len >= TEXT_FLUSH_SIZE)
		doc_flush(w);
}

static void
doc_end(DocWriter *w)
{
	doc_flush(w);
	if (w->sha != NULL)
		rvx_sha256_free(w->sha);
	w->sha = NULL;
	pfree(w->buf.data);
}

void
revrx_format_utc(pg_time_t t, char *buf, size_t len)
{
	pg_strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", pg_gmtime(&t));
}

static void
append_hex(StringInfo buf, const uint8 *data, int len)
{
	enlargeStringInfo(buf, 2 * len + 1);
	rvx_hex_encode(data, len, buf->data + buf->len);
	buf->len += 2 * len;
}

/* ------------------------------------------------------- backup_manifest */

/*
 * The WAL-Ranges entries: one per timeline the backup spans, newest first,
 * from the history of the ending timeline (as AddWALInfoToBackupManifest).
 */
static void
manifest_wal_ranges(DocWriter *w, const RevrxBackupRecord *rec)
{
	List	   *timelines;
	ListCell   *lc;
	bool		first = true;
	bool		found_start = false;
	XLogRecPtr	endptr = rec->stop_lsn;

	timelines = readTimeLineHistory(rec->stop_tli);
	foreach(lc, timelines)
	{
		TimeLineHistoryEntry *entry = lfirst(lc);
		XLogRecPtr	beginptr;

		/* timelines that ended before the backup started do not matter */
		if (!XLogRecPtrIsInvalid(entry->end) && entry->end < rec->start_lsn)
			continue;

		if (first && entry->tli != rec->stop_tli)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("expected end timeline %u but found timeline %u",
							rec->stop_tli, entry->tli)));

		if (!XLogRecPtrIsInvalid(entry->begin))
			beginptr = entry->begin;
		else
		{
			beginptr = rec->start_lsn;
			if (entry->tli != rec->start_tli)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("expected start timeline %u but found timeline %u",
								rec->start_tli, entry->tli)));
		}

		appendStringInfo(&w->buf,
						 "%s{ \"Timeline\": %u, \"Start-LSN\": \"%X/%X\", \"End-LSN\": \"%X/%X\" }",
						 first ? "" : ",\n",
						 entry->tli,
						 LSN_FORMAT_ARGS(beginptr), LSN_FORMAT_ARGS(endptr));

		if (entry->tli == rec->start_tli)
		{
			found_start = true;
			break;
		}
		endptr = entry->begin;
		first = false;
	}

	if (!found_start)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("start timeline %u not found in history of timeline %u",
						rec->start_tli, rec->stop_tli)));
}

void
revrx_manifest_write(const RevrxBackupRecord *rec, RevrxTextSink sink, void *arg)
{
	DocWriter	w;
	uint8		digest[RVX_SHA256_LEN];

	doc_begin(&w, sink, arg, true);

	appendStringInfoString(&w.buf,
						   "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n"
						   "\"Files\": [");

	for (int i = 0; i < rec->nfiles; i++)
	{
		const RevrxBackupFile *f = &rec->files[i];
		int			pathlen = strlen(f->path);
		pg_time_t	mtime = f->mtime;

		appendStringInfoString(&w.buf, i == 0 ? "\n" : ",\n");
		if (pg_verify_mbstr(PG_UTF8, f->path, pathlen, true))
		{
			appendStringInfoString(&w.buf, "{ \"Path\": ");
			escape_json(&w.buf, f->path);
			appendStringInfoString(&w.buf, ", ");
		}
		else
		{
			appendStringInfoString(&w.buf, "{ \"Encoded-Path\": \"");
			append_hex(&w.buf, (const uint8 *) f->path, pathlen);
			appendStringInfoString(&w.buf, "\", ");
		}
		appendStringInfo(&w.buf, "\"Size\": " UINT64_FORMAT ", ", f->size);

		/* GMT, because time zone definitions change (backup_manifest.c) */
		appendStringInfoString(&w.buf, "\"Last-Modified\": \"");
		enlargeStringInfo(&w.buf, 128);
		w.buf.len += pg_strftime(&w.buf.data[w.buf.len], 128,
								 "%Y-%m-%d %H:%M:%S %Z", pg_gmtime(&mtime));
		appendStringInfoString(&w.buf, "\"");

		/*
		 * A sparse delta's file has no digest until restore rebuilds it:
		 * its line is written as PostgreSQL writes one without a checksum,
		 * and restore adds the rebuilt file's (agent/restore/manifest_fix.c).
		 */
		if (!f->sparse)
		{
			appendStringInfoString(&w.buf,
								   ", \"Checksum-Algorithm\": \"SHA256\", \"Checksum\": \"");
			append_hex(&w.buf, f->sha256, RVX_SHA256_LEN);
			appendStringInfoString(&w.buf, "\"");
		}
		appendStringInfoString(&w.buf, " }");

		doc_maybe_flush(&w);
	}

	appendStringInfoString(&w.buf, "\n],\n");
	appendStringInfoString(&w.buf, "\"WAL-Ranges\": [\n");
	manifest_wal_ranges(&w, rec);
	appendStringInfoString(&w.buf, "\n],\n");

	/* everything so far is covered by the checksum */
	doc_flush(&w);
	if (rvx_sha256_final(w.sha, digest) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256 of the backup manifest")));
	rvx_sha256_free(w.sha);
	w.sha = NULL;

	appendStringInfoString(&w.buf, "\"Manifest-Checksum\": \"");
	append_hex(&w.buf, digest, RVX_SHA256_LEN);
	appendStringInfoString(&w.buf, "\"}\n");

	doc_end(&w);
}

/* ----------------------------------------------------------- backup.json */

void
revrx_problem_json(StringInfo buf, const RevrxBackupProblem *p)
{
	appendStringInfoString(buf, "{\"path\": ");
	escape_json(buf, p->path);
	appendStringInfoString(buf, ", \"relation\": ");
	escape_json(buf, p->relation);
	appendStringInfoString(buf, ", \"fork\": ");
	escape_json(buf, p->fork);
	appendStringInfo(buf, ", \"block\": %u, \"message\": ", p->block);
	escape_json(buf, p->message);
	appendStringInfoChar(buf, '}');
}

/*
 * One entry of "not_included": a kind, the object it is about, and a note
 * in words, so that a reader of the record or of the drill's report need
 * not know the kinds to understand what the backup lacks.
 */
static void
omission_json(StringInfo buf, const RevrxBackupOmission *o)
{
	switch (o->kind)
	{
		case RVX_OMIT_UNLOGGED:
			appendStringInfoString(buf, "{\"kind\": \"unlogged_relation\", \"path\": ");
			escape_json(buf, o->path);
			appendStringInfo(buf, ", \"database_oid\": %u, \"relfilenode\": %u, \"bytes\": " UINT64_FORMAT,
							 o->oid, o->relfilenode, o->bytes);
			appendStringInfoString(buf, ", \"note\": \"the data of an unlogged relation is not backed up: it is restored empty\"}");
			break;
		case RVX_OMIT_SKIPPED_FILE:
			appendStringInfoString(buf, "{\"kind\": \"skipped_file\", \"path\": ");
			escape_json(buf, o->path);
			appendStringInfoString(buf, ", \"note\": ");
			escape_json(buf, o->reason);
			appendStringInfoChar(buf, '}');
			break;
		case RVX_OMIT_TABLESPACE:
			appendStringInfo(buf, "{\"kind\": \"tablespace_outside_data_directory\", \"oid\": %u, \"path\": ",
							 o->oid);
			escape_json(buf, o->path);
			appendStringInfoString(buf, ", \"note\": \"backed up, and restored at the same location unless restore --tablespace-map OID=DIR says otherwise\"}");
			break;
		case RVX_OMIT_NO_CHECKSUMS:
			appendStringInfoString(buf, "{\"kind\": \"no_data_checksums\", \"note\": \"the cluster has no data checksums: pages could not be verified while read, and an incremental backup is taken as a full one\"}");
			break;
	}
}

static void
append_wal_name(StringInfo buf, TimeLineID tli, XLogRecPtr lsn, bool prev)
{
	XLogSegNo	segno;
	char		name[MAXFNAMELEN];

	if (prev)
		XLByteToPrevSeg(lsn, segno, wal_segment_size);
	else
		XLByteToSeg(lsn, segno, wal_segment_size);
	XLogFileName(name, tli, segno, wal_segment_size);
	appendStringInfo(buf, "\"%s\"", name);
}

void
revrx_backup_json_write(const RevrxBackupRecord *rec, RevrxTextSink sink, void *arg)
{
	DocWriter	w;
	char		ts[64];
	char		key_prefix[MAXPGPATH];
	const char *suffix = rvx_compression_suffix(rec->compression);
	int64		original = 0;
	int64		stored = 0;
	ListCell   *lc;
	bool		first;
	bool		sparse = false;

	for (int i = 0; i < rec->nfiles; i++)
	{
		original += rec->files[i].size;
		stored += rec->files[i].stored;
	}
	snprintf(key_prefix, sizeof(key_prefix), "backup/%s/data/", rec->id);

	doc_begin(&w, sink, arg, false);

	for (int i = 0; i < rec->nfiles; i++)
		sparse |= rec->files[i].sparse;
	appendStringInfo(&w.buf, "{\n\"format\": %d,\n\"id\": ",
					 sparse ? REVRX_BACKUP_FORMAT_SPARSE : 1);
	escape_json(&w.buf, rec->id);
	appendStringInfoString(&w.buf, ",\n\"label\": ");
	if (rec->label != NULL)
		escape_json(&w.buf, rec->label);
	else
		appendStringInfoString(&w.buf, "null");
	appendStringInfo(&w.buf, ",\n\"kind\": \"%s\",\n\"parent\": ",
					 rec->parent ? "incremental" : "full");
	if (rec->parent)
		escape_json(&w.buf, rec->parent);
	else
		appendStringInfoString(&w.buf, "null");
	if (rec->parent)
	{
		appendStringInfoString(&w.buf, ",\n\"block_source\": ");
		escape_json(&w.buf, rec->block_source ? rec->block_source : "page-lsn-scan");
		appendStringInfoString(&w.buf, ",\n\"block_source_reason\": ");
		if (rec->block_source_reason)
			escape_json(&w.buf, rec->block_source_reason);
		else
			appendStringInfoString(&w.buf, "null");
		appendStringInfo(&w.buf, ",\n\"delta\": {\"files\": %d, \"files_unread\": %d, "
						 "\"files_sparse\": %d, "
						 "\"blocks_read\": " INT64_FORMAT ", \"pages_stored\": " INT64_FORMAT
						 ", \"pages_missed_by_summaries\": " INT64_FORMAT
						 ", \"files_whole\": %d, \"blocks_reread\": " INT64_FORMAT "}",
						 rec->delta_files, rec->delta_files_unread, rec->delta_files_sparse,
						 rec->delta_blocks_read,
						 rec->delta_pages, rec->summary_missed,
						 rec->whole_files, rec->whole_blocks_reread);
	}
	appendStringInfo(&w.buf, ",\n\"scheduled\": %s", rec->scheduled ? "true" : "false");
	/* who asked, for the audit trail (agent/info/audit.h) */
	appendStringInfoString(&w.buf, ",\n\"requested_by\": ");
	if (rec->requested_by != NULL)
		escape_json(&w.buf, rec->requested_by);
	else
		appendStringInfoString(&w.buf, "null");
	appendStringInfo(&w.buf, ",\n\"system_identifier\": \"" UINT64_FORMAT "\"",
					 rec->system_identifier);
	appendStringInfo(&w.buf, ",\n\"pg_version_num\": %d", PG_VERSION_NUM);

	/*
	 * The major version decides which programs can restore, start and
	 * replay the backup (revrx-agent verify refuses others); the running
	 * server's own version string, minor release and packaging included,
	 * is for the people reading the record.  The module is built for one
	 * major and loads only into it, so PG_VERSION_NUM's is the server's.
	 */
	appendStringInfo(&w.buf, ",\n\"pg_major\": %d", PG_VERSION_NUM / 10000);
	appendStringInfoString(&w.buf, ",\n\"pg_version\": ");
	escape_json(&w.buf, GetConfigOption("server_version", false, false));
	appendStringInfo(&w.buf, ",\n\"timeline\": %u", rec->start_tli);
	appendStringInfo(&w.buf, ",\n\"start_lsn\": \"%X/%X\"", LSN_FORMAT_ARGS(rec->start_lsn));
	appendStringInfo(&w.buf, ",\n\"stop_lsn\": \"%X/%X\"", LSN_FORMAT_ARGS(rec->stop_lsn));
	appendStringInfoString(&w.buf, ",\n\"start_wal\": ");
	append_wal_name(&w.buf, rec->start_tli, rec->start_lsn, false);
	/* the last segment do_pg_backup_stop() waited to see archived */
	appendStringInfoString(&w.buf, ",\n\"stop_wal\": ");
	append_wal_name(&w.buf, rec->stop_tli, rec->stop_lsn, true);
	revrx_format_utc(rec->start_time, ts, sizeof(ts));
	appendStringInfo(&w.buf, ",\n\"start_time\": \"%s\"", ts);
	revrx_format_utc(rec->stop_time, ts, sizeof(ts));
	appendStringInfo(&w.buf, ",\n\"stop_time\": \"%s\"", ts);
	appendStringInfo(&w.buf, ",\n\"next_xid\": \"" UINT64_FORMAT "\"", rec->next_xid);
	appendStringInfo(&w.buf, ",\n\"original_bytes\": " INT64_FORMAT, original);
	appendStringInfo(&w.buf, ",\n\"stored_bytes\": " INT64_FORMAT, stored);
	appendStringInfo(&w.buf, ",\n\"file_count\": %d", rec->nfiles);
	appendStringInfo(&w.buf, ",\n\"page_checksums\": %s",
					 rec->page_checksums ? "true" : "false");

	appendStringInfoString(&w.buf, ",\n\"problems\": [");
	first = true;
	foreach(lc, rec->problems)
	{
		appendStringInfoString(&w.buf, first ? "\n  " : ",\n  ");
		revrx_problem_json(&w.buf, (RevrxBackupProblem *) lfirst(lc));
		first = false;
		doc_maybe_flush(&w);
	}
	appendStringInfoString(&w.buf, first ? "]" : "\n]");

	appendStringInfoString(&w.buf, ",\n\"tablespaces\": [");
	first = true;
	foreach(lc, rec->tablespaces)
	{
		RevrxBackupTablespace *t = (RevrxBackupTablespace *) lfirst(lc);

		appendStringInfo(&w.buf, "%s{\"oid\": %u, \"location\": ",
						 first ? "" : ", ", t->oid);
		escape_json(&w.buf, t->location);
		appendStringInfoChar(&w.buf, '}');
		first = false;
	}
	appendStringInfoString(&w.buf, "]");

	appendStringInfoString(&w.buf, ",\n\"not_included\": [");
	first = true;
	foreach(lc, rec->omissions)
	{
		appendStringInfoString(&w.buf, first ? "\n  " : ",\n  ");
		omission_json(&w.buf, (const RevrxBackupOmission *) lfirst(lc));
		first = false;
		doc_maybe_flush(&w);
	}
	appendStringInfoString(&w.buf, first ? "]" : "\n]");
	appendStringInfo(&w.buf, ",\n\"not_included_count\": " INT64_FORMAT, rec->omission_count);
	appendStringInfo(&w.buf, ",\n\"unlogged_relations\": " INT64_FORMAT, rec->unlogged_relations);
	appendStringInfo(&w.buf, ",\n\"unlogged_bytes\": " UINT64_FORMAT, rec->unlogged_bytes);

	appendStringInfoString(&w.buf, ",\n\"directories\": [");
	first = true;
	foreach(lc, rec->directories)
	{
		appendStringInfoString(&w.buf, first ? "\n  " : ",\n  ");
		escape_json(&w.buf, (const char *) lfirst(lc));
		first = false;
		doc_maybe_flush(&w);
	}
	appendStringInfoString(&w.buf, first ? "]" : "\n]");

	appendStringInfoString(&w.buf, ",\n\"files\": [");
	for (int i = 0; i < rec->nfiles; i++)
	{
		const RevrxBackupFile *f = &rec->files[i];
		char		key[MAXPGPATH * 2];

		appendStringInfoString(&w.buf, i == 0 ? "\n  {\"path\": " : ",\n  {\"path\": ");
		escape_json(&w.buf, f->path);
		revrx_format_utc(f->mtime, ts, sizeof(ts));
		appendStringInfo(&w.buf, ", \"size\": " UINT64_FORMAT ", \"mtime\": \"%s\"",
						 f->size, ts);
		if (!f->sparse)
		{
			appendStringInfoString(&w.buf, ", \"sha256\": \"");
			append_hex(&w.buf, f->sha256, RVX_SHA256_LEN);
			appendStringInfoString(&w.buf, "\"");
		}
		appendStringInfoString(&w.buf, ", \"key\": ");
		snprintf(key, sizeof(key), "%s%s%s", key_prefix, f->path, suffix);
		escape_json(&w.buf, key);
		appendStringInfo(&w.buf, ", \"stored\": " UINT64_FORMAT, f->stored);
		if (f->delta)
		{
			/* binds the delta to this record: restore asks its object for it */
			appendStringInfoString(&w.buf, ", \"delta\": true, \"object_sha256\": \"");
			append_hex(&w.buf, f->object_sha256, RVX_SHA256_LEN);
			appendStringInfoString(&w.buf, "\"");
		}
		if (f->has_chunk_digest)
		{
			appendStringInfoString(&w.buf, ", \"chunk_digest\": \"");
			append_hex(&w.buf, f->chunk_digest, RVX_CHUNK_DIGEST_LEN);
			appendStringInfoString(&w.buf, "\"");
		}
		appendStringInfo(&w.buf, "%s}", f->sparse ? ", \"sparse\": true" : "");
		doc_maybe_flush(&w);
	}
	appendStringInfoString(&w.buf, rec->nfiles > 0 ? "\n]\n}\n" : "]\n}\n");

	doc_end(&w);
}
