# Corruption, both ways:
#  - a damaged block in a table file is found while the backup reads it,
#    and reported with its relation and block number (the backup itself
#    completes and records the problem);
#  - a data object in the repository with one flipped byte makes restore
#    fail, naming it, before a data directory that could start exists.

use strict;
use warnings FATAL => 'all';

use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $node = RevrxTest::new_node('corrupt_block', timeout => 30);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
is($node->safe_psql('postgres', 'SHOW data_checksums'), 'on', 'the cluster has data checksums');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir");

$node->safe_psql('postgres',
	"CREATE TABLE victim AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 20000) g");
$node->safe_psql('postgres', 'CHECKPOINT');
my $relpath = $node->safe_psql('postgres', "SELECT pg_relation_filepath('victim')");

# damage block 3 of the table while the server is down
$node->stop;
my $file = $node->data_dir . "/$relpath";
open my $fh, '+<:raw', $file or die "$file: $!";
seek $fh, 3 * 8192 + 4000, 0;
print $fh 'revrx-was-here';
close $fh;
$node->start;

my $id = $node->safe_psql('postgres', "SELECT revrx_backup_now('with a bad block', true)");
ok($id, "backup $id completed despite the bad block");
my $problems = $node->safe_psql('postgres', "SELECT problems::text FROM revrx_backups() WHERE id = '$id'");
like($problems, qr/\Q$relpath\E/, 'revrx_backups() names the relation file');
like($problems, qr/"block"\s*:\s*3\b/, 'and the block number');
like($problems, qr/"fork"\s*:\s*"main"/, 'and the fork');
like(slurp_file($node->logfile), qr/\Q$relpath\E.*block 3|block 3.*\Q$relpath\E/, 'the server log reports it');
my ($b) = grep { $_->{id} eq $id } @{ RevrxTest::backups($agent->env) };
ok($b && @{ $b->{problems} } == 1, 'revrx-agent list records the problem with the backup');

# a healthy backup, then a flipped byte in one of its stored objects
$node->safe_psql('postgres', 'DROP TABLE victim');
my $good = $node->safe_psql('postgres', "SELECT revrx_backup_now('healthy', true)");
my ($victim) = grep { m{/data/base/} && -s $_ > 1000 } glob("$repodir/backup/$good/data/base/*/*");
ok($victim, "picked a stored object to damage: $victim");
(my $key = $victim) =~ s{^\Q$repodir\E/}{};
open $fh, '+<:raw', $victim or die $!;
seek $fh, 72 + 10, 0;
read $fh, my $c, 1;
seek $fh, 72 + 10, 0;
print $fh chr(ord($c) ^ 0xff);
close $fh;

my ($restored, $rc, $out, $err) = RevrxTest::restore_node('restored', $agent->env, '--backup', $good);
isnt($rc, 0, "restore fails (exit $rc)");
like($err, qr/\Q$key\E/, 'the message names the damaged object');
ok(!-e $restored->data_dir . '/global/pg_control', 'no pg_control: PostgreSQL cannot start on it');

done_testing();
