/*-------------------------------------------------------------------------
 *
 * walname.c
 *	  Recognising archived file names and mapping them to repository keys.
 *
 *-------------------------------------------------------------------------
 */
#include "rvx_port.h"

#include <stdio.h>

#include "walname.h"

static bool
is_upper_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		char		c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

/* A name's middle field counts 4 GB; its last, the segments of segsize within them. */
static uint64_t
segments_per_id(uint64_t segsize)
{
	return UINT64_C(0x100000000) / segsize;
}

static uint32_t
hex32(const char *s)
{
	uint32_t	v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 4) | (uint32_t) (s[i] <= '9' ? s[i] - '0' : s[i] - 'A' + 10);
	return v;
}

RvxWalKind
rvx_walname_kind(const char *name)
{
	size_t		len = strlen(name);

	if (len == 24 && is_upper_hex(name, 24))
		return RVX_WAL_SEGMENT;
	if (len == 32 && is_upper_hex(name, 24) && strcmp(name + 24, ".partial") == 0)
		return RVX_WAL_PARTIAL;
	if (len == 16 && is_upper_hex(name, 8) && strcmp(name + 8, ".history") == 0)
		return RVX_WAL_HISTORY;
	if (len == 40 && is_upper_hex(name, 24) && name[24] == '.' &&
		is_upper_hex(name + 25, 8) && strcmp(name + 33, ".backup") == 0)
		return RVX_WAL_BACKUP_HISTORY;
	/* the previous build's streamed partial: the first <end> bytes */
	if (len == 58 && is_upper_hex(name, 24) && name[24] == '.' &&
		is_upper_hex(name + 25, 16) && name[41] == '.' &&
		is_upper_hex(name + 42, 8) && strcmp(name + 50, ".partial") == 0 &&
		strncmp(name + 42, "00000000", 8) != 0)
		return RVX_WAL_STREAMED;
	/* a streamed partial: bytes [start, end), start < end */
	if (len == 67 && is_upper_hex(name, 24) && name[24] == '.' &&
		is_upper_hex(name + 25, 16) && name[41] == '.' &&
		is_upper_hex(name + 42, 8) && name[50] == '-' &&
		is_upper_hex(name + 51, 8) && strcmp(name + 59, ".partial") == 0 &&
		strncmp(name + 42, name + 51, 8) < 0)
		return RVX_WAL_STREAMED;
	return RVX_WAL_INVALID;
}

uint32_t
rvx_walname_timeline(const char *name)
{
	if (rvx_walname_kind(name) == RVX_WAL_INVALID)
		return 0;
	return hex32(name);
}

bool
rvx_walname_segno(const char *name, uint64_t segsize, uint32_t *tli, uint64_t *segno)
{
	if (segsize == 0 || strlen(name) < RVX_WALNAME_SEGLEN ||
		!is_upper_hex(name, RVX_WALNAME_SEGLEN))
		return false;
	*tli = hex32(name);
	*segno = (uint64_t) hex32(name + 8) * segments_per_id(segsize) + hex32(name + 16);
	return true;
}

void
rvx_walname_segment(uint32_t tli, uint64_t segno, uint64_t segsize,
					char out[RVX_WALNAME_SEGLEN + 1])
{
	uint64_t	per_id = segments_per_id(segsize);

	snprintf(out, RVX_WALNAME_SEGLEN + 1, "%08X%08X%08X", (unsigned int) tli,
			 (unsigned int) (segno / per_id), (unsigned int) (segno % per_id));
}

int
rvx_wal_object_key(const char *name, RvxCompression alg, char *out, size_t cap)
{
	int			n;

	if (rvx_walname_kind(name) == RVX_WAL_INVALID)
		return -1;
	n = snprintf(out, cap, "wal/%.8s/%s%s", name, name, rvx_compression_suffix(alg));
	return (n < 0 || (size_t) n >= cap) ? -1 : 0;
}

