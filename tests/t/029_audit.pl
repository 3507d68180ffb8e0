# The audit trail (agent/info/audit.h, docs/audit.md), with the real server and
# agent:
#  - a backup by revrx_backup_now() under a named role, pin, unpin, a
#    restore, a failed restore (non-empty directory), a restore drill and
#    an expire each leave exactly one new record, with the action, cluster,
#    backup, result, OS user, host, agent version, and the database role
#    for the SQL-started backup;
#  - an expire with 0-day backup retention deletes the backup and keeps
#    every audit record, and records what it deleted; with the default
#    audit retention, records survive an expire "2556 days later" and go
#    in one "2558 days later", whose own record says how many went;
#  - `audit --since` filters, `--json` parses, a bad --since exits 2;
#  - when a record cannot be written (a file where audit/ must be), a pin
#    that worked stays and exits 13 with "AUDIT FAILURE", and a failed
#    unpin keeps its own exit code;
#  - a backup whose audit record cannot be written is acknowledged after
#    REVRX_AUDIT_PENDING_AFTER_S (complete, lease dropped) and its record
#    is stored once audit/ is writable again;
#  - on S3 (encrypted, with Object Lock days set), a failed restore from an
#    empty repository is recorded there too, and the stored object does not
#    show the JSON.

use strict;
use warnings FATAL => 'all';

use File::Find;
use File::Path qw(make_path);
use JSON::PP;
use PostgreSQL::Test::Utils;
use Sys::Hostname;
use Test::More;
use Time::Local qw(timegm);

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $env = { REVRX_REPO => "file://$repodir" };
my $os_user = getpwuid($<);
my $host = hostname();
my (undef, $version_out) = RevrxTest::run_agent($env, '--version');
my ($version) = $version_out =~ /^revrx-agent (\S+)$/m;
ok($version, "agent version $version");

my $node = RevrxTest::new_node('audit', timeout => 30);
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION revrx;
	CREATE ROLE revrx_operator NOLOGIN;
	GRANT EXECUTE ON FUNCTION revrx_backup_now(text, boolean, boolean) TO revrx_operator;
	CREATE ROLE audit_alice LOGIN IN ROLE revrx_operator;
	CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g;
});
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir",
	env => { REVRX_CATALOG_REFRESH_S => 3600 });

