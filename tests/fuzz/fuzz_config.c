/*-------------------------------------------------------------------------
 *
 * fuzz_config.c
 *	  libFuzzer target: the agent's configuration file (agent/config/config.c).
 *
 * The file is written by people and by deploy tooling; whatever it says,
 * loading it must end either in a configuration or in one clear error,
 * never a crash.  The input is written to a scratch file and loaded
 * through rvx_config_load() exactly as `--config FILE` would; the
 * REVRX_LISTEN parser is also given the input directly.  The environment's
 * REVRX_* and AWS_* variables are removed first, so the file alone
 * decides.
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern char **environ;

static char path[64];
static int	fd = -1;

static void
remove_scratch(void)
{
	unlink(path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	for (bool again = true; again;)
	{
		again = false;
		for (char **e = environ; *e; e++)
			if (strncmp(*e, "REVRX_", 6) == 0 || strncmp(*e, "AWS_", 4) == 0)
			{
				char		name[256];
				size_t		n = strcspn(*e, "=");

				snprintf(name, sizeof(name), "%.*s", (int) n, *e);
				unsetenv(name);
				again = true;
				break;
			}
	}
	snprintf(path, sizeof(path), "/tmp/revrx-fuzz-config.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
	{
		perror("mkstemp");
		abort();
	}
	atexit(remove_scratch);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	RvxConfig	cfg;
	RvxError	err;
	char		listen[256];
	char		host[64];
	int			port;

	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t) size)
		abort();
	(void) rvx_config_load(&cfg, path, 0, &err);
	rvx_config_forget_file();

	snprintf(listen, sizeof(listen), "%.*s", (int) (size < 255 ? size : 255), (const char *) data);
	if (rvx_config_parse_listen(listen, host, sizeof(host), &port) &&
		(port < 1 || port > 65535 || strlen(host) >= sizeof(host)))
		abort();
	return 0;
}
