# The agent's HTTP endpoint (REVRX_LISTEN): /healthz, /readyz and
# /metrics follow what really happens.  Under pgbench load the metrics name
# the stored WAL and upload bytes rise; a backup and a verification report
# show up; while S3 is down /readyz says 503 with the reason, the network
# error counter rises and the backlog and the recovery point exposure grow;
# once S3 is back everything returns to ready, backlog 0, exposure 0.  A
# spool the agent cannot write to is not ready either.
# Garbage, POST and unknown paths get error statuses and the agent keeps
# serving; a bad REVRX_LISTEN stops the agent naming the setting.

use strict;
use warnings FATAL => 'all';

use HTTP::Tiny;
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use RevrxTest;

my $prefix = 'metrics';
my $s3 = RevrxTest::S3->start;
my $node = RevrxTest::new_node('metrics', timeout => 5);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');

my $port = PostgreSQL::Test::Cluster::get_free_port();
my $base = "http://127.0.0.1:$port";
my $agent = RevrxTest::Agent->start($node, repo => $s3->repo_url($prefix),
	env => $s3->env(REVRX_RETRIES => 0, REVRX_TIMEOUT => 2,
		REVRX_LISTEN => "127.0.0.1:$port"));
my $http = HTTP::Tiny->new(timeout => 10);

sub get { return $http->get("$base$_[0]"); }

