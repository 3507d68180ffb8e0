/*-------------------------------------------------------------------------
 *
 * repo_meta.c
 *	  cluster.json (spool) and repo.json (repository): see repo_meta.h.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/log.h"
#include "info/repo_meta.h"
#include "spool.h"

#define META_MAX_LEN (64 * 1024)

/* Parses the identity fields shared by cluster.json and repo.json. */
static int
parse_identity(const char *text, const char *what, RvxClusterInfo *ci, RvxError *err)
{
	json_error_t jerr;
	json_t	   *root = json_loads(text, 0, &jerr);
	json_t	   *sysid,
			   *ver,
			   *segsz;
	char	   *end;

	if (root == NULL)
		return rvx_error(err, RVX_E_CORRUPT, "%s is not valid JSON: %s (line %d)",
						 what, jerr.text, jerr.line);
	sysid = json_object_get(root, "system_identifier");
	ver = json_object_get(root, "pg_version_num");
	segsz = json_object_get(root, "wal_segment_size");
	if (!json_is_string(sysid) || !json_is_integer(ver) || !json_is_integer(segsz))
	{
		json_decref(root);
		return rvx_error(err, RVX_E_CORRUPT,
						 "%s lacks system_identifier, pg_version_num or wal_segment_size", what);
	}
	errno = 0;
	ci->system_id = strtoull(json_string_value(sysid), &end, 10);
	if (errno != 0 || *end != '\0' || ci->system_id == 0)
	{
		json_decref(root);
		return rvx_error(err, RVX_E_CORRUPT, "%s has an invalid system_identifier", what);
	}
	ci->pg_version_num = (int) json_integer_value(ver);
	ci->wal_segment_size = (uint64_t) json_integer_value(segsz);

	if (json_object_get(root, "format"))
	{
		json_t	   *fmt = json_object_get(root, "format");

		if (!json_is_integer(fmt) || json_integer_value(fmt) != RVX_REPO_FORMAT)
		{
			json_decref(root);
			return rvx_error(err, RVX_E_CORRUPT,
							 "%s has repository format %s, this agent understands format %d",
							 what, json_is_integer(fmt) ? "another" : "an invalid",
							 RVX_REPO_FORMAT);
		}
	}
	json_decref(root);
	return 0;
}

