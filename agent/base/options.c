/*-------------------------------------------------------------------------
 *
 * options.c
 *	  Command-line helpers shared by every option loop (see options.h).
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/options.h"

const char *
rvx_option_value(int argc, char **argv, int *i, const char *name, const char *alias,
				 bool *missing)
{
	size_t		len = strlen(name);
	const char *arg = argv[*i];

	if (strncmp(arg, name, len) == 0 && arg[len] == '=')
		return arg + len + 1;
	if (strcmp(arg, name) == 0 || (alias && strcmp(arg, alias) == 0))
	{
		if (*i + 1 >= argc)
		{
			*missing = true;
			return NULL;
		}
		return argv[++*i];
	}
	return NULL;
}

void
rvx_option_refuse(const char *command, const char *arg, bool missing)
{
	if (missing)
		fprintf(stderr, "revrx-agent %s: option \"%s\" needs a value\n", command, arg);
	else
		fprintf(stderr, "revrx-agent %s: unexpected argument \"%s\"\n", command, arg);
}
