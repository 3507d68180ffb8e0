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
	return RVX_WAL_INVALID;
}

uint32_t
rvx_walname_timeline(const char *name)
{
	uint32_t	tli = 0;

	if (rvx_walname_kind(name) == RVX_WAL_INVALID)
		return 0;
	for (int i = 0; i < 8; i++)
	{
		char		c = name[i];

		tli = (tli << 4) | (uint32_t) (c <= '9' ? c - '0' : c - 'A' + 10);
	}
	return tli;
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
