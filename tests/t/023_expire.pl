# Retention: `revrx-agent expire` with ages controlled by --now.
#
# Backups A (unlabelled), B (labelled), C and D (unlabelled) are taken a
# second or more apart, with a row written between each.  Then:
#  - expire --dry-run deletes nothing and prints exactly what the real run
#    then deletes; the real run leaves exactly {B, C, D} and the WAL from
#    B's start_wal on;
#  - PITR to a time after B still restores exactly the rows before it; a
#    time before B's end (A is gone) is refused;
#  - a pinned backup survives a policy that expires it, and goes unpinned;
#  - a backup whose backup.json was deleted by hand (a crash of an earlier
#    expire between the record and the rest) is cleaned up by the next run;
#  - a backup being shipped (its agent stopped with SIGSTOP after its lease
#    and first objects were stored) keeps its objects and its WAL through
#    an expire that would take everything else, although it looks
#    abandoned and its lease stale; resumed, it completes, its lease goes,
#    and it restores.

use strict;
use warnings FATAL => 'all';

use File::Find;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use Time::Local qw(timegm);

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $env = {
	REVRX_REPO => "file://$repodir",
	REVRX_RETAIN_SCHEDULED_DAYS => 30,
	REVRX_RETAIN_LABELLED_DAYS => 90,
	REVRX_RETAIN_MIN_FULL => 1,
};
my $day = 86400;

my $node = RevrxTest::new_node('expire', timeout => 30,
	extra => "revrx.spool_max_size = '16MB'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir",
	env => { REVRX_PARALLEL => 1, REVRX_CATALOG_REFRESH_S => 1 });
$node->safe_psql('postgres', 'CREATE TABLE t(i int PRIMARY KEY)');

my $utc_now = q{to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'};
# stop_time is recorded in whole seconds
sub next_second { usleep(1_100_000); }

my %time;
sub add_row
{
	my ($i) = @_;
	$node->safe_psql('postgres', "INSERT INTO t VALUES ($i)");
	$time{$i} = $node->safe_psql('postgres', "SELECT $utc_now");
	next_second();
	return;
}

sub backup_now
{
	my ($label) = @_;
	my $id = $node->safe_psql('postgres',
		'SELECT revrx_backup_now(' . (defined $label ? "'$label'" : 'NULL') . ', true)');
	next_second();
	return $id;
}

my $A = backup_now(undef);
add_row(1);
my $B = backup_now('keep-me');
add_row(2);
my $C = backup_now(undef);
add_row(3);
my $D = backup_now(undef);
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 60), "archived up to $last");

my %rec = map { $_->{id} => $_ } @{ RevrxTest::backups($env) };
is(join(' ', sort keys %rec), join(' ', sort($A, $B, $C, $D)), 'four complete backups');
sub epoch
{
	my ($iso) = @_;
	$iso =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/ or die "bad time $iso";
	return timegm($6, $5, $4, $3, $2 - 1, $1);
}
sub iso
{
	my @t = gmtime($_[0]);
	return sprintf('%04d-%02d-%02d %02d:%02d:%02d+00', $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0]);
}
my %stop = map { $_ => epoch($rec{$_}->{stop_time}) } keys %rec;
ok($stop{$A} < $stop{$B} && $stop{$B} < $stop{$C} && $stop{$C} < $stop{$D},
	'stop times are distinct and ordered');

sub ids_in_repo
{
	my @ids = map { (split m{/}, $_)[-1] } grep { -d $_ } glob("$repodir/backup/*");
	return join(' ', sort @ids);
}
sub wal_files
{
	my @f;
	find(sub { push @f, $_ if -f $_ }, "$repodir/wal");
	return sort @f;
}
sub expire
{
	my (@args) = @_;
	my ($rc, $out, $err) = RevrxTest::run_agent($env, 'expire', @args);
	is($rc, 0, "expire @args: exit code 0") or diag($err);
	note($out);
	return $out;
}
sub deletions { return join("\n", grep { /^delete / } split /\n/, $_[0]); }
sub segno { return hex(substr($_[0], 8, 8)) * 256 + hex(substr($_[0], 16, 8)); }

# --- 1. policy: A is older than 30 days, C exactly 30, B labelled (90 days)
my $now1 = iso($stop{$C} + 30 * $day);
my @wal_before = wal_files();
my $dry = expire('--dry-run', '--now', $now1);
like($dry, qr/^dry run: nothing is deleted$/m, 'dry run says so');
is(ids_in_repo(), join(' ', sort($A, $B, $C, $D)), 'dry run deleted no backup');
is(join(',', wal_files()), join(',', @wal_before), 'dry run deleted no WAL');
like($dry, qr/^delete backup \Q$A\E: unlabelled manual backup, 30\.\d days old, older than 30 days \(REVRX_RETAIN_SCHEDULED_DAYS\)/m,
	'dry run names A and the rule that expires it');
