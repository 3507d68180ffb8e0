/*-------------------------------------------------------------------------
 *
 * scripted_server.h
 *	  A scripted HTTP server for the unit tests of the agent's HTTP
 *	  clients (test_s3_http.c, test_credentials.c).
 *
 * The server runs in a forked child on 127.0.0.1 (a free port).  It plays
 * a script: for each expected request, the substrings its head (request
 * line and headers) and body must contain, and the raw response to send.
 * A request that does not match, a request after the script ended (a retry
 * that should not have happened) and a script not played to its end all
 * make the child exit non-zero, which server_finish() returns; so each
 * test checks both what the client returned and what it sent.  One
 * connection at a time; delayed() and hang() make a slow or a silent
 * server.
 *
 * Static functions in a header, like test_backup_fixture.h: each test
 * program is one translation unit.  Include after <cmocka.h>.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RVX_TEST_SCRIPTED_SERVER_H
#define RVX_TEST_SCRIPTED_SERVER_H

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* child exit statuses */
#define SCRIPT_OK			0
#define SCRIPT_MISMATCH		1
#define SCRIPT_UNPLAYED		2
#define SCRIPT_EXTRA		3
#define SCRIPT_BROKEN		4

typedef struct Step
{
	const char *expect[4];		/* substrings of the request head; NULL ends */
	const char *expect_body;	/* substring of the (first 64 kB of the) body */
	char	   *reply;			/* raw response (malloc'd) */
	bool		close;			/* close the connection after replying */
} Step;

typedef struct Server
{
	pid_t		pid;
	int			port;
	int			done_fd;		/* closing it tells the child to finish */
} Server;

/* ------------------------------------------------------ canned replies */

static char *
reply(int status, const char *headers, const char *body)
{
	char	   *out;
	size_t		len = strlen(body);

	if (asprintf(&out, "HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\n\r\n%s",
				 status, headers ? headers : "", len, body) < 0)
		abort();
	return out;
}

/* The same reply, sent after ms milliseconds (a slow server). */
static __attribute__((unused)) char *
delayed(int ms, char *r)
{
	char	   *out;

	if (asprintf(&out, "@delay %d\n%s", ms, r) < 0)
		abort();
	free(r);
	return out;
}

/* No reply at all: the server reads the request and never answers. */
static __attribute__((unused)) char *
hang(void)
{
	char	   *out = strdup("@hang\n");

	if (out == NULL)
		abort();
	return out;
}

/* ---------------------------------------------------------- the server */