# The records, oldest first (audit --json, one JSON object per line).
sub records
{
	my ($e, @args) = @_;
	my ($rc, $out, $err) = RevrxTest::run_agent($e // $env, 'audit', '--json', @args);
	is($rc, 0, "audit --json @args: exit 0") or diag($err);
	return [ map { decode_json($_) } grep { /\S/ } split /\n/, $out ];
}

# Runs $action (a sub) and returns the one record it added (fails the test otherwise).
sub one_new_record
{
	my ($what, $action) = @_;
	my $before = scalar @{ records() };
	my @ret = $action->();
	my $after = records();
	is(scalar(@$after), $before + 1, "$what: exactly one new audit record");
	return ($after->[-1], @ret);
}

sub common_fields
{
	my ($rec, $what, %want) = @_;
	is($rec->{action}, $want{action}, "$what: action");
	is($rec->{result}, $want{result}, "$what: result");
	is($rec->{backup_id}, $want{backup_id}, "$what: backup id") if exists $want{backup_id};
	is($rec->{system_identifier}, $sysid, "$what: cluster");
	is($rec->{os_user}, $os_user, "$what: OS user");
	is($rec->{host}, $host, "$what: host");
	is($rec->{agent_version}, $version, "$what: agent version");
	is($rec->{format}, 1, "$what: format");
	like($rec->{time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, "$what: time");
	return;
}

# --- backup by a named role, through SQL
my ($rec, $id) = one_new_record('backup', sub {
	my ($rc, $out, $err) = $node->psql('postgres', q{SELECT revrx_backup_now('audited', true)},
		extra_params => [ '-U', 'audit_alice' ]);
	is($rc, 0, 'revrx_backup_now as audit_alice') or diag($err);
	return $out;
});
like($id, qr/^\d{8}T\d{6}Z/, "backup $id");
common_fields($rec, 'backup', action => 'backup', result => 'ok', backup_id => $id);
is($rec->{db_role}, 'audit_alice', 'backup: the database role that asked');
is($rec->{details}{label}, 'audited', 'backup: its label');
ok(!defined $rec->{error}, 'backup: no error');
my ($listed) = grep { $_->{id} eq $id } @{ RevrxTest::backups($env) };
is($listed->{requested_by}, 'audit_alice', 'backup.json says who asked (requested_by)');

# --- pin and unpin
($rec) = one_new_record('pin', sub { RevrxTest::run_agent($env, 'pin', $id) });
common_fields($rec, 'pin', action => 'pin', result => 'ok', backup_id => $id);
ok(!defined $rec->{db_role}, 'pin: no database role (not started from SQL)');
my $since = $rec->{time};
($rec) = one_new_record('unpin', sub { RevrxTest::run_agent($env, 'unpin', $id) });
common_fields($rec, 'unpin', action => 'unpin', result => 'ok', backup_id => $id);
my $rc;
($rec, $rc) = one_new_record('unpin of what is not pinned', sub { RevrxTest::run_agent($env, 'unpin', $id) });
is($rc, 1, 'unpin again fails (not found)');
common_fields($rec, 'failed unpin', action => 'unpin', result => 'failed', backup_id => $id);
like($rec->{error}, qr/is not pinned/, 'failed unpin: the error message');

# --- restore, and a restore that fails
my $restored;
($rec, $restored, $rc) = one_new_record('restore', sub { RevrxTest::restore_node('audit_restored', $env) });
is($rc, 0, 'restore');
common_fields($rec, 'restore', action => 'restore', result => 'ok', backup_id => $id);
is($rec->{details}{pgdata}, $restored->data_dir, 'restore: where to');
ok($rec->{details}{files} > 0, 'restore: how many files');

my $full = PostgreSQL::Test::Utils::tempdir('full');
make_path("$full/data");
open my $fh, '>', "$full/data/precious" or die $!;
close $fh;
my ($out, $err);
($rec, $rc, $out, $err) = one_new_record('failed restore', sub {
	RevrxTest::run_agent($env, 'restore', '--pgdata', "$full/data") });
isnt($rc, 0, 'restore into a non-empty directory fails');
common_fields($rec, 'failed restore', action => 'restore', result => 'failed');
like($rec->{error}, qr/not empty/, 'failed restore: the error message');
ok(-e "$full/data/precious", 'and left the directory alone');

# --- restore drill
($rec, $rc) = one_new_record('verify', sub {
	my ($rc) = RevrxTest::run_agent($env, 'verify', '--backup', $id);
	return $rc;
});
is($rc, 0, 'verify passed');
common_fields($rec, 'verify', action => 'verify', result => 'ok', backup_id => $id);
ok($rec->{details}{passed}, 'verify: passed, in the details');

# --- --since, the table, a bad --since
my $from_pin = records($env, '--since', $since);
is(join(' ', map { $_->{action} } @$from_pin), 'pin unpin unpin restore restore verify',
	'--since the pin: exactly the records from the pin on, oldest first');
($rc, $out, $err) = RevrxTest::run_agent($env, 'audit');
is($rc, 0, 'audit (table)');
like($out, qr/^TIME\s+ACTION\s+RESULT\s+BACKUP/m, 'the table has a header');
like($out, qr/^\S+Z\s+backup\s+ok\s+\Q$id\E\s+\Q$os_user\E\@\Q$host\E role audit_alice$/m,
	'the table shows the backup, who and the role');
($rc, $out, $err) = RevrxTest::run_agent($env, 'audit', '--since', 'yesterday');
is($rc, 2, 'a bad --since exits 2');
like($err, qr/invalid --since time "yesterday"/, '... and says so');

# --- a record that cannot be written: the action stands, the exit code says so
my $n_kept = scalar @{ records() };
rename("$repodir/audit", "$repodir/audit.aside") or die "rename: $!";
open $fh, '>', "$repodir/audit" or die $!;	# a file where the directory must be
close $fh;
($rc, $out, $err) = RevrxTest::run_agent($env, 'pin', $id);
is($rc, 13, 'pin that worked but could not be recorded: exit 13');
like($err, qr/AUDIT FAILURE: the pin of backup \Q$id\E \(succeeded\) was not recorded/,
	'... with the distinct message');
my ($pinned) = grep { $_->{id} eq $id } @{ RevrxTest::backups($env) };
ok($pinned->{pinned}, '... and the pin is in effect');
($rc, $out, $err) = RevrxTest::run_agent($env, 'unpin', $id);
is($rc, 13, 'unpin likewise: exit 13');
($rc, $out, $err) = RevrxTest::run_agent($env, 'unpin', $id);
is($rc, 1, 'a failed unpin keeps its own exit code (1), not the audit\'s');
like($err, qr/AUDIT FAILURE: the unpin of backup \Q$id\E \(failed\)/, '... and still reports the audit failure');
unlink("$repodir/audit") or die $!;
rename("$repodir/audit.aside", "$repodir/audit") or die "rename: $!";
is(scalar @{ records() }, $n_kept, 'nothing was recorded meanwhile');

# --- expire with 0-day backup retention: the backup goes, the records stay
my $zero = { %$env, REVRX_RETAIN_SCHEDULED_DAYS => 0, REVRX_RETAIN_LABELLED_DAYS => 0,
	REVRX_RETAIN_MIN_FULL => 0 };
my @t = gmtime(time + 86400);
my $tomorrow = sprintf('%04d-%02d-%02d %02d:%02d:%02d+00', $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0]);
my $n_before = scalar @{ records() };
($rec, $rc, $out, $err) = one_new_record('expire', sub {
	RevrxTest::run_agent($zero, 'expire', '--now', $tomorrow) });
is($rc, 0, 'expire with 0-day retention') or diag($err);
like($out, qr/^delete backup \Q$id\E: /m, 'it deletes the backup');
like($out, qr/^keep $n_before audit records: younger than 2557 days \(REVRX_AUDIT_RETENTION_DAYS\)$/m,
	'and keeps every audit record');
ok(!-e "$repodir/backup/$id", 'the backup is gone');
common_fields($rec, 'expire', action => 'expire', result => 'ok');
is_deeply($rec->{details}{backups_deleted}, [$id], 'expire: what it deleted');
is($rec->{details}{retention}{audit_days}, 2557, 'expire: the audit retention it applied');

# --- audit retention: 2556 days on, all stay; 2558 days on, the old ones go
sub days_later
{
	my @g = gmtime(time + $_[0] * 86400);
	return sprintf('%04d-%02d-%02d %02d:%02d:%02d+00', $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0]);
}
my $all = scalar @{ records() };
($rc, $out, $err) = RevrxTest::run_agent($env, 'expire', '--now', days_later(2556));
is($rc, 0, 'expire 2556 days later');
unlike($out, qr/^delete audit record/m, 'no audit record is old enough to go');
is(scalar @{ records() }, $all, 'and, having deleted nothing, it adds no record');
($rc, $out, $err) = RevrxTest::run_agent($env, 'expire', '--now', days_later(2558));
is($rc, 0, 'expire 2558 days later') or diag($err);
my @gone = $out =~ /^delete audit record (audit\/\S+): older than 2557 days/mg;
is(scalar(@gone), $all, 'every record older than 2557 days is deleted');
my $left = records();
is(scalar(@$left), 1, 'one record is left: that expire\'s own');
is($left->[0]{action}, 'expire', '... an expire');
is($left->[0]{details}{audit_records_deleted}, $all, '... saying how many records it deleted');

