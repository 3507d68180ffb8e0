# A backup of a database many times larger than the spool cap: the
# exporter waits for the agent instead of filling the disk, and the backup
# completes.  The spool never holds much more than the cap.

use strict;
use warnings FATAL => 'all';

use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $cap_mb = 16;
my $node = RevrxTest::new_node('spool_cap', timeout => 30, compression => 'none',
	extra => "revrx.spool_max_size = '${cap_mb}MB'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir", env => { REVRX_PARALLEL => 1 });

# 24 tables of about 7 MB each: no single file is near the cap
for my $t (1 .. 24)
{
	$node->safe_psql('postgres',
		"CREATE TABLE t$t AS SELECT g AS id, md5(g::text) || md5((g + $t)::text) AS pad FROM generate_series(1, 70000) g");
}
my $db_bytes = $node->safe_psql('postgres', 'SELECT sum(pg_database_size(oid)) FROM pg_database');
cmp_ok($db_bytes, '>=', 4 * $cap_mb * 1024 * 1024, sprintf('database is %.0f MB, over 4 times the %d MB cap', $db_bytes / 1048576, $cap_mb));

my $id = $node->safe_psql('postgres', "SELECT revrx_backup_now('big')");
my $spool = RevrxTest::spool_dir($node) . "/backup/$id";
my $max = 0;
while (1)
{
	my $status = $node->safe_psql('postgres', "SELECT status FROM revrx_backups() WHERE id = '$id'");
	last if $status eq 'complete' || $status eq 'failed';
	my $bytes = 0;
	if (-d $spool)
	{
		# files come and go while we look: count what is still there
		for my $f (split /\n/, `find '$spool' -name '*.rvx' 2>/dev/null`)
		{
			my $size = -s $f;
			$bytes += $size if defined $size;
		}
	}
	$max = $bytes if $bytes > $max;
	usleep(50_000);
}
is($node->safe_psql('postgres', "SELECT status FROM revrx_backups() WHERE id = '$id'"),
	'complete', 'the backup completes');
note sprintf('largest spool seen: %.1f MB', $max / 1048576);
cmp_ok($max, '<=', 2 * $cap_mb * 1024 * 1024, 'the spool stayed near its cap');
my ($b) = grep { $_->{id} eq $id } @{ RevrxTest::backups($agent->env) };
cmp_ok($b->{original_bytes}, '>=', 4 * $cap_mb * 1024 * 1024, 'the stored backup holds the whole database');

done_testing();