# name{labels} => value, and which names have # HELP and # TYPE
sub scrape
{
	my $r = get('/metrics');
	die "GET /metrics: $r->{status} $r->{content}" unless $r->{status} == 200;
	my (%m, %help, %type);
	for my $line (split /\n/, $r->{content})
	{
		if ($line =~ /^# HELP (\w+) /) { $help{$1} = 1; next; }
		if ($line =~ /^# TYPE (\w+) (counter|gauge)$/) { $type{$1} = $2; next; }
		die "unparsable line in /metrics: $line"
		  unless $line =~ /^(\w+(?:\{[^}]*\})?) (\S+)$/;
		$m{$1} = $2;
	}
	return (\%m, \%help, \%type, $r);
}

sub metric { my ($name) = @_; my ($m) = scrape(); return $m->{$name}; }

ok(RevrxTest::wait_for(sub { get('/healthz')->{status} == 200 }, 30, '/healthz'),
	'/healthz answers 200 once the agent runs');
is(get('/healthz')->{content}, "ok\n", '/healthz says ok');
ok(RevrxTest::wait_for(sub { get('/readyz')->{status} == 200 }, 30, '/readyz 200'),
	'/readyz answers 200 with S3 up');

# -- under load
$node->command_ok([ 'pgbench', '-i', '-q', '-s', '1', 'postgres' ], 'pgbench init');
my $seg = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $seg, 60), "archived up to $seg");
my ($m, $help, $type, $resp) = scrape();
like($resp->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'exposition format 0.0.4');
for my $name (qw(revrx_wal_last_stored_info revrx_wal_last_stored_timestamp_seconds
	revrx_wal_backlog_files revrx_wal_backlog_bytes revrx_rpo_exposure_seconds revrx_backups
	revrx_upload_bytes_total revrx_download_bytes_total revrx_errors_total
	revrx_repository_up revrx_heartbeat_age_seconds))
{
	ok($help->{$name} && $type->{$name}, "$name has # HELP and # TYPE");
	ok((grep { /^\Q$name\E(\{|$)/ } keys %$m), "$name has a sample");
}
is($type->{revrx_upload_bytes_total}, 'counter', 'upload bytes is a counter');
my ($stored) = grep { /^revrx_wal_last_stored_info\{segment="/ } keys %$m;
my ($stored_name) = $stored =~ /segment="([0-9A-F]{24})"/;
ok(defined $stored_name && $stored_name ge $seg, "newest stored segment label ($stored_name) is at least $seg");
my $up1 = $m->{revrx_upload_bytes_total};
cmp_ok($up1, '>', 0, "upload bytes counted ($up1)");
is($m->{revrx_repository_up}, 1, 'repository up');

my $bench = RevrxTest::start_pgbench($node, '-n', '-c', '2', '-j', '2', '-R', '200', '-T', '5');
$bench->finish;
$seg = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $seg, 60), "archived up to $seg after pgbench");
ok(RevrxTest::wait_for(sub { metric('revrx_upload_bytes_total') > $up1 }, 30, 'upload bytes rise'),
	'upload bytes rise under load');

# -- a backup and a verification report show up
my $t0 = int(time) - 1;
my $backup_id = $node->safe_psql('postgres', "SELECT revrx_backup_now('metrics', true)");
ok(RevrxTest::wait_for(sub { (metric('revrx_backups') // 0) >= 1 }, 60, 'backup in catalog'),
	"backup $backup_id counted");
($m) = scrape();
my $bt = $m->{revrx_last_backup_timestamp_seconds};
ok(defined $bt && $bt >= $t0 && $bt <= time + 1, 'last backup time is the backup just taken');
ok(defined $m->{revrx_last_backup_age_seconds} && $m->{revrx_last_backup_age_seconds} >= 0,
	'backup age shown');
ok(!(grep { /^revrx_last_verification/ } keys %$m), 'no verification metrics without a report');

my $vfile = RevrxTest::spool_dir($node) . '/status/verifications.json';
open my $vf, '>', "$vfile.tmp" or die $!;
print $vf qq({"verifications":[{"backup_id":"$backup_id","passed":false,"recovery_seconds":4.5,"total_seconds":12.5,)
  . qq("finished_at":"2026-11-26T10:00:00Z"},{"backup_id":"older","passed":true,"recovery_seconds":3}]});
close $vf;
rename "$vfile.tmp", $vfile or die $!;
($m) = scrape();
is($m->{qq(revrx_last_verification_passed{backup_id="$backup_id"})}, 0,
	'the newest verification (failed) is reported');
is($m->{revrx_last_verification_recovery_seconds}, '12.500', 'its recovery time (restore + replay)');
is($m->{revrx_last_verification_replay_seconds}, '4.500', 'and its replay time');
is($m->{revrx_last_verification_timestamp_seconds}, 1795687200, 'its finish time');

# -- S3 down
my $err_before = metric('revrx_errors_total{kind="network"}');
$s3->stop;
note 'S3 stopped';
$bench = RevrxTest::start_pgbench($node, '-n', '-c', '1', '-j', '1', '-R', '100', '-T', '6');
RevrxTest::switch_wal($node);
# noticed by shipping, or else by the agent's own check within 5 s
ok(RevrxTest::wait_for(sub { get('/readyz')->{status} == 503 }, 60, '/readyz 503'),
	'/readyz answers 503 while S3 is down');
my $r = get('/readyz');
like($r->{content}, qr/^repository unreachable: .+\n\z/, "one-line reason: $r->{content}");
ok( RevrxTest::wait_for(
		sub { metric('revrx_errors_total{kind="network"}') > $err_before }, 30, 'errors'),
	'network error counter rises');
ok( RevrxTest::wait_for(
		sub {
			RevrxTest::switch_wal($node);
			my ($x) = scrape();
			$x->{revrx_wal_backlog_files} > 0 && $x->{revrx_wal_backlog_bytes} > 0
			  && $x->{revrx_rpo_exposure_seconds} > 0;
		},
		60, 'backlog'),
	'backlog and exposure are shown');
# PostgreSQL's own backlog (.ready files in pg_wal), as the server reports it
ok( RevrxTest::wait_for(
		sub {
			RevrxTest::switch_wal($node);
			(metric('revrx_server_wal_ready_files') // 0) > 0
			  && (metric('revrx_server_wal_ready_bytes') // 0) > 0;
		},
		60, 'server backlog'),
	'the server\'s .ready backlog is shown while nothing is archived');
my $ready_files = metric('revrx_server_wal_ready_files');
my $ready_on_disk = () = glob($node->data_dir . '/pg_wal/archive_status/*.ready');
cmp_ok($ready_files, '<=', $ready_on_disk + 2, "it is what pg_wal holds ($ready_files reported, $ready_on_disk now)");
cmp_ok(metric('revrx_server_status_age_seconds'), '<', 30, 'and the report is recent');
my $exp1 = metric('revrx_rpo_exposure_seconds');
ok(RevrxTest::wait_for(sub { metric('revrx_rpo_exposure_seconds') > $exp1 + 1 }, 30, 'exposure grows'),
	"exposure grows past $exp1 s while nothing is stored");
is(metric('revrx_repository_up'), 0, 'repository_up 0');
is(get('/healthz')->{status}, 200, '/healthz stays 200: the agent itself is fine');
$bench->finish;

# -- S3 back
$s3->start_again;
note 'S3 started again';
ok(RevrxTest::wait_for(sub { get('/readyz')->{status} == 200 }, 60, '/readyz 200 again'),
	'/readyz 200 again after S3 is back');
ok( RevrxTest::wait_for(
		sub {
			my ($x) = scrape();
			$x->{revrx_wal_backlog_files} == 0 && $x->{revrx_rpo_exposure_seconds} == 0;
		},
		60, 'backlog 0'),
	'backlog and exposure back to 0');
ok(RevrxTest::wait_for(sub { (metric('revrx_server_wal_ready_files') // -1) == 0 }, 60, 'server backlog 0'),
	'the server\'s .ready backlog is back to 0');

# -- a spool the agent cannot write to is not ready either
my $spool = RevrxTest::spool_dir($node);
my $mode = (stat $spool)[2] & 07777;
chmod 0500, $spool or die "chmod: $!";
$r = get('/readyz');
chmod $mode, $spool or die "chmod: $!";
is($r->{status}, 503, '/readyz 503 while the spool is not writable');
like($r->{content}, qr/^spool ".*" is not readable and writable: .+\n\z/, "reason: $r->{content}");
is(get('/readyz')->{status}, 200, 'ready again once it is');

# -- bad requests
is($http->post("$base/metrics", { content => 'x=1' })->{status}, 405, 'POST gets 405');
is(get('/nothing-here')->{status}, 404, 'unknown path gets 404');
$r = $http->head("$base/metrics");
is($r->{status}, 200, 'HEAD /metrics is allowed');

sub raw
{
	my ($bytes) = @_;
	local $SIG{PIPE} = 'IGNORE';
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 10)
	  or die "connect: $!";
	print $sock $bytes;
	shutdown($sock, 1);
	local $/;
	my $answer = <$sock> // '';
	close $sock;
	return $answer;
}
# libmicrohttpd 0.9 (Debian 12) answers 405; 1.0 (Debian 13 and later)
# closes the connection without an answer: either way nothing is served
like(raw("\x01\xfe\x7f /\x00x HTTP/1.1\r\nHost: x\r\n\r\n"), qr{\A(?:HTTP/1\.1 40[05] |\z)},
	'binary junk as the method is refused (405, or the connection closed)');
like(raw("GET /metrics HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"), qr{^HTTP/1\.1 400 },
	'a malformed header line gets 400');
like(raw("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n"), qr{^HTTP/1\.1 400 },
	'a malformed Content-Length gets 400');
# no request line at all: libmicrohttpd just closes the connection
raw("\x00\x01GARBAGE\xff\r\n\r\n");
# an overlong request line and a flood of headers: refused or dropped, never a crash
raw('GET /' . ('a' x 200_000) . " HTTP/1.1\r\nHost: x\r\n\r\n");
raw("GET /metrics HTTP/1.1\r\nHost: x\r\n" . ("X-Junk: y\r\n" x 5000));
is(get('/healthz')->{status}, 200, 'the agent keeps serving after garbage');

# -- bad settings stop the agent, naming the setting
my %env = (%{ $agent->env }, REVRX_LISTEN => '127.0.0.1:99999');
my ($rc, $out, $err) = RevrxTest::run_agent(\%env, 'run');
is($rc, 3, 'bad REVRX_LISTEN: exit code 3');
like($err, qr/invalid value for REVRX_LISTEN: "127\.0\.0\.1:99999"/, 'the error names REVRX_LISTEN');
%env = (%{ $agent->env }, REVRX_LISTEN => "127.0.0.1:$port");
($rc, $out, $err) = RevrxTest::run_agent(\%env, 'run');
is($rc, 3, 'REVRX_LISTEN on a port in use: exit code 3');
like($err, qr/could not listen on REVRX_LISTEN=127\.0\.0\.1:$port/, 'the error names the address');

$agent->stop;
done_testing();