# --- a backup whose audit record keeps failing (M4, S6): acknowledged after
#     REVRX_AUDIT_PENDING_AFTER_S, never failed, its lease dropped, and its
#     record stored by run once the repository takes it
$agent->stop;
$agent = RevrxTest::Agent->start($node, repo => "file://$repodir",
	env => { REVRX_CATALOG_REFRESH_S => 3600, REVRX_AUDIT_PENDING_AFTER_S => 3 });
my $spool = $node->safe_psql('postgres', 'SHOW revrx.spool_dir');
rename("$repodir/audit", "$repodir/audit.aside") or die "rename: $!";
open $fh, '>', "$repodir/audit" or die $!;	# a file where the directory must be
close $fh;
my ($brc, $bid, $berr) = $node->psql('postgres', q{SELECT revrx_backup_now('audit pending', true)});
is($brc, 0, 'backup while audit/ is unwritable: revrx_backup_now returns') or diag($berr);
is($node->safe_psql('postgres', "SELECT status FROM revrx_backups() WHERE id = '$bid'"),
	'complete', '... the backup is complete, not failed');
ok(!-e "$repodir/locks/backup-$bid.json", '... its lease is dropped');
ok(-e "$spool/status/audit-pending/$bid.json", '... its audit record is queued');
like($agent->log, qr/AUDIT FAILURE: backup \Q$bid\E is acknowledged as complete without its audit record/,
	'... and the log says AUDIT FAILURE');
