/*-------------------------------------------------------------------------
 *
 * test_remove_tree.c
 *	  Unit tests for rvx_remove_tree (agent/base/file_utils.c): a nested
 *	  tree is removed, or emptied with its top kept; a symbolic link in it
 *	  is removed and what it points to is left whole; a missing path is no
 *	  error; a path that is a plain file is removed like any entry.
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/file_utils.h"

static char base[] = "/tmp/revrx-unit-rmtree-XXXXXX";

static void
put(const char *fmt, const char *a)
{
	char		path[512];
	FILE	   *f;

	snprintf(path, sizeof(path), fmt, base, a);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("x", f);
	fclose(f);
}

static bool
exists(const char *fmt, const char *a)
{
	char		path[512];
	struct stat st;

	snprintf(path, sizeof(path), fmt, base, a);
	return lstat(path, &st) == 0;
}

/* base/tree/{f, a/g, a/b/h, link -> base/outside}, base/outside/keep */
static void
make_tree(void)
{
	char		p[512],
				q[512];

	snprintf(p, sizeof(p), "%s/tree/a/b", base);
	assert_int_equal(system((snprintf(q, sizeof(q), "mkdir -p %s %s/outside", p, base), q)), 0);
	put("%s/tree/%s", "f");
	put("%s/tree/a/%s", "g");
	put("%s/tree/a/b/%s", "h");
	put("%s/outside/%s", "keep");
	snprintf(p, sizeof(p), "%s/outside", base);
	snprintf(q, sizeof(q), "%s/tree/link", base);
	assert_int_equal(symlink(p, q), 0);
}

static void
test_remove_tree(void **state)
{
	RvxError	err = {0};
	char		p[512];

	assert_non_null(mkdtemp(base));
	make_tree();
	snprintf(p, sizeof(p), "%s/tree", base);

	/* emptied, its top kept; the link's target untouched */
	assert_int_equal(rvx_remove_tree(p, true, &err), 0);
	assert_true(exists("%s/%s", "tree"));
	assert_false(exists("%s/tree/%s", "f"));
	assert_false(exists("%s/tree/%s", "a"));
	assert_false(exists("%s/tree/%s", "link"));
	assert_true(exists("%s/outside/%s", "keep"));

	/* removed whole */
	make_tree();
	assert_int_equal(rvx_remove_tree(p, false, &err), 0);
	assert_false(exists("%s/%s", "tree"));
	assert_true(exists("%s/outside/%s", "keep"));

	/* missing: nothing to do */
	assert_int_equal(rvx_remove_tree(p, false, &err), 0);

	/* a plain file */
	put("%s/%s", "file");
	snprintf(p, sizeof(p), "%s/file", base);
	assert_int_equal(rvx_remove_tree(p, false, &err), 0);
	assert_false(exists("%s/%s", "file"));

	assert_int_equal(rvx_remove_tree(base, false, &err), 0);
	assert_false(exists("%s%s", ""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remove_tree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
