# Timelines and a restored cluster that becomes a new primary, on S3.
# A cluster archives into prefix "orig"; it is lost; a point-in-time
# restore with --archive is promoted onto timeline 2 and archives, with
# its own spool and agent, into a SEPARATE prefix "tl2", where it also
# takes a backup.  A point-in-time restore from "tl2" alone to a time on
# timeline 2 holds exactly the rows before it; 00000002.history is in the
# new prefix; the original prefix received nothing from the restored
# cluster.

use strict;
use warnings FATAL => 'all';

use File::Find;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use RevrxTest;

my $s3 = RevrxTest::S3->start;
my $env1 = { %{ $s3->env }, REVRX_REPO => $s3->repo_url('orig') };
my $env2 = { %{ $s3->env }, REVRX_REPO => $s3->repo_url('tl2') };

my $utc_now = q{to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'};
my %time;

sub add_row
{
	my ($node, $i) = @_;
	$node->safe_psql('postgres', "INSERT INTO t VALUES ($i)");
	$time{$i} = $node->safe_psql('postgres', "SELECT $utc_now");
	return;
}

sub rows
{
	my ($node) = @_;
	return $node->safe_psql('postgres', "SELECT string_agg(i::text, ',' ORDER BY i) FROM t");
}

# The keys below a prefix, from the S3 server's own store, but for the
# audit trail: each restore from a prefix is recorded there (docs/audit.md),
# which is the repository's own account of what was done with it, not data
# from the restored cluster.
sub keys_of
{
	my ($prefix) = @_;
	my $dir = "$s3->{dir}/data/$s3->{bucket}/$prefix";
	my @keys;
	find(sub { push @keys, $File::Find::name =~ s{^\Q$dir\E/}{}r if /\._S3rver_object$/ }, $dir)
	  if -d $dir;
	return join("\n", sort grep { !m{^audit/} } @keys);
}

# --- the original cluster, timeline 1, prefix "orig"
my $node = RevrxTest::new_node('tl_orig', timeout => 30);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx; CREATE TABLE t(i int PRIMARY KEY)');
my $agent = RevrxTest::Agent->start($node, repo => $env1->{REVRX_REPO}, env => $s3->env);
my $b1 = $node->safe_psql('postgres', 'SELECT revrx_backup_now(NULL, true)');
like($b1, qr/^\d{8}T\d{6}Z/, "backup $b1 in the original prefix");
usleep(1_200_000);    # targets must come after the backup's end (whole seconds)
add_row($node, $_) for 1 .. 3;
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 120), "archived up to $last");

# disaster
$agent->stop;
$node->stop('immediate');
my $orig_keys = keys_of('orig');

# --- point-in-time restore as the new primary: rows 1..2, then timeline 2
my ($r1, $rc, $out, $err) = RevrxTest::restore_node('tl_new', $env1,
	'--target-time', $time{2}, '--target-action', 'promote', '--archive');
is($rc, 0, 'restore with --archive succeeded') or diag($err);
my $auto = slurp_file($r1->data_dir . '/postgresql.auto.conf');
unlike($auto, qr/^archive_mode/m, '--archive: archive_mode is left as the backup had it');
like($auto, qr/^recovery_target_action = 'promote'$/m, 'target action written');
like($err, qr/--archive: the restored cluster keeps its archiving settings/, 'the choice is logged');

my $spool2 = PostgreSQL::Test::Utils::tempdir('spool_tl_new');
RevrxTest::prepare_restored($r1);
$r1->append_conf('postgresql.conf', "revrx.spool_dir = '$spool2'\n");
$r1->{revrx_spool} = $spool2;
my $agent2;
{
	local %ENV = (%ENV, map { $_ => $s3->env->{$_} } grep { /^AWS_/ } keys %{ $s3->env });
	$r1->start;
}
$agent2 = RevrxTest::Agent->start($r1, repo => $env2->{REVRX_REPO}, env => $s3->env);
ok($r1->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'promoted');
is(rows($r1), '1,2', 'recovered exactly to the target');
is($r1->safe_psql('postgres', 'SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)'),
	'00000002', 'now on timeline 2');

add_row($r1, $_) for 10 .. 11;
my $b2 = $r1->safe_psql('postgres', 'SELECT revrx_backup_now(NULL, true)');
like($b2, qr/^\d{8}T\d{6}Z/, "backup $b2 of the new primary in its own prefix");
usleep(1_200_000);
add_row($r1, $_) for 20 .. 22;
$last = RevrxTest::switch_wal($r1);
like($last, qr/^00000002/, "timeline 2 segment $last");
ok(RevrxTest::wait_archived($r1, $last, 120), "archived up to $last");

my ($hrc) = RevrxTest::run_agent($env2, 'wal-fetch', '00000002.history',
	PostgreSQL::Test::Utils::tempdir('h') . '/h');
is($hrc, 0, '00000002.history is in the new prefix');
is(keys_of('orig'), $orig_keys, 'the original prefix received nothing from the restored cluster');
($hrc) = RevrxTest::run_agent($env1, 'wal-fetch', '00000002.history',
	PostgreSQL::Test::Utils::tempdir('h') . '/h');
is($hrc, 1, 'no timeline 2 history in the original prefix');

# --- point-in-time restore from the new prefix alone, to a time on timeline 2
my $later = $r1->safe_psql('postgres',
	q{SELECT to_char((now() + interval '1 hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')});
$agent2->stop;
$r1->stop('immediate');

($rc, $out, $err) = (RevrxTest::restore_node('tl_late', $env2, '--target-time', $later))[1 .. 3];
is($rc, 2, 'S3: a time after the last archived WAL is refused');
like($err, qr/after the last archived WAL.*reachable: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00 \.\. \d{4}-/,
	'S3: the message names the reachable range (S3 Last-Modified read)') or diag($err);

my $r2;
($r2, $rc, $out, $err) = RevrxTest::restore_node('tl_pitr', $env2, '--target-time', $time{21});
is($rc, 0, 'point-in-time restore from the new prefix succeeded') or diag($err);
like($err, qr/restored backup \Q$b2\E /, 'from the backup taken on timeline 2');
RevrxTest::prepare_restored($r2);
ok(RevrxTest::start_restored($r2, $s3->env), 'recovered and promoted');
is(rows($r2), '1,2,10,11,20,21', 'exactly the rows up to the target on timeline 2');
is($r2->safe_psql('postgres', 'SHOW archive_mode'), 'off', 'this copy does not archive');
$r2->stop;

is(keys_of('orig'), $orig_keys, 'the original prefix is still untouched');
done_testing();