unlink("$repodir/audit") or die $!;
rename("$repodir/audit.aside", "$repodir/audit") or die "rename: $!";
ok(RevrxTest::wait_for(sub {
	my ($rc, $out) = RevrxTest::run_agent($env, 'audit', '--json');
	return grep { my $r = decode_json($_);
		($r->{backup_id} // '') eq $bid && $r->{action} eq 'backup' && $r->{result} eq 'ok' }
		grep { /\S/ } split /\n/, $out;
}, 120, "the audit record of backup $bid"), '... which run stores once audit/ is writable');
ok(RevrxTest::wait_for(sub { !-e "$spool/status/audit-pending/$bid.json" }, 30, 'the queue to empty'),
	'... and the queue is empty');

# --- S3, encrypted, with Object Lock days set
my $s3 = RevrxTest::S3->start;
my $keyfile = PostgreSQL::Test::Utils::tempdir('key') . '/key';
open $fh, '>', $keyfile or die $!;
print $fh ('ab' x 32), "\n";
close $fh;
chmod 0600, $keyfile;
my $s3env = $s3->env(REVRX_REPO => $s3->repo_url('audit'), REVRX_ENCRYPTION_KEY_FILE => $keyfile,
	REVRX_S3_OBJECT_LOCK_DAYS => 30);
my $target = PostgreSQL::Test::Utils::tempdir('s3restore') . '/data';
($rc, $out, $err) = RevrxTest::run_agent($s3env, 'restore', '--pgdata', $target);
isnt($rc, 0, 'restore from an empty S3 repository fails');
my $s3recs = records($s3env);
is(scalar(@$s3recs), 1, 'S3: one record');
is($s3recs->[0]{action}, 'restore', 'S3: a restore');
is($s3recs->[0]{result}, 'failed', 'S3: that failed');
ok(!defined $s3recs->[0]{system_identifier}, 'S3: no cluster yet (no repo.json)');
ok(length($s3recs->[0]{error}) > 0, 'S3: with the error message');
my @objects;
find(sub { push @objects, $File::Find::name if /\.json\._S3rver_object$/ }, $s3->{dir});
is(scalar(@objects), 1, 'S3: the record is one object under audit/');
like($objects[0], qr{/audit/audit/\d{4}/\d\d/\d\d/\d{8}T\d{6}\.\d{6}Z-}, 'S3: under its time-ordered key');
my $raw = RevrxTest::slurp_bin($objects[0]);
is(substr($raw, 0, 4), 'RVXO', 'S3: stored in the object format');
unlike($raw, qr/"action"/, 'S3: encrypted, the JSON does not show');

$agent->stop;
$node->stop;
done_testing();
