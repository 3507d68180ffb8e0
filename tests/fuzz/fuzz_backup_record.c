/*-------------------------------------------------------------------------
 *
 * fuzz_backup_record.c
 *	  libFuzzer target: backup.json records (agent/info/catalog.c).
 *
 * A record comes from the repository, which may be damaged or hostile, and
 * restore acts on every path and key in it.  rvx_backup_record_parse() must
 * either refuse the input or return a record that its own checks accept;
 * it must never crash, read out of bounds or leak.  An accepted record is
 * also summarised, as the catalog does.
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "info/catalog.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t	   *record = NULL;
	RvxError	err;

	if (rvx_backup_record_parse((const char *) data, size, "fuzz input", NULL, 0,
								&record, &err) == 0)
	{
		json_t	   *summary = rvx_backup_summary(record);

		json_decref(summary);
		json_decref(record);
	}
	return 0;
}
