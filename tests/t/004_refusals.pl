# Refusals that must be loud and must change nothing:
#  - wrong S3 credentials: a clear error naming the cause, nothing
#    acknowledged, and the secret never shows up in the logs;
#  - a second cluster pointed at the same repository: refused before it
#    stores anything, with both system identifiers in the message.

use strict;
use warnings FATAL => 'all';

use File::Find;
use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $prefix = 'refusals';
my $s3 = RevrxTest::S3->start;
my $secret = 'wrong-secret-4f1c9e0b';

# --- wrong credentials
my $node = RevrxTest::new_node('first', timeout => 3);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $bad = RevrxTest::Agent->start($node, repo => $s3->repo_url($prefix),
	env => $s3->env(AWS_SECRET_ACCESS_KEY => $secret));
RevrxTest::switch_wal($node);
RevrxTest::switch_wal($node);
ok( RevrxTest::wait_for(
		sub { (RevrxTest::status($node)->{last_error} // '') =~ /SignatureDoesNotMatch|403/ },
		60, 'credentials error'),
	'revrx_status() names the cause of the failure');
note 'last_error: ' . (RevrxTest::status($node)->{last_error} // '');
is($node->safe_psql('postgres', 'SELECT archived_count FROM pg_stat_archiver'),
	'0', 'nothing acknowledged with wrong credentials');
like($bad->log, qr/SignatureDoesNotMatch|403/, 'agent log says why');
unlike($bad->log, qr/\Q$secret\E/, 'the secret is not in the agent log');
unlike(slurp_file($node->logfile), qr/\Q$secret\E/, 'the secret is not in the server log');
ok(!-d "$s3->{dir}/data/testbkt/$prefix/wal", 'no WAL object was stored');
$bad->stop;

# with the right credentials it catches up
my $agent = RevrxTest::Agent->start($node, repo => $s3->repo_url($prefix), env => $s3->env);
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 120), 'archives once the credentials are right');

my $sysid1 = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');

# --- a second cluster on the same repository
my @before;
find(sub { push @before, $File::Find::name if -f }, "$s3->{dir}/data/testbkt/$prefix");

my $node2 = RevrxTest::new_node('second', timeout => 3);
$node2->start;
$node2->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $sysid2 = $node2->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
isnt($sysid2, $sysid1, 'the second cluster has its own system identifier');
my $agent2 = RevrxTest::Agent->start($node2, repo => $s3->repo_url($prefix), env => $s3->env);
RevrxTest::switch_wal($node2);
RevrxTest::switch_wal($node2);
ok( RevrxTest::wait_for(
		sub { (RevrxTest::status($node2)->{last_error} // '') =~ /belongs to the cluster/ },
		60, 'cluster refusal'),
	'the second cluster is refused');
my $msg = RevrxTest::status($node2)->{last_error};
like($msg, qr/\Q$sysid1\E/, 'the message names the repository\'s cluster');
like($msg, qr/\Q$sysid2\E/, 'and this cluster');
like($agent2->log, qr/belongs to the cluster/, 'the agent logs the refusal');
# the status shows the agent's answer as soon as it is in the spool; the
# archiver logs it when its attempt ends (revrx.archive_timeout later)
ok(RevrxTest::wait_for(sub { slurp_file($node2->logfile) =~ /belongs to the cluster/ }, 60,
		'the refusal in the server log'),
	'the server logs the refusal');
is($node2->safe_psql('postgres', 'SELECT archived_count FROM pg_stat_archiver'), '0',
	'nothing acknowledged for the second cluster');

my @after;
find(sub { push @after, $File::Find::name if -f }, "$s3->{dir}/data/testbkt/$prefix");
my %was = map { $_ => 1 } @before;
my @new = grep { !$was{$_} } @after;
# the first cluster may have archived more meanwhile; none of it may be the second's
my @foreign = grep {
	my $bytes = RevrxTest::slurp_bin($_);
	length($bytes) >= 16 && substr($bytes, 0, 4) eq 'RVXO'
	  && unpack('Q>', substr($bytes, 8, 8)) == $sysid2
} @new;
is(scalar(@foreign), 0, 'no object of the second cluster reached the repository');
like(RevrxTest::slurp_bin("$s3->{dir}/data/testbkt/$prefix/repo.json._S3rver_object"),
	qr/"$sysid1"/, 'repo.json still names the first cluster');

done_testing();
