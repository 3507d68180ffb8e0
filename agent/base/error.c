/*-------------------------------------------------------------------------
 *
 * error.c
 *	  RvxError helpers (see error.h).
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"

int
rvx_error(RvxError *err, RvxErrorCode code, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int
rvx_error_prefix(RvxError *err, const char *fmt,...)
{
	char		prefix[512];
	char		old[sizeof(err->msg)];
	va_list		ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	return -1;
}

void
rvx_error_clear(RvxError *err)
{
	if (err == NULL)
		return;
	err->code = RVX_OK;
	err->msg[0] = '\0';
}

bool
rvx_error_transient(const RvxError *err)
{
	return err->code == RVX_E_NETWORK || err->code == RVX_E_IO ||
		err->code == RVX_E_INTERNAL;
}

const char *
rvx_error_code_name(RvxErrorCode code)
{
	switch (code)
	{
		case RVX_OK:
			return "ok";
		case RVX_E_NOTFOUND:
			return "not_found";
		case RVX_E_USAGE:
			return "usage";
		case RVX_E_CONFIG:
			return "config";
		case RVX_E_IO:
			return "io";
		case RVX_E_NETWORK:
			return "network";
		case RVX_E_AUTH:
			return "auth";
		case RVX_E_CORRUPT:
			return "corrupt";
		case RVX_E_CONFLICT:
			return "conflict";
		case RVX_E_CLUSTER:
			return "cluster";
		case RVX_E_PROTOCOL:
			return "protocol";
		case RVX_E_AUDIT:
			return "audit";
		case RVX_E_INTERNAL:
			return "internal";
		case RVX_E_PG_VERSION:
			return "pg_version";
		case RVX_E_RUNNING:
			return "server_running";
		case RVX_E_FOREIGN_PGDATA:
			return "foreign_data_directory";
		case RVX_E_UNARCHIVED_WAL:
			return "unarchived_wal";
	}
	return "unknown";
}

static volatile sig_atomic_t interrupt_requested = 0;

void
rvx_interrupt_request(void)
{
	interrupt_requested = 1;
}

bool
rvx_interrupt_pending(void)
{
	return interrupt_requested != 0;
}

static void
interrupt_handler(int signo)
{
	rvx_interrupt_request();
}

void
rvx_interrupt_on_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = interrupt_handler;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}