int
rvx_cluster_info_read_spool(const char *spool_dir, RvxClusterInfo *ci, RvxError *err)
{
	char		path[4096];
	char		buf[4096];
	FILE	   *f;
	size_t		n;
	char		what[4200];

	snprintf(path, sizeof(path), "%s/%s", spool_dir, RVX_SPOOL_CLUSTER_FILE);
	f = fopen(path, "r");
	if (f == NULL)
	{
		if (errno == ENOENT)
			return rvx_error(err, RVX_E_NOTFOUND,
							 "\"%s\" does not exist yet (the server writes it when it first archives)",
							 path);
		return rvx_error(err, RVX_E_IO, "could not open \"%s\": %s", path, strerror(errno));
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	snprintf(what, sizeof(what), "\"%s\"", path);
	return parse_identity(buf, what, ci, err);
}

/*
 * Does the repository's encryption (repo.json) agree with the key this
 * agent has?  Fails closed: a key for a plain repository is refused as
 * firmly as a missing or wrong key for an encrypted one, so the agent can
 * never mix plaintext into an encrypted repository or the reverse.
 */
static int
check_encryption(RvxRepo *repo, const char *text, RvxError *err)
{
	json_t	   *root = json_loads(text, 0, NULL);
	const char *alg = json_string_value(json_object_get(root, "encryption"));
	const char *check = json_string_value(json_object_get(root, "key_check"));
	char		mine[65];
	int			rc = 0;

	if (alg == NULL || strcmp(alg, "none") == 0)
	{
		if (repo->key != NULL)
			rc = rvx_error(err, RVX_E_CONFIG,
						   "repository %s is not encrypted, but REVRX_ENCRYPTION_KEY_FILE is set; "
						   "refusing to mix encrypted and plain data (use a new repository or prefix "
						   "for encrypted backups)", repo->display);
	}
	else if (strcmp(alg, "aes-256-gcm") != 0)
		rc = rvx_error(err, RVX_E_CORRUPT, "repository %s uses unknown encryption \"%s\"",
					   repo->display, alg);
	else if (repo->key == NULL)
		rc = rvx_error(err, RVX_E_CONFIG,
					   "repository %s is encrypted: set REVRX_ENCRYPTION_KEY_FILE to its key",
					   repo->display);
	else if (check == NULL || rvx_key_check_hex(repo->key, mine) != 0 || strcmp(check, mine) != 0)
		rc = rvx_error(err, RVX_E_CONFIG,
					   "the key in REVRX_ENCRYPTION_KEY_FILE is not the key of repository %s",
					   repo->display);
	json_decref(root);
	return rc;
}

int
rvx_repo_meta_load(RvxRepo *repo, RvxClusterInfo *ci, RvxError *err)
{
	char	   *text;
	char		what[512];
	int			rc;

	if (rvx_repo_get_buffer(repo, RVX_REPO_META_KEY, META_MAX_LEN, &text, NULL, err) != 0)
	{
		if (err && err->code == RVX_E_NOTFOUND)
			return rvx_error(err, RVX_E_NOTFOUND,
							 "repository %s has no %s (nothing was ever stored there)",
							 repo->display, RVX_REPO_META_KEY);
		return -1;
	}
	snprintf(what, sizeof(what), "%s in %s", RVX_REPO_META_KEY, repo->display);
	rc = parse_identity(text, what, ci, err);
	if (rc == 0)
		rc = check_encryption(repo, text, err);
	free(text);
	return rc;
}

static int
compare(RvxRepo *repo, const RvxClusterInfo *have, const RvxClusterInfo *want, RvxError *err)
{
	if (have->system_id != want->system_id)
		return rvx_error(err, RVX_E_CLUSTER,
						 "repository %s belongs to the cluster with system identifier %" PRIu64
						 ", not to this cluster (%" PRIu64 "); use another repository or prefix",
						 repo->display, have->system_id, want->system_id);
	if (have->pg_version_num / 10000 != want->pg_version_num / 10000)
		return rvx_error(err, RVX_E_CLUSTER,
						 "repository %s holds PostgreSQL %d data, this cluster is PostgreSQL %d",
						 repo->display, have->pg_version_num / 10000,
						 want->pg_version_num / 10000);
	if (have->wal_segment_size != want->wal_segment_size)
		return rvx_error(err, RVX_E_CLUSTER,
						 "repository %s has WAL segment size %" PRIu64 ", this cluster %" PRIu64,
						 repo->display, have->wal_segment_size, want->wal_segment_size);
	return 0;
}

int
rvx_repo_meta_bind(RvxRepo *repo, const RvxClusterInfo *ci, RvxError *err)
{
	RvxClusterInfo have;
	RvxError	lerr;
	char		sysid[32];
	char		stamp[32];
	char		check[65];
	json_t	   *o;
	char	   *text;
	int			rc;

	if (rvx_repo_meta_load(repo, &have, &lerr) == 0)
		return compare(repo, &have, ci, err);
	if (lerr.code != RVX_E_NOTFOUND)
	{
		if (err)
			*err = lerr;
		return -1;
	}

	snprintf(sysid, sizeof(sysid), "%" PRIu64, ci->system_id);
	rvx_iso_time(time(NULL), stamp, sizeof(stamp));
	o = json_pack("{s:i, s:s, s:i, s:I, s:s, s:s, s:s}",
				  "format", RVX_REPO_FORMAT,
				  "system_identifier", sysid,
				  "pg_version_num", ci->pg_version_num,
				  "wal_segment_size", (json_int_t) ci->wal_segment_size,
				  "encryption", repo->key ? "aes-256-gcm" : "none",
				  "created_at", stamp,
				  "created_by", "revrx-agent " RVX_VERSION);
	if (o && repo->key)
	{
		if (rvx_key_check_hex(repo->key, check) != 0)
		{
			json_decref(o);
			return rvx_error(err, RVX_E_INTERNAL, "could not compute the key check");
		}
		json_object_set_new(o, "key_check", json_string(check));
	}
	text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
	json_decref(o);
	if (text == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	rc = rvx_repo_put_buffer(repo, RVX_REPO_META_KEY, text, strlen(text),
							 RVX_PUT_NO_OVERWRITE, err);
	free(text);
	if (rc != 0 && err && err->code == RVX_E_CONFLICT)
	{
		/* someone else bound it first: it must be the same cluster */
		if (rvx_repo_meta_load(repo, &have, err) != 0)
			return -1;
		return compare(repo, &have, ci, err);
	}
	return rc;
}
