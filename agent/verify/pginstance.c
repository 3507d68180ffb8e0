/*-------------------------------------------------------------------------
 *
 * pginstance.c
 *	  A throwaway PostgreSQL server and the client programs run against
 *	  it (see pginstance.h).
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "verify/pginstance.h"

extern char **environ;

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/*
 * The first line a program prints (without its line end) into out, and
 * its wait status; -1 (errno set) if it could not be run.  No shell runs
 * it, so a directory name with a quote or a space in it stays a name.
 * argv[0] is looked up in PATH unless it has a slash; stderr is dropped.
 */
static int
command_first_line(char *const argv[], char *out, size_t cap, int *status)
{
	int			fds[2];
	posix_spawn_file_actions_t fa;
	pid_t		pid;
	int			rc;
	FILE	   *f;
	size_t		len;
	char		drain[512];

	out[0] = '\0';
	if (pipe(fds) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc != 0)
	{
		close(fds[0]);
		errno = rc;
		return -1;
	}
	f = fdopen(fds[0], "r");
	if (f == NULL)
		close(fds[0]);
	else
	{
		if (fgets(out, (int) cap, f) == NULL)
			out[0] = '\0';
		while (fgets(drain, sizeof(drain), f) != NULL)
			;					/* the rest, so that it never blocks on a full pipe */
		fclose(f);
	}
	while (waitpid(pid, status, 0) < 0)
	{
		if (errno != EINTR)
			return -1;
	}
	len = strlen(out);
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
		out[--len] = '\0';
	return 0;
}

/* Runs "<bindir>/pg_config --what", or pg_config from PATH without a bindir. */
static int
pg_config_value(const char *bindir, const char *what, char *out, size_t cap, RvxError *err)
{
	char		prog[PATH_MAX];
	char		opt[64];
	char	   *argv[] = {prog, opt, NULL};
	int			status;

	snprintf(prog, sizeof(prog), "%s%spg_config", bindir && bindir[0] ? bindir : "",
			 bindir && bindir[0] ? "/" : "");
	snprintf(opt, sizeof(opt), "--%s", what);
	if (command_first_line(argv, out, cap, &status) != 0)
		return rvx_error(err, RVX_E_CONFIG, "could not run pg_config: %s", strerror(errno));
	if (status != 0 || out[0] == '\0')
		return rvx_error(err, RVX_E_CONFIG,
						 "could not find the PostgreSQL programs with \"pg_config --%s\"; "
						 "set REVRX_PG_BINDIR to their directory", what);
	return 0;
}

