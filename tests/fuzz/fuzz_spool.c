/*-------------------------------------------------------------------------
 *
 * fuzz_spool.c
 *	  libFuzzer target: the spool's .ok and .error files (common/spool.c).
 *
 * Both sides read files the other side wrote, and a torn or foreign file
 * must never be taken for an acknowledgement.  Besides surviving any
 * input, the parsers must agree with the formatters: what
 * rvx_spool_ok_format() writes parses back to the same digest, and what
 * rvx_spool_error_format() writes parses back to the same fields.
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spool.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *text = malloc(size + 1);
	uint8_t		sha[RVX_SHA256_LEN];
	bool		permanent;
	long long	when;
	const char *message;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	/* arbitrary files as they could be found in the spool */
	(void) rvx_spool_ok_parse(text, sha);
	(void) rvx_spool_error_parse(text, &permanent, &when, &message);

	/* round trips: digest + key, and flag + time + message from the input */
	if (size >= RVX_SHA256_LEN + 9)
	{
		char		out[RVX_SPOOL_NOTE_MAX + 256];
		char	   *rest;
		uint8_t		back[RVX_SHA256_LEN];
		long long	t;
		bool		perm = data[RVX_SHA256_LEN] & 1;

		memcpy(&t, data + RVX_SHA256_LEN + 1, sizeof(t));
		memcpy(text, data, size);
		text[size] = '\0';
		rest = text + RVX_SHA256_LEN + 9;

		if (rvx_spool_ok_format(out, sizeof(out), data, rest) == 0 &&
			(rvx_spool_ok_parse(out, back) != 0 || memcmp(back, data, RVX_SHA256_LEN) != 0))
		{
			fprintf(stderr, "formatted .ok does not parse back: \"%s\"\n", out);
			abort();
		}
		if (rvx_spool_error_format(out, sizeof(out), perm, t, rest) == 0)
		{
			if (rvx_spool_error_parse(out, &permanent, &when, &message) != 0 ||
				permanent != perm || when != t)
			{
				fprintf(stderr, "formatted .error does not parse back\n");
				abort();
			}
		}
	}
	free(text);
	return 0;
}