/* Reads one request; 1 = got one, 0 = peer closed, -1 = error. */
static int
read_request(int fd, char *head, size_t headcap, char *body, size_t bodycap)
{
	size_t		have = 0;
	char	   *end = NULL;
	size_t		content_length = 0;
	size_t		body_have;
	const char *cl;

	while (end == NULL)
	{
		ssize_t		n;

		if (have + 1 >= headcap)
			return -1;
		n = read(fd, head + have, headcap - have - 1);
		if (n <= 0)
			return have == 0 ? 0 : -1;
		have += n;
		head[have] = '\0';
		end = strstr(head, "\r\n\r\n");
	}
	end += 4;
	body_have = have - (end - head);
	cl = strcasestr(head, "\r\nContent-Length:");
	if (cl)
		content_length = strtoul(cl + 17, NULL, 10);
	memmove(body, end, body_have < bodycap - 1 ? body_have : bodycap - 1);
	*end = '\0';

	if (strcasestr(head, "\r\nExpect: 100-continue") && body_have < content_length)
	{
		const char *cont = "HTTP/1.1 100 Continue\r\n\r\n";

		if (write(fd, cont, strlen(cont)) < 0)
			return -1;
	}
	while (body_have < content_length)
	{
		char		scratch[65536];
		size_t		want = content_length - body_have;
		ssize_t		n = read(fd, scratch, want < sizeof(scratch) ? want : sizeof(scratch));

		if (n <= 0)
			return -1;
		if (body_have < bodycap - 1)
			memcpy(body + body_have, scratch,
				   (size_t) n < bodycap - 1 - body_have ? (size_t) n : bodycap - 1 - body_have);
		body_have += n;
	}
	body[body_have < bodycap - 1 ? body_have : bodycap - 1] = '\0';
	return 1;
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = write(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* The child: plays the script, then refuses anything more. */
static void
serve(int lfd, int done_fd, Step *steps, int nsteps)
{
	static char head[65536];
	static char body[65536];
	int			conn = -1;
	int			step = 0;
	int			status = SCRIPT_OK;

	alarm(20);
	signal(SIGPIPE, SIG_IGN);
	for (;;)
	{
		struct pollfd pfd[2] = {{conn >= 0 ? conn : lfd, POLLIN, 0}, {done_fd, POLLIN, 0}};
		int			rc;

		if (poll(pfd, 2, -1) < 0)
			_exit(SCRIPT_BROKEN);
		if (pfd[1].revents)
			break;				/* the test is over */
		if (conn < 0)
		{
			conn = accept(lfd, NULL, NULL);
			if (conn < 0)
				_exit(SCRIPT_BROKEN);
			continue;
		}
		rc = read_request(conn, head, sizeof(head), body, sizeof(body));
		if (rc <= 0)
		{
			close(conn);
			conn = -1;
			continue;
		}
		if (step >= nsteps)
		{
			fprintf(stderr, "scripted server: unexpected request after the script:\n%s", head);
			status = SCRIPT_EXTRA;
			write_all(conn, "HTTP/1.1 599 Unexpected\r\nContent-Length: 0\r\n\r\n", 46);
			continue;
		}
		for (int i = 0; i < 4 && steps[step].expect[i]; i++)
			if (strstr(head, steps[step].expect[i]) == NULL)
			{
				fprintf(stderr, "scripted server: step %d: request lacks \"%s\":\n%s",
						step + 1, steps[step].expect[i], head);
				status = SCRIPT_MISMATCH;
			}
		if (steps[step].expect_body && strstr(body, steps[step].expect_body) == NULL)
		{
			fprintf(stderr, "scripted server: step %d: body lacks \"%s\"\n",
					step + 1, steps[step].expect_body);
			status = SCRIPT_MISMATCH;
		}
		if (strncmp(steps[step].reply, "@hang\n", 6) == 0)
		{
			/* a server that never answers: the client gives up and closes */
			step++;
			continue;
		}
		if (strncmp(steps[step].reply, "@delay ", 7) == 0)
		{
			char	   *end;

			usleep((useconds_t) strtol(steps[step].reply + 7, &end, 10) * 1000);
			memmove(steps[step].reply, end + 1, strlen(end + 1) + 1);
		}
		if (write_all(conn, steps[step].reply, strlen(steps[step].reply)) != 0)
			_exit(SCRIPT_BROKEN);
		if (steps[step].close)
		{
			shutdown(conn, SHUT_RDWR);
			close(conn);
			conn = -1;
		}
		step++;
	}
	if (status == SCRIPT_OK && step < nsteps)
	{
		fprintf(stderr, "scripted server: only %d of %d steps were played\n", step, nsteps);
		status = SCRIPT_UNPLAYED;
	}
	_exit(status);
}

static Server
server_start(Step *steps, int nsteps)
{
	Server		srv = {0};
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t	alen = sizeof(addr);
	int			lfd = socket(AF_INET, SOCK_STREAM, 0);
	int			pipefd[2];

	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *) &addr, sizeof(addr)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *) &addr, &alen), 0);
	srv.port = ntohs(addr.sin_port);
	assert_int_equal(pipe(pipefd), 0);

	fflush(NULL);
	srv.pid = fork();
	assert_true(srv.pid >= 0);
	if (srv.pid == 0)
	{
		close(pipefd[1]);
		serve(lfd, pipefd[0], steps, nsteps);
	}
	close(lfd);
	close(pipefd[0]);
	srv.done_fd = pipefd[1];
	for (int i = 0; i < nsteps; i++)
		free(steps[i].reply);
	return srv;
}

/* Ends the script; returns the child's verdict. */
static int
server_finish(Server *srv)
{
	int			status = 0;

	close(srv->done_fd);
	if (waitpid(srv->pid, &status, 0) != srv->pid || !WIFEXITED(status))
		return SCRIPT_BROKEN;
	return WEXITSTATUS(status);
}

#endif							/* RVX_TEST_SCRIPTED_SERVER_H */