/* A TCP port nobody listens on now; it only names our socket file. */
static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t	len = sizeof(sa);
	int			fd = socket(AF_INET, SOCK_STREAM, 0);
	int			port = 0;

	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0 &&
		getsockname(fd, (struct sockaddr *) &sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

int
rvx_pg_init(RvxPgInstance *pg, const char *bindir, RvxError *err)
{
	const char *user = getenv("PGUSER");
	struct passwd *pw;

	memset(pg, 0, sizeof(*pg));
	if (bindir && bindir[0])
		snprintf(pg->bindir, sizeof(pg->bindir), "%s", bindir);
	else if (pg_config_value(NULL, "bindir", pg->bindir, sizeof(pg->bindir), err) != 0)
		return -1;
	{
		char		path[PATH_MAX + 16];

		snprintf(path, sizeof(path), "%s/postgres", pg->bindir);
		if (access(path, X_OK) != 0)
			return rvx_error(err, RVX_E_CONFIG, "\"%s\" is not an executable postgres (REVRX_PG_BINDIR)",
							 path);
	}
	if (user == NULL || user[0] == '\0')
	{
		pw = getpwuid(geteuid());
		user = pw ? pw->pw_name : "postgres";
	}
	snprintf(pg->user, sizeof(pg->user), "%s", user);
	pg->port = free_port();
	if (pg->port == 0)
		pg->port = 40000 + (int) (getpid() % 20000);
	return 0;
}

int
rvx_pg_version_major(const char *text)
{
	const char *p = strstr(text, "(PostgreSQL)");

	/* "postgres (PostgreSQL) 17.2"; else the first number in the line */
	p = p ? p + strlen("(PostgreSQL)") : text;
	while (*p && !isdigit((unsigned char) *p))
		p++;
	if (!isdigit((unsigned char) *p))
		return 0;
	return (int) strtol(p, NULL, 10);
}

int
rvx_pg_binary_major(const RvxPgInstance *pg, int *major, char *text, size_t cap, RvxError *err)
{
	char		prog[PATH_MAX];
	char		opt[] = "-V";
	char	   *argv[] = {prog, opt, NULL};
	int			status;

	*major = 0;
	text[0] = '\0';
	snprintf(prog, sizeof(prog), "%s/postgres", pg->bindir);
	if (command_first_line(argv, text, cap, &status) != 0)
		return rvx_error(err, RVX_E_CONFIG, "could not run \"%s/postgres -V\": %s", pg->bindir,
						 strerror(errno));
	*major = rvx_pg_version_major(text);
	if (status != 0 || *major == 0)
		return rvx_error(err, RVX_E_CONFIG,
						 "\"%s/postgres -V\" does not say its version (REVRX_PG_BINDIR)", pg->bindir);
	return 0;
}

int
rvx_pg_major_check(int binary_major, const char *bindir, int backup_major, const char *backup_id,
				   RvxError *err)
{
	if (binary_major == backup_major)
		return 0;
	return rvx_error(err, RVX_E_PG_VERSION,
					 "backup %s is of PostgreSQL %d, but the PostgreSQL programs in \"%s\" are of "
					 "PostgreSQL %d; set REVRX_PG_BINDIR to PostgreSQL %d's",
					 backup_id && backup_id[0] ? backup_id : "(the one the target chooses)",
					 backup_major, bindir, binary_major, backup_major);
}

int
rvx_pg_config(const RvxPgInstance *pg, const char *what, char *out, size_t cap, RvxError *err)
{
	return pg_config_value(pg->bindir, what, out, cap, err);
}

/* Spawns argv with stdout and stderr appended to outfile; own process group if pgroup. */
static int
spawn(const char *const *argv, const char *outfile, bool pgroup, pid_t *pid, RvxError *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t	sigdef;
	short		flags;
	int			rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, outfile,
									 O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
	/* we ignore SIGPIPE; the programs we run must not inherit that */
	sigemptyset(&sigdef);
	sigaddset(&sigdef, SIGPIPE);
	posix_spawnattr_setsigdefault(&attr, &sigdef);
	flags = POSIX_SPAWN_SETSIGDEF;
	if (pgroup)
	{
		flags |= POSIX_SPAWN_SETPGROUP;
		posix_spawnattr_setpgroup(&attr, 0);
	}
	posix_spawnattr_setflags(&attr, flags);
	rc = posix_spawn(pid, argv[0], &fa, &attr, (char *const *) argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0)
		return rvx_error(err, RVX_E_CONFIG, "could not run \"%s\": %s", argv[0], strerror(rc));
	return 0;
}

int
rvx_pg_start(RvxPgInstance *pg, const char *const *settings, int nsettings, RvxError *err)
{
	char		postgres[PATH_MAX + 16];
	char		port[32];
	char		sock[PATH_MAX + 64];
	char		hba[PATH_MAX + 32];
	const char **argv = calloc((size_t) (nsettings * 2 + 16), sizeof(char *));
	int			n = 0;
	FILE	   *f;
	int			rc;

	if (argv == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");

	/*
	 * Only the owner can reach the socket directory (0700), so local trust
	 * is no wider than the files themselves; the restored hba file may ask
	 * for passwords nobody running a drill has.
	 */
	f = fopen(pg->hba_file, "w");
	if (f == NULL || fputs("# written by revrx-agent verify: the socket directory is private\n"
						   "local all all trust\n", f) < 0 || fclose(f) != 0)
	{
		free(argv);
		return rvx_error(err, RVX_E_IO, "could not write \"%s\": %s", pg->hba_file, strerror(errno));
	}

	snprintf(postgres, sizeof(postgres), "%s/postgres", pg->bindir);
	snprintf(port, sizeof(port), "port=%d", pg->port);
	snprintf(sock, sizeof(sock), "unix_socket_directories=%s", pg->sockdir);
	snprintf(hba, sizeof(hba), "hba_file=%s", pg->hba_file);
	argv[n++] = postgres;
	argv[n++] = "-D";
	argv[n++] = pg->pgdata;
	argv[n++] = "-c";
	argv[n++] = port;
	argv[n++] = "-c";
	argv[n++] = sock;
	argv[n++] = "-c";
	argv[n++] = "listen_addresses=";
	argv[n++] = "-c";
	argv[n++] = hba;
	for (int i = 0; i < nsettings; i++)
	{
		argv[n++] = "-c";
		argv[n++] = settings[i];
	}
	argv[n] = NULL;
	rc = spawn(argv, pg->logfile, true, &pg->pid, err);
	free(argv);
	if (rc != 0)
	{
		pg->pid = 0;
		return -1;
	}
	rvx_debug("started postgres (pid %d) on \"%s\", socket %s, port %d", (int) pg->pid,
			  pg->pgdata, pg->sockdir, pg->port);
	return 0;
}

bool
rvx_pg_alive(RvxPgInstance *pg)
{
	int			status;

	if (pg->pid <= 0)
		return false;
	if (waitpid(pg->pid, &status, WNOHANG) == pg->pid)
	{
		pg->exit_status = status;
		pg->pid = 0;
		return false;
	}
	return true;
}

/* Waits up to timeout_ms for the server to exit. */
static bool
wait_exit(RvxPgInstance *pg, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 100)
	{
		if (!rvx_pg_alive(pg))
			return true;
		sleep_ms(100);
	}
	return false;
}

int
rvx_pg_stop(RvxPgInstance *pg, int timeout_s, RvxError *err)
{
	if (!rvx_pg_alive(pg))
		return rvx_error(err, RVX_E_INTERNAL, "the server was not running (%s)",
						 WIFSIGNALED(pg->exit_status) ? "killed by a signal" : "it exited");
	kill(pg->pid, SIGINT);		/* fast shutdown: a checkpoint, then exit */
	if (wait_exit(pg, timeout_s * 1000))
	{
		if (WIFEXITED(pg->exit_status) && WEXITSTATUS(pg->exit_status) == 0)
			return 0;
		return rvx_error(err, RVX_E_INTERNAL, "the server exited with status %d while shutting down",
						 WIFEXITED(pg->exit_status) ? WEXITSTATUS(pg->exit_status) : -1);
	}
	rvx_warn("the drill server did not stop within %d s; stopping it immediately", timeout_s);
	kill(pg->pid, SIGQUIT);
	if (!wait_exit(pg, 10000))
	{
		kill(pg->pid, SIGKILL);
		wait_exit(pg, 10000);
	}
	return rvx_error(err, RVX_E_INTERNAL, "the server did not shut down cleanly within %d s",
					 timeout_s);
}

PGconn *
rvx_pg_connect(const RvxPgInstance *pg, const char *dbname, RvxError *err)
{
	char		port[16];
	const char *keys[] = {"host", "port", "dbname", "user", "connect_timeout",
	"application_name", "options", NULL};
	const char *vals[8];
	PGconn	   *conn;

	snprintf(port, sizeof(port), "%d", pg->port);
	vals[0] = pg->sockdir;
	vals[1] = port;
	vals[2] = dbname;
	vals[3] = pg->user;
	vals[4] = "10";
	vals[5] = "revrx-verify";
	/* production's statement_timeout must not cut a check of a big table short */
	vals[6] = "-c statement_timeout=0";
	vals[7] = NULL;
	conn = PQconnectdbParams(keys, vals, 0);
	if (conn == NULL)
	{
		rvx_error(err, RVX_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK)
	{
		char		msg[512];
		size_t		len;

		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
		len = strlen(msg);
		while (len > 0 && msg[len - 1] == '\n')
			msg[--len] = '\0';
		rvx_error(err, RVX_E_NETWORK, "could not connect to database \"%s\" of the drill server: %s",
				  dbname, msg);
		PQfinish(conn);
		return NULL;
	}

	/*
	 * The drill connects as the bootstrap superuser to databases whose
	 * owners need not be superusers: with their search_path (ALTER DATABASE
	 * ... SET search_path), an unqualified count() or format() could be
	 * theirs, run with our privileges.  As pg_dump does, nothing but
	 * pg_catalog (searched implicitly) resolves an unqualified name.
	 */
	{
		PGresult   *r = PQexec(conn, "SELECT pg_catalog.set_config('search_path', '', false)");

		if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK)
		{
			rvx_error(err, RVX_E_NETWORK, "could not clear search_path in database \"%s\" of the drill server: %s",
					  dbname, r ? PQresultErrorMessage(r) : "no result");
			PQclear(r);
			PQfinish(conn);
			return NULL;
		}
		PQclear(r);
	}
	return conn;
}

static int
result_error(PGconn *conn, PGresult *res, const char *sql, RvxError *err)
{
	char		msg[600];
	size_t		len;

	snprintf(msg, sizeof(msg), "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	len = strlen(msg);
	while (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';
	PQclear(res);
	return rvx_error(err, RVX_E_CORRUPT, "query failed: %s (%.100s)", msg, sql);
}

int
rvx_pg_query_value(PGconn *conn, const char *sql, char **value, RvxError *err)
{
	PGresult   *res = PQexec(conn, sql);

	*value = NULL;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		return result_error(conn, res, sql, err);
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
	{
		*value = strdup(PQgetvalue(res, 0, 0));
		if (*value == NULL)
		{
			PQclear(res);
			return rvx_error(err, RVX_E_INTERNAL, "out of memory");
		}
	}
	PQclear(res);
	return 0;
}

int
rvx_pg_exec(PGconn *conn, const char *sql, RvxError *err)
{
	PGresult   *res = PQexec(conn, sql);

	if (res == NULL || (PQresultStatus(res) != PGRES_COMMAND_OK &&
						PQresultStatus(res) != PGRES_TUPLES_OK))
		return result_error(conn, res, sql, err);
	PQclear(res);
	return 0;
}

int
rvx_pg_run_program(const RvxPgInstance *pg, const char *const *argv, const char *outfile,
				   int *exit_code, RvxError *err)
{
	char		prog[PATH_MAX + 64];
	const char **args;
	int			n = 0;
	pid_t		pid;
	int			status;

	while (argv[n])
		n++;
	args = calloc((size_t) n + 1, sizeof(char *));
	if (args == NULL)
		return rvx_error(err, RVX_E_INTERNAL, "out of memory");
	memcpy(args, argv, (size_t) n * sizeof(char *));
	if (strchr(argv[0], '/') == NULL)
	{
		snprintf(prog, sizeof(prog), "%s/%s", pg->bindir, argv[0]);
		args[0] = prog;
	}
	if (access(args[0], X_OK) != 0)
	{
		rvx_error(err, RVX_E_CONFIG, "\"%s\" is not installed or not executable", args[0]);
		free(args);
		return -1;
	}
	if (spawn(args, outfile, false, &pid, err) != 0)
	{
		free(args);
		return -1;
	}
	free(args);
	while (waitpid(pid, &status, 0) < 0)
	{
		if (errno != EINTR)
			return rvx_error(err, RVX_E_INTERNAL, "waitpid failed: %s", strerror(errno));
	}
	*exit_code = WIFEXITED(status) ? WEXITSTATUS(status) :
		WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;
	return 0;
}

char *
rvx_text_file_head(const char *path, int max_lines, const char *const *patterns)
{
	FILE	   *f = fopen(path, "r");
	size_t		cap = 4096,
				len = 0;
	char	   *out = malloc(cap);
	char		line[1024];
	int			lines = 0;

	if (out == NULL)
	{
		if (f)
			fclose(f);
		return NULL;
	}
	out[0] = '\0';
	if (f == NULL)
		return out;
	while (lines < max_lines && fgets(line, sizeof(line), f))
	{
		size_t		l;

		if (patterns)
		{
			bool		match = false;

			for (int i = 0; patterns[i] && !match; i++)
				match = strstr(line, patterns[i]) != NULL;
			if (!match)
				continue;
		}
		l = strlen(line);
		if (len + l + 2 > cap)
		{
			char	   *n = realloc(out, cap * 2 + l);

			if (n == NULL)
				break;
			out = n;
			cap = cap * 2 + l;
		}
		memcpy(out + len, line, l);
		len += l;
		if (l > 0 && line[l - 1] != '\n')
			out[len++] = '\n';
		out[len] = '\0';
		lines++;
	}
	fclose(f);
	return out;
}

char *
rvx_text_file_tail(const char *path, int max_lines, const char *const *patterns)
{
	FILE	   *f = fopen(path, "r");
	char	   *all;
	char	   *out;
	long		size;
	size_t		got;
	const long	window = 256 * 1024;	/* the end of a long log is what matters */
	char	  **starts;
	int			n = 0;
	size_t		len = 0;

	if (f == NULL)
		return strdup("");
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0)
	{
		fclose(f);
		return strdup("");
	}
	fseek(f, size > window ? size - window : 0, SEEK_SET);
	all = malloc((size_t) (size > window ? window : size) + 1);
	starts = calloc((size_t) max_lines + 1, sizeof(char *));
	if (all == NULL || starts == NULL)
	{
		fclose(f);
		free(all);
		free(starts);
		return NULL;
	}
	got = fread(all, 1, (size_t) (size > window ? window : size), f);
	all[got] = '\0';
	fclose(f);
	/* a ring of the last max_lines matching lines */
	for (char *line = all; *line;)
	{
		char	   *nl = strchr(line, '\n');
		bool		match = patterns == NULL;

		if (nl)
			*nl = '\0';
		for (int i = 0; patterns && patterns[i] && !match; i++)
			match = strstr(line, patterns[i]) != NULL;
		if (match && *line)
		{
			if (n == max_lines)
			{
				memmove(starts, starts + 1, (size_t) (max_lines - 1) * sizeof(char *));
				starts[max_lines - 1] = line;
			}
			else
				starts[n++] = line;
		}
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	for (int i = 0; i < n; i++)
		len += strlen(starts[i]) + 1;
	out = malloc(len + 1);
	if (out)
	{
		out[0] = '\0';
		for (int i = 0; i < n; i++)
		{
			strcat(out, starts[i]);
			strcat(out, "\n");
		}
	}
	free(starts);
	free(all);
	return out;
}