like($dry, qr/^keep backup \Q$B\E: labelled manual backup.*within 90 days/m, 'B is kept as labelled');
like($dry, qr/^delete WAL [0-9A-F]{24} \.\. [0-9A-F]{24}: \d+ files before segment/m, 'dry run prints the WAL range');

my $real = expire('--now', $now1);
is(deletions($real), deletions($dry), 'the real run deletes exactly what the dry run printed');
is(ids_in_repo(), join(' ', sort($B, $C, $D)), 'exactly B, C and D survive');
my $b_start = segno($rec{$B}->{start_wal});
my @wal_after = wal_files();
is(scalar(grep { /^[0-9A-F]{24}/ && segno($_) < $b_start } @wal_after), 0,
	'no WAL before the start of B is left');
# (streamed partials come and go meanwhile: the running agent replaces a
# segment's ranges by longer ones and by the segment itself)
my $kept_after_b = sub {
	grep { /^[0-9A-F]{24}/ && !/^[0-9A-F]{24}\.[0-9A-F]{16}\.[0-9A-F-]+\.partial/ && segno($_) >= $b_start } @_;
};
is(join(',', $kept_after_b->(@wal_before)), join(',', $kept_after_b->(@wal_after)),
	'every WAL file from the start of B on is kept');
cmp_ok(scalar(@wal_after), '<', scalar(@wal_before), 'some WAL was deleted');

# --- 2. PITR inside the retained window works; before it is refused
{
	my ($r, $rc, $out, $err) = RevrxTest::restore_node('pitr_in', $env, '--target-time', $time{2});
	is($rc, 0, 'restore to a time after B') or diag($err);
	like($err, qr/restored backup \Q$B\E /, 'from B');
	RevrxTest::prepare_restored($r);
	ok(RevrxTest::start_restored($r, $env), 'recovered and promoted');
	is($r->safe_psql('postgres', q{SELECT string_agg(i::text, ',' ORDER BY i) FROM t}), '1,2',
		'exactly the rows before the target');
	$r->stop;
	($r, $rc, $out, $err) = RevrxTest::restore_node('pitr_out', $env, '--target-time', $time{1});
	is($rc, 2, 'a time before the end of B (A expired) is refused');
	like($err, qr/before the end of the oldest backup/, 'and the message says why');
}

# --- 3. pins
my $now2 = iso($stop{$D} + 31 * $day);
my ($rc, $out, $err) = RevrxTest::run_agent($env, 'pin', $C);
is($rc, 0, 'pin C') or diag($err);
($rc, $out, $err) = RevrxTest::run_agent($env, 'pin', '20200101T000000Z');
is($rc, 1, 'pinning a backup that does not exist fails with "not found"');
my ($c_listed) = grep { $_->{id} eq $C } @{ RevrxTest::backups($env) };
ok($c_listed->{pinned}, 'list --json shows C pinned');
my $pinned_sql = sub {
	$node->safe_psql('postgres',
		"SELECT string_agg(id || '=' || pinned, ' ' ORDER BY id) FROM revrx_backups() WHERE id IN ('$C', '$D')");
};
ok(RevrxTest::wait_for(sub { $pinned_sql->() eq "$C=true $D=false" }, 30, 'catalog shows the pin'),
	'revrx_backups() shows C pinned and D not (from the catalog the agent publishes)')
	or diag($pinned_sql->());
$real = expire('--now', $now2);
like($real, qr/^keep backup \Q$C\E: pinned$/m, 'the pinned backup is kept');
is(ids_in_repo(), join(' ', sort($B, $C, $D)), 'pinned C survives a policy that expires it');
($rc, $out, $err) = RevrxTest::run_agent($env, 'unpin', $C);
is($rc, 0, 'unpin C') or diag($err);
($rc, $out, $err) = RevrxTest::run_agent($env, 'unpin', $C);
is($rc, 1, 'unpinning C again fails with "not found": a mistyped id must not look like success');
like($err, qr/backup \Q$C\E is not pinned/, '... and says it is not pinned');
($c_listed) = grep { $_->{id} eq $C } @{ RevrxTest::backups($env) };
ok(!$c_listed->{pinned}, 'list --json shows C not pinned');
ok(RevrxTest::wait_for(sub { $pinned_sql->() eq "$C=false $D=false" }, 30, 'catalog shows the unpin'),
	'revrx_backups() shows C no longer pinned') or diag($pinned_sql->());
$real = expire('--now', $now2);
like($real, qr/^delete backup \Q$C\E: /m, 'unpinned, C expires');
is(ids_in_repo(), join(' ', sort($B, $D)), 'exactly B and D survive');

# --- 4. a crash between deleting a record and the rest
my ($record) = glob("$repodir/backup/$B/backup.json*");
ok(unlink($record), 'backup.json of B deleted by hand');
$real = expire('--now', $now2);
like($real, qr/^delete incomplete backup \Q$B\E: no record, no lease/m,
	'the next run finds the leftover');
