/*-------------------------------------------------------------------------
 *
 * spool.c
 *	  Formatting and parsing the small status files of the spool contract.
 *
 *-------------------------------------------------------------------------
 */
#include "rvx_port.h"

#include <stdio.h>
#include <stdlib.h>

#include "spool.h"

int
rvx_spool_ok_format(char *out, size_t cap, const uint8_t sha[RVX_SHA256_LEN], const char *key)
{
	char		hex[RVX_SHA256_HEXLEN + 1];
	int			n;

	rvx_hex_encode(sha, RVX_SHA256_LEN, hex);
	n = snprintf(out, cap, "%s %s\n", hex, key);
	return (n < 0 || (size_t) n >= cap) ? -1 : 0;
}

int
rvx_spool_ok_parse(const char *text, uint8_t sha[RVX_SHA256_LEN])
{
	char		hex[RVX_SHA256_HEXLEN + 1];

	if (strlen(text) < RVX_SHA256_HEXLEN + 2 || text[RVX_SHA256_HEXLEN] != ' ' ||
		strchr(text, '\n') == NULL)
		return -1;
	memcpy(hex, text, RVX_SHA256_HEXLEN);
	hex[RVX_SHA256_HEXLEN] = '\0';
	return rvx_hex_decode(hex, sha, RVX_SHA256_LEN);
}

int
rvx_spool_error_format(char *out, size_t cap, bool permanent, long long when,
					   const char *message)
{
	int			n = snprintf(out, cap, "%s %lld\n%s\n",
							 permanent ? "permanent" : "transient", when, message);

	if (n < 0)
		return -1;
	/* A long message is cut, never the header. */
	if ((size_t) n >= cap && cap > 1)
		out[cap - 2] = '\n';
	return 0;
}

int
rvx_spool_error_parse(char *text, bool *permanent, long long *when, const char **message)
{
	char	   *nl = strchr(text, '\n');
	char	   *sp;
	char	   *end;

	if (nl == NULL)
		return -1;
	*nl = '\0';
	sp = strchr(text, ' ');
	if (sp == NULL)
		return -1;
	*sp = '\0';
	if (strcmp(text, "permanent") == 0)
		*permanent = true;
	else if (strcmp(text, "transient") == 0)
		*permanent = false;
	else
		return -1;
	*when = strtoll(sp + 1, &end, 10);
	if (end == sp + 1 || *end != '\0')
		return -1;
	*message = nl + 1;
	/* drop the trailing newline of the message */
	end = (char *) *message + strlen(*message);
	while (end > *message && end[-1] == '\n')
		*--end = '\0';
	return 0;
}
