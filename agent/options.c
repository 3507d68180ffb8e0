/*-------------------------------------------------------------------------
 *
 * options.c
 *	  Command-line option helpers shared by the commands (commands.h).
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <string.h>

#include "commands.h"

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