is(ids_in_repo(), $D, 'and removes it');

# --- 5. expire while a backup is being shipped
$node->safe_psql('postgres',
	q{CREATE TABLE big AS SELECT g, md5(g::text) || md5((g + 1)::text) AS pad FROM generate_series(1, 300000) g});
my $rows_big = $node->safe_psql('postgres', 'SELECT count(*) FROM big');
my $E = $node->safe_psql('postgres', q{SELECT revrx_backup_now('running')});
my $lease = "$repodir/locks/backup-$E.json";
# the lease comes before the first object: stop the agent once both are there
ok(RevrxTest::wait_for(sub { -f $lease && glob("$repodir/backup/$E/data/*") }, 60,
		"the lease and first objects of $E"), 'the agent stored a lease and the first objects');
$agent->{handle}->signal('STOP');
# (the signal is asynchronous: wait until every thread has stopped, or a
# transfer finishing meanwhile would add an object after the snapshot)
my $agent_pid = $agent->{handle}{KIDS}[0]{PID};
RevrxTest::wait_for(
	sub {
		opendir(my $td, "/proc/$agent_pid/task") or return 1;
		my @tids = grep { /^\d+$/ } readdir $td;
		closedir $td;
		for my $t (@tids)
		{
			open my $fh, '<', "/proc/$agent_pid/task/$t/stat" or next;
			my ($state) = (<$fh> =~ /\)\s+(\S)/);
			return 0 unless ($state // 'T') eq 'T';
		}
		return 1;
	},
	30, 'the agent stopped');
my @e_objects;
find(sub { push @e_objects, $File::Find::name if -f $_ }, "$repodir/backup/$E");
cmp_ok(scalar(@e_objects), '>', 0, "objects of $E are in the repository");
ok(!glob("$repodir/backup/$E/backup.json*"), "$E is not complete yet");
my $wal_floor = segno($rec{$D}->{start_wal});
my @wal_mid = grep { /^[0-9A-F]{24}/ && segno($_) >= $wal_floor } wal_files();

# 91 days later: everything but D (the newest full) would go, and E looks abandoned
$real = expire('--now', iso($stop{$D} + 91 * $day), '--dry-run');
like($real, qr/^keep incomplete backup \Q$E\E: leased/m, 'the leased backup is kept');
like($real, qr/lease locks\/backup-\Q$E\E\.json is stale/m, 'a stale lease is reported');
$real = expire('--now', iso($stop{$D} + 91 * $day));
unlike($real, qr/^delete .*\Q$E\E/m, 'nothing of the running backup is deleted');
my @e_after;
find(sub { push @e_after, $File::Find::name if -f $_ }, "$repodir/backup/$E") if -d "$repodir/backup/$E";
is(join(',', sort @e_after), join(',', sort @e_objects), 'its objects are all still there');
ok(-f $lease, 'its lease is still there');
is(join(',', grep { /^[0-9A-F]{24}/ && segno($_) >= $wal_floor } wal_files()), join(',', @wal_mid),
	'the WAL from its lease floor on is kept');

$agent->{handle}->signal('CONT');
ok(RevrxTest::wait_for(sub { glob("$repodir/backup/$E/backup.json*") }, 90, "$E to complete"),
	'the running backup completes after the expire');
ok(RevrxTest::wait_for(sub { !-f $lease }, 30, 'the lease to go'), 'its lease is removed on commit');
$last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 60), "archived up to $last");
{
	my ($r, $rc, $out, $err) = RevrxTest::restore_node('after_expire', $env, '--backup', $E);
	is($rc, 0, "restore of $E") or diag($err);
	RevrxTest::prepare_restored($r);
	ok(RevrxTest::start_restored($r, $env), 'it recovers and is promoted');
	is($r->safe_psql('postgres', 'SELECT count(*) FROM big'), $rows_big, 'with all its rows');
	$r->stop;
}

# --- 6. the daemon expires by itself, and republishes the catalog
$agent->stop;
$agent = RevrxTest::Agent->start($node, repo => "file://$repodir",
	env => { REVRX_EXPIRE_INTERVAL_S => 1, REVRX_RETAIN_SCHEDULED_DAYS => 0,
		REVRX_RETAIN_LABELLED_DAYS => 0, REVRX_RETAIN_MIN_FULL => 1 });
my $catalog = RevrxTest::spool_dir($node) . '/status/backups.json';
ok(RevrxTest::wait_for(sub { ids_in_repo() eq $E }, 60, "the daemon to expire $D"),
	'revrx-agent run expires on its own: only the newest full backup is left');
ok(RevrxTest::wait_for(sub { -f $catalog && slurp_file($catalog) !~ /\Q$D\E/ }, 30,
		'the catalog to drop the expired backup'), 'and publishes the catalog without it');
like(slurp_file($catalog), qr/\Q$E\E/, 'the catalog still lists the kept backup');

done_testing();
