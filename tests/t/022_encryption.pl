# Client-side encryption (REVRX_ENCRYPTION_KEY_FILE).
#
# With a key, the repository holds no plaintext: a marker written into a
# table and into WAL is found in neither the stored WAL nor the backup,
# although it is in what wal-fetch gives back (so the test would see it if
# encryption were off; compression is off too).  repo.json records the
# encryption.  Restore with the key gives the data back; with a wrong key
# or none it fails before it creates anything, naming the problem.  A key
# that cannot be used stops the agent at startup, and an agent with a key
# refuses a plain repository (never mixing plaintext in).

use strict;
use warnings FATAL => 'all';

use File::Find;
use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $dir = PostgreSQL::Test::Utils::tempdir('keys');
sub key_file
{
	my ($name, $text, $mode) = @_;
	open my $fh, '>', "$dir/$name" or die $!;
	print $fh $text;
	close $fh;
	chmod $mode // 0600, "$dir/$name";
	return "$dir/$name";
}
my $key = key_file('good', join('', map { sprintf '%02x', ($_ * 7 + 3) % 256 } 0 .. 31) . "\n");
my $wrong = key_file('wrong', join('', map { sprintf '%02x', ($_ * 5 + 1) % 256 } 0 .. 31) . "\n");
my $short = key_file('short', "0011\n");

my $repodir = PostgreSQL::Test::Utils::tempdir('repo');
my $node = RevrxTest::new_node('enc', timeout => 30, compression => 'none');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => "file://$repodir",
	env => { REVRX_ENCRYPTION_KEY_FILE => $key });

my $marker = 'PHI-MARKER-5b8e2c71';
$node->safe_psql('postgres',
	"CREATE TABLE patients(id int, note text); "
	  . "INSERT INTO patients SELECT g, '$marker ' || g FROM generate_series(1, 2000) g; "
	  . "SELECT pg_logical_emit_message(true, 'revrx', '$marker in WAL')");
my $id = $node->safe_psql('postgres', "SELECT revrx_backup_now('encrypted', wait => true)");
like($id, qr/^\d{8}T\d{6}Z/, "backup $id taken into the encrypted repository");
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 60), "WAL archived up to $last");

my $meta = slurp_file("$repodir/repo.json");
like($meta, qr/"encryption":\s*"aes-256-gcm"/, 'repo.json records the encryption');
unlike($meta, qr/\Q$key\E/, 'but not the key');

my (@files, @plain);
find(sub { push @files, $File::Find::name if -f $_ && $_ ne 'repo.json' }, $repodir);
for my $f (@files)
{
	push @plain, $f if index(RevrxTest::slurp_bin($f), $marker) >= 0;
}
cmp_ok(scalar(@files), '>', 10, scalar(@files) . ' objects stored');
is_deeply(\@plain, [], 'no stored object contains the marker');

# the marker is in the WAL that wal-fetch decrypts: the test could see it
my $walname = $node->safe_psql('postgres',
	"SELECT pg_walfile_name(lsn) FROM pg_logical_emit_message(true, 'revrx', '$marker again') lsn");
$last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 60), "archived up to $last");
my $fetched = PostgreSQL::Test::Utils::tempdir('fetched') . "/$walname";
my ($rc, $out, $err) = RevrxTest::run_agent($agent->env, 'wal-fetch', $walname, $fetched);
is($rc, 0, "wal-fetch decrypts $walname") or diag $err;
ok(index(RevrxTest::slurp_bin($fetched), "$marker again") >= 0, 'and the marker is in it');

# --- restore: the right key, a wrong one, none
my ($copy, $rrc, $rout, $rerr) = RevrxTest::restore_node('enc_copy', $agent->env, '--backup', $id);
is($rrc, 0, 'restore with the key') or diag $rerr;
RevrxTest::prepare_restored($copy);
$copy->append_conf('postgresql.conf', "archive_mode = off\nshared_preload_libraries = ''\n");
{
	local $ENV{REVRX_ENCRYPTION_KEY_FILE} = $key;    # restore_command runs wal-fetch
	ok(RevrxTest::start_restored($copy, $agent->env), 'the copy replays encrypted WAL');
}
is($copy->safe_psql('postgres', "SELECT count(*) FROM patients WHERE note LIKE '$marker%'"), '2000',
	'and has the data');
$copy->stop;

for my $case ([ 'a wrong key', { REVRX_ENCRYPTION_KEY_FILE => $wrong }, qr/is not the key of repository/ ],
	[ 'no key', { REVRX_ENCRYPTION_KEY_FILE => undef }, qr/is encrypted: set REVRX_ENCRYPTION_KEY_FILE/ ])
{
	my ($what, $over, $msg) = @$case;
	my %env = (%{ $agent->env }, %$over);
	delete $env{$_} for grep { !defined $env{$_} } keys %env;
	my $target = PostgreSQL::Test::Utils::tempdir('target') . '/pgdata';
	my ($frc, $fout, $ferr) = RevrxTest::run_agent(\%env, 'restore', '--pgdata', $target);
	isnt($frc, 0, "restore with $what fails");
	like($ferr, $msg, '... naming the problem');
	ok(!-e $target, '... before it creates the target directory');
	($frc, $fout, $ferr) = RevrxTest::run_agent(\%env, 'wal-fetch', $walname, "$target.wal");
	isnt($frc, 0, "wal-fetch with $what fails");
	ok(!-e "$target.wal", '... and writes nothing');
}

# --- keys that cannot be used, and mixing
$agent->stop;
for my $case ([ 'a missing key file', "$dir/none", qr/could not open REVRX_ENCRYPTION_KEY_FILE/ ],
	[ 'a malformed key', $short, qr/invalid key in REVRX_ENCRYPTION_KEY_FILE/ ])
{
	my ($what, $file, $msg) = @$case;
	my ($src, $sout, $serr) = RevrxTest::run_agent(
		{ REVRX_REPO => "file://$repodir", REVRX_SPOOL => RevrxTest::spool_dir($node),
		  REVRX_ENCRYPTION_KEY_FILE => $file }, 'run');
	isnt($src, 0, "the agent refuses to start with $what");
	like($serr, $msg, '... saying why');
}
my $plainrepo = PostgreSQL::Test::Utils::tempdir('plainrepo');
my ($prc, $pout, $perr) = RevrxTest::run_agent({ REVRX_REPO => "file://$plainrepo" }, 'list');
my $plain = RevrxTest::Agent->start($node, repo => "file://$plainrepo");
ok(RevrxTest::wait_for(sub { -f "$plainrepo/repo.json" }, 30, 'plain repo bound'), 'a plain repository');
$plain->stop;
my ($mrc, $mout, $merr) = RevrxTest::run_agent(
	{ REVRX_REPO => "file://$plainrepo", REVRX_ENCRYPTION_KEY_FILE => $key }, 'wal-fetch', $walname,
	"$dir/x");
isnt($mrc, 0, 'an agent with a key refuses a plain repository');
like($merr, qr/is not encrypted, but REVRX_ENCRYPTION_KEY_FILE is set/, '... saying so');

done_testing();
