# PostgreSQL major versions: a backup's record says which major it is of
# (pg_major, and the server's version string in pg_version), `list` and
# revrx_backups() show it, and `revrx-agent verify` with PostgreSQL programs of another major
# (REVRX_PG_BINDIR pointing at a fake PostgreSQL 17) refuses before it
# restores anything, with exit code 12 and a message naming both majors.

use strict;
use warnings FATAL => 'all';

use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $node = RevrxTest::new_node('versions', timeout => 30);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir");
my $env = { REVRX_REPO => "file://$repodir" };

my $major = $node->safe_psql('postgres', 'SELECT current_setting(\'server_version_num\')::int / 10000');
my $version = $node->safe_psql('postgres', 'SHOW server_version');

my $id = $node->safe_psql('postgres', "SELECT revrx_backup_now('versions', wait => true)");
like($id, qr/^\d{8}T\d{6}Z/, "backup $id taken");

# ---------------------------------------------------------------- the record

my ($b) = grep { $_->{id} eq $id } @{ RevrxTest::backups($env) };
ok($b, 'list --json shows the backup');
is($b->{pg_major}, $major, "the record says PostgreSQL $major");
is($b->{pg_version}, $version, "and the server's version string ($version)");
is(int($b->{pg_version_num} / 10000), $major, 'pg_version_num agrees');
my ($rc, $out, $err) = RevrxTest::run_agent($env, 'list');
is($rc, 0, 'list') or diag $err;
like($out, qr/^ID\s+STATUS\s+KIND\s+PG\s/m, 'list has a PG column');
like($out, qr/^\Q$id\E\s+complete\s+full\s+\Q$major\E\s/m, "list shows $major for the backup");

# revrx_backups(): from the catalog the agent publishes (the record's pg_major)
my $catalog = RevrxTest::spool_dir($node) . '/status/backups.json';
ok(RevrxTest::wait_for(sub { -f $catalog && slurp_file($catalog) =~ /"\Q$id\E"/ }, 60, 'catalog'),
	'the agent published the backup in its catalog');
like(slurp_file($catalog), qr/"pg_major":\s*\Q$major\E/, 'the catalog carries pg_major');
is($node->safe_psql('postgres', "SELECT pg_major FROM revrx_backups() WHERE id = '$id'"), $major,
	"revrx_backups() shows PostgreSQL $major");

# ---------------------------------------------------------------- another major's programs

my $fake = PostgreSQL::Test::Utils::tempdir('pg17bin');
for my $prog (qw(postgres pg_ctl))
{
	open my $fh, '>', "$fake/$prog" or die "$fake/$prog: $!";
	print $fh "#!/bin/sh\necho '$prog (PostgreSQL) 17.2'\n";
	close $fh;
	chmod 0755, "$fake/$prog";
}
my $other = $major == 17 ? 18 : 17;
if ($other != 17)
{
	# a server of 17 itself: the fake is of 18
	system("sed -i 's/17\\.2/18.1/' '$fake/postgres' '$fake/pg_ctl'") == 0 or die;
}

for my $case ([ 'newest backup', [] ], [ "backup $id", [ '--backup', $id ] ])
{
	my ($what, $args) = @$case;
	my $scratch = PostgreSQL::Test::Utils::tempdir('scratch') . '/drill';
	my $report = "$PostgreSQL::Test::Utils::tmp_check/report_versions.json";
	unlink $report;
	my ($vrc, $vout, $verr) = RevrxTest::run_agent({ %$env, REVRX_PG_BINDIR => $fake },
		'verify', '--scratch', $scratch, '--report', $report, @$args);
	is($vrc, 12, "$what: verify with PostgreSQL $other programs exits 12") or diag $verr;
	like($verr, qr/backup \Q$id\E is of PostgreSQL $major/, "$what: names the backup's major");
	like($verr, qr/"\Q$fake\E" are of PostgreSQL $other/, "$what: names the programs' major and where");
	like($verr, qr/REVRX_PG_BINDIR/, "$what: says which setting to change");
	ok(!-e $scratch, "$what: nothing restored (no scratch directory)");
	ok(!-e $report, "$what: no report written");
}
my @reports = glob("$repodir/backup/$id/verif*");
is(scalar @reports, 0, 'no drill report stored in the repository');

# the same drill with the right programs still passes
my $scratch = PostgreSQL::Test::Utils::tempdir('scratch') . '/good';
($rc, $out, $err) = RevrxTest::run_agent($env, 'verify', '--scratch', $scratch);
is($rc, 0, 'verify with the server\'s own programs passes') or diag $err;

$agent->stop;
$node->stop;
done_testing();
