# Point-in-time recovery: rows are written one per transaction after a
# base backup, each with the time, LSN and xid right after its commit, and
# a restore point between them.  Restores to a time, an LSN, a restore
# point, an xid (inclusive and exclusive) and "immediate" must each hold
# EXACTLY the rows before the target.  A second backup proves the choice
# of backup (the newest that ends before the target; an explicit one that
# ends after it is refused).  Targets outside what the repository reaches
# and malformed values are refused before anything is written.  The
# restored copy does not archive into the repository.

use strict;
use warnings FATAL => 'all';

use File::Find;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $env = { REVRX_REPO => "file://$repodir" };

my $node = RevrxTest::new_node('pitr', timeout => 30);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir");
$node->safe_psql('postgres', 'CREATE TABLE t(i int PRIMARY KEY, x xid8)');

my $utc_now = q{to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'};
my $before_backup = $node->safe_psql('postgres', "SELECT $utc_now");

# Backup records carry stop_time in whole seconds: rows whose times are
# targets must come a second later.
sub next_second { usleep(1_200_000); }

my $b1 = $node->safe_psql('postgres', 'SELECT revrx_backup_now(NULL, true)');
like($b1, qr/^\d{8}T\d{6}Z/, "first backup $b1");
next_second();

# row i: its xid, and the time and LSN just after its commit
my (%time, %lsn, %xid);
sub add_row
{
	my ($i) = @_;
	$node->safe_psql('postgres', "INSERT INTO t VALUES ($i, pg_current_xact_id())");
	($time{$i}, $lsn{$i}, $xid{$i}) = split /\|/, $node->safe_psql('postgres',
		"SELECT $utc_now, pg_current_wal_lsn(), (SELECT x FROM t WHERE i = $i)");
	return;
}
add_row($_) for 1 .. 3;
# revrx_restore_point() records the point in the repository
my $rp = $node->safe_psql('postgres', "SELECT revrx_restore_point('rp3')");
add_row($_) for 4 .. 6;
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 120), "archived up to $last");

# the second backup, and rows after it
my $b2 = $node->safe_psql('postgres', 'SELECT revrx_backup_now(NULL, true)');
isnt($b2, $b1, "second backup $b2");
next_second();
add_row($_) for 7 .. 8;
$last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 120), "archived up to $last");

ok(RevrxTest::wait_for(sub { glob("$repodir/restore_points/rp3.json*") }, 60, 'the restore point record'),
	'revrx_restore_point() recorded rp3 in the repository');

ok(defined((grep { $_->{id} eq $b1 } @{ RevrxTest::backups($env) })[0]->{next_xid}),
	'backup records carry next_xid');

my $seq = 0;

# Restores with @args, starts the copy, and checks it holds exactly rows 1..$n.
sub restore_to
{
	my ($what, $n, $expect_backup, @args) = @_;
	my ($r, $rc, $out, $err) = RevrxTest::restore_node('r' . ++$seq, $env, @args);
	is($rc, 0, "$what: restore succeeded") or diag($err);
	like($err, qr/restored backup \Q$expect_backup\E /, "$what: backup $expect_backup was restored");
	RevrxTest::prepare_restored($r);
	ok(RevrxTest::start_restored($r, $env), "$what: recovered and promoted");
	is($r->safe_psql('postgres', "SELECT coalesce(string_agg(i::text, ',' ORDER BY i), '') FROM t"),
		join(',', 1 .. $n), "$what: exactly rows 1..$n");
	return $r;
}

# Runs a restore that must be refused; returns its stderr.
sub refused
{
	my ($what, $code, $re, @args) = @_;
	my ($r, $rc, $out, $err) = RevrxTest::restore_node('x' . ++$seq, $env, @args);
	is($rc, $code, "$what: refused with exit code $code");
	like($err, $re, "$what: the message says why") or diag($err);
	ok(!-e $r->data_dir, "$what: nothing written");
	return $err;
}

# --- targets, backup chosen by the agent
my $r = restore_to('time between rows 2 and 3', 2, $b1, '--target-time', $time{2});
like(slurp_file($r->data_dir . '/postgresql.auto.conf'),
	qr/recovery_target_time = '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00'/,
	'the time is written in normalised form');
is($r->safe_psql('postgres', 'SHOW archive_mode'), 'off', 'the restored copy does not archive');

# it runs and switches WAL: nothing reaches the repository
my $count_objects = sub { my $n = 0; find(sub { $n++ if -f $_ }, $repodir); return $n; };
my $objects = $count_objects->();
$r->safe_psql('postgres', 'INSERT INTO t VALUES (100, NULL); SELECT pg_switch_wal(); CHECKPOINT;');
RevrxTest::switch_wal($r);
usleep(2_000_000);    # give a (wrongly) archiving copy and the original's agent the time to store
is($count_objects->(), $objects, 'no object reached the repository from the restored copy');
is($r->safe_psql('postgres', 'SELECT archived_count FROM pg_stat_archiver'), '0',
	'the restored copy archived nothing');
$r->stop;

restore_to('LSN after row 4', 4, $b1, '--target-lsn', $lsn{4})->stop;
restore_to('restore point rp3', 3, $b1, '--target-name', 'rp3')->stop;
restore_to('xid of row 5, inclusive', 5, $b1, '--target-xid', $xid{5})->stop;
restore_to('xid of row 5, exclusive', 4, $b1, '--target-xid', $xid{5}, '--target-exclusive')->stop;
restore_to('immediate: the newest backup, consistent', 6, $b2, '--target', 'immediate')->stop;
restore_to('time after the second backup', 7, $b2, '--target-time', $time{7})->stop;

# --- refusals
refused('explicit backup ending after the target', 2,
	qr/backup \Q$b2\E ends at .*after the target time/,
	'--backup', $b2, '--target-time', $time{2});
refused('time before the end of the oldest backup', 2,
	qr/before the end of the oldest backup.*reachable: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00 \.\. \d{4}-/,
	'--target-time', $before_backup);
refused('LSN before the end of the oldest backup', 2,
	qr/before the end of the oldest backup.*reachable: [0-9A-F]+\/[0-9A-F]+ \.\. [0-9A-F]+\/[0-9A-F]+/,
	'--target-lsn', '0/100');
my $later = $node->safe_psql('postgres',
	q{SELECT to_char((now() + interval '1 hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')});
refused('time after the last archived WAL', 2,
	qr/after the last archived WAL.*reachable: .* \.\. \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00/,
	'--target-time', $later);
refused('LSN after the last archived WAL', 2, qr/after the last archived WAL.*reachable: /,
	'--target-lsn', 'FF/0');
refused('unrecorded restore point', 1, qr/restore point "nope" is not recorded/,
	'--target-name', 'nope');
refused('xid older than every backup', 2, qr/older than the end of every backup/,
	'--target-xid', '3');
refused('malformed time', 2, qr/invalid recovery target time "yesterday"/, '--target-time', 'yesterday');
refused('time without a zone', 2, qr/no time zone/, '--target-time', '2026-11-26 10:00:00');
refused('malformed LSN', 2, qr/invalid recovery target LSN "12345"/, '--target-lsn', '12345');
refused('malformed xid', 2, qr/invalid recovery target xid "abc"/, '--target-xid', 'abc');
refused('two targets', 2, qr/only one recovery target/, '--target-lsn', '0/1', '--target', 'immediate');
refused('exclusive with a name', 2, qr/--target-exclusive goes with/, '--target-name', 'rp3',
	'--target-exclusive');

$agent->stop;
$node->stop;
done_testing();
