# Re-archiving: a segment archived again with identical content succeeds
# (as after a crash between storing and acknowledging); with different
# content it fails loudly, again and again, and the stored original is
# never touched.  An incomplete copy of the same content (what an S3 server
# that ignores Content-Length keeps when the agent dies mid-upload) is not
# taken for a good one: it is stored again before the segment is acked.

use strict;
use warnings FATAL => 'all';

use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $node = RevrxTest::new_node('rearchive', timeout => 5);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir");

my $seg = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $seg, 60), "$seg archived");
my $status_dir = $node->data_dir . '/pg_wal/archive_status';
my $walfile = $node->data_dir . "/pg_wal/$seg";
my $original = RevrxTest::slurp_bin($walfile);

sub failed_count
{
	return $node->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver');
}

sub rearchive
{
	rename("$status_dir/$seg.done", "$status_dir/$seg.ready") or die "rename: $!";
	RevrxTest::switch_wal($node);    # wakes the archiver; it takes the oldest first
}

# --- identical content: success
rearchive();
ok(RevrxTest::wait_for(sub { -f "$status_dir/$seg.done" }, 60, 're-archive'),
	'identical content archived again successfully');
is(failed_count(), '0', 'without a single failure');
like($agent->log, qr/"$seg" is already in .* with the same content/, 'the agent saw it was already stored');

# --- different content: refused
my $fails = failed_count();
open my $fh, '+<:raw', $walfile or die $!;
seek $fh, 1_000_000, 0;
print $fh 'revrx-tampered';
close $fh;
rearchive();
ok(RevrxTest::wait_for(sub { failed_count() > $fails }, 60, 'failure'),
	'different content under the same name fails');
ok(!-f "$status_dir/$seg.done", 'and is not acknowledged');
is($node->safe_psql('postgres', 'SELECT last_failed_wal FROM pg_stat_archiver'), $seg,
	'pg_stat_archiver names the segment');
like(RevrxTest::status($node)->{last_error}, qr/different content/,
	'revrx_status() says the repository holds different content');
like(slurp_file($node->logfile), qr/already holds different content under "[^"]*$seg/,
	'the server log says so');

my $fetched = PostgreSQL::Test::Utils::tempdir('fetched') . "/$seg";
my ($rc) = RevrxTest::run_agent($agent->env, 'wal-fetch', $seg, $fetched);
is($rc, 0, 'the stored segment can still be fetched');
ok(RevrxTest::slurp_bin($fetched) eq $original, 'and it is the original, untouched');

# --- put the original back: archiving resumes
open $fh, '>:raw', $walfile or die $!;
print $fh $original;
close $fh;
RevrxTest::switch_wal($node);
ok(RevrxTest::wait_for(sub { -f "$status_dir/$seg.done" }, 120, 'resume'),
	'with the original content back, the segment is archived');
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 120), 'and archiving goes on');

# --- incomplete copies of the same content: replaced, then acknowledged
$agent->stop;
my %cut;
for my $cut (40, 'half')
{
	my $next = RevrxTest::switch_wal($node);
	my $spooled = RevrxTest::spool_dir($node) . "/wal/$next.rvx";
	ok(RevrxTest::wait_for(sub { -f $spooled }, 60, 'spooled'), "$next spooled with the agent stopped");
	my $bytes = RevrxTest::slurp_bin($spooled);
	my $keep = $cut eq 'half' ? int(length($bytes) / 2) : $cut;
	mkdir "$repodir/wal/00000001";
	open my $out, '>:raw', "$repodir/wal/00000001/$next.zst" or die $!;
	print $out substr($bytes, 0, $keep);
	close $out;
	$cut{$next} = $keep;
}
$agent = RevrxTest::Agent->start($node, repo => "file://$repodir");
for my $next (sort keys %cut)
{
	ok(RevrxTest::wait_for(sub { -f "$status_dir/$next.done" }, 120, "$next archived"),
		"$next with an incomplete $cut{$next}-byte copy in the repository is archived");
	like($agent->log, qr/replacing incomplete object "[^"]*$next\.zst"/,
		'after the agent stored it again');
	my $copy = PostgreSQL::Test::Utils::tempdir('fetched') . "/$next";
	my ($frc, undef, $ferr) = RevrxTest::run_agent($agent->env, 'wal-fetch', $next, $copy);
	is($frc, 0, "$next can be fetched back") or diag $ferr;
}

done_testing();
