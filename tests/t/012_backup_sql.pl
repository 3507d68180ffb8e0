# The SQL surface of backups under concurrency: two concurrent
# revrx_backup_now() calls, one runs and the other gets a clear error;
# after it the next backup works.

use strict;
use warnings FATAL => 'all';

use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $node = RevrxTest::new_node('concurrent', timeout => 30);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir");
$node->command_ok([ 'pgbench', '-i', '-q', '-s', '10', 'postgres' ], 'some data');

my $first = $node->safe_psql('postgres', "SELECT revrx_backup_now('first')");
my ($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT revrx_backup_now('second')");
isnt($ret, 0, 'a second backup while one runs is refused');
like($stderr, qr/already|in progress/i, "with a clear error: $stderr");
like($stderr, qr/\Q$first\E/, 'naming the running backup');

ok( $node->poll_query_until('postgres',
		"SELECT status IN ('complete', 'failed') FROM revrx_backups() WHERE id = '$first'"),
	'the first backup finishes');
is($node->safe_psql('postgres', "SELECT status FROM revrx_backups() WHERE id = '$first'"),
	'complete', 'and it is complete');
my $next = $node->safe_psql('postgres', "SELECT revrx_backup_now('next', true)");
ok($next && $next ne $first, "the next backup ($next) works");

# as a role without privileges
$node->safe_psql('postgres', 'CREATE ROLE nobody LOGIN');
($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT revrx_backup_now()', extra_params => [ '-U', 'nobody' ]);
like($stderr, qr/permission denied for function revrx_backup_now/, 'a plain role cannot take backups');

done_testing();