int
rvx_walname_streamed(const char *segment, uint64_t generation, uint32_t start, uint32_t end,
					 char *out, size_t cap)
{
	int			n;

	if (rvx_walname_kind(segment) != RVX_WAL_SEGMENT || end <= start)
		return -1;
	n = snprintf(out, cap, "%s.%08X%08X.%08X-%08X.partial", segment,
				 (unsigned int) (generation >> 32), (unsigned int) generation,
				 (unsigned int) start, (unsigned int) end);
	return (n < 0 || (size_t) n >= cap) ? -1 : 0;
}

/* n upper-case hex digits (checked by the caller) as a number */
static uint64_t
hex_value(const char *s, int n)
{
	uint64_t	v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 4) | (uint64_t) (s[i] <= '9' ? s[i] - '0' : s[i] - 'A' + 10);
	return v;
}

int
rvx_walname_streamed_parse(const char *name, RvxStreamedName *out)
{
	if (rvx_walname_kind(name) != RVX_WAL_STREAMED)
		return -1;
	memcpy(out->segment, name, RVX_WALNAME_SEGLEN);
	out->segment[RVX_WALNAME_SEGLEN] = '\0';
	out->generation = hex_value(name + 25, 16);
	if (name[50] == '-')
	{
		out->start = (uint32_t) hex_value(name + 42, 8);
		out->end = (uint32_t) hex_value(name + 51, 8);
		out->has_range_header = true;
	}
	else
	{
		out->start = 0;
		out->end = (uint32_t) hex_value(name + 42, 8);
		out->has_range_header = false;
	}
	return 0;
}

static void
put_be(uint8_t *p, uint64_t v, int len)
{
	for (int i = len - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t) v;
}

static uint64_t
get_be(const uint8_t *p, int len)
{
	uint64_t	v = 0;

	for (int i = 0; i < len; i++)
		v = v << 8 | p[i];
	return v;
}

void
rvx_range_header_encode(uint32_t timeline, uint64_t start_lsn, uint64_t end_lsn,
						uint8_t out[RVX_RANGE_HEADER_LEN])
{
	memcpy(out, RVX_RANGE_MAGIC, 4);
	put_be(out + 4, timeline, 4);
	put_be(out + 8, start_lsn, 8);
	put_be(out + 16, end_lsn, 8);
}

int
rvx_range_header_decode(const uint8_t in[RVX_RANGE_HEADER_LEN], uint32_t *timeline,
						uint64_t *start_lsn, uint64_t *end_lsn)
{
	if (memcmp(in, RVX_RANGE_MAGIC, 4) != 0)
		return -1;
	*timeline = (uint32_t) get_be(in + 4, 4);
	*start_lsn = get_be(in + 8, 8);
	*end_lsn = get_be(in + 16, 8);
	return 0;
}

bool
rvx_streamed_supersedes(const RvxStreamedName *a, const RvxStreamedName *b)
{
	if (strcmp(a->segment, b->segment) != 0)
		return false;
	if (a->generation != b->generation)
		return a->generation > b->generation && a->start == 0;
	if (a->start == b->start && a->end == b->end)
		return false;
	return a->start <= b->start && b->end <= a->end;
}

int
rvx_wal_key_name(const char *key, char *name, RvxCompression *alg)
{
	const char *base = strrchr(key, '/');
	size_t		blen;

	base = base ? base + 1 : key;
	blen = strlen(base);
	/* the longest suffix first: "" matches every name */
	for (int a = RVX_COMPRESS_MAX; a >= 0; a--)
	{
		const char *suffix = rvx_compression_suffix((RvxCompression) a);
		size_t		slen = strlen(suffix);

		if (blen < slen || blen - slen > RVX_WALNAME_MAXLEN ||
			strcmp(base + blen - slen, suffix) != 0)
			continue;
		memcpy(name, base, blen - slen);
		name[blen - slen] = '\0';
		if (rvx_walname_kind(name) == RVX_WAL_INVALID)
			continue;
		if (alg)
			*alg = (RvxCompression) a;
		return 0;
	}
	return -1;
}
