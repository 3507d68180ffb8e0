# S3 credentials the way a pod or an instance gets them, end to end:
#  - web identity (EKS IRSA: STS AssumeRoleWithWebIdentity), container
#    credentials (EKS Pod Identity / ECS, with an authorization token file)
#    and IMDSv2, each archiving WAL and taking a backup into the S3 test
#    server, which accepts only the temporary keys handed out (with their
#    session token) and refuses each once it has expired;
#  - keys living 20 s: archiving under load keeps going across several
#    refreshes, and a backlog built while the agent was frozen past the
#    keys' expiry drains with fresh keys; nothing is lost;
#  - the web identity token file replaced between refreshes: the next
#    refresh presents the new token;
#  - a role STS refuses: a clear error in revrx_status(), the log and
#    /readyz; nothing acknowledged to PostgreSQL;
#  - no key, secret or token in the agent's log or /metrics.
# The credentials server is RevrxTest::CredServer (tests/lib).

use strict;
use warnings FATAL => 'all';

use File::Copy qw(move);
use HTTP::Tiny;
use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;
use RevrxTest::CredServer;

my $dir = PostgreSQL::Test::Utils::tempdir('creds');
my $role = 'arn:aws:iam::123456789012:role/revrx-archiver';
my @keys = map {
	[ sprintf('ASIACRED%04d', $_), sprintf('credsecret-%04d-Zq9', $_), sprintf('credtoken-%04d-Xw7', $_) ]
} 1 .. 200;
my $expiry = "$dir/expiry";
my $s3 = RevrxTest::S3->start(env => {
		S3RVER_SESSION_KEYS => join(',', map { join(':', @$_) } @keys),
		S3RVER_KEY_EXPIRY_FILE => $expiry });
my $cs = RevrxTest::CredServer->start(
	dir => $dir, role_arn => $role, keys => \@keys, expiry_file => $expiry,
	sts_token_file => "$dir/web-identity-token", auth_token_file => "$dir/pod-auth-token");

# the kubelet writes projected tokens by renaming a new file into place
sub put_token
{
	my ($path, $value) = @_;
	open my $fh, '>', "$path.new" or die $!;
	print $fh "$value\n";
	close $fh;
	move("$path.new", $path) or die $!;
	return;
}

# The S3 settings without any key: credentials come from the sources.
sub s3_env
{
	my (%over) = @_;
	my $env = $s3->env(REVRX_RETRIES => 2, %over);
	delete @$env{qw(AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY)};
	return $env;
}

my $http = HTTP::Tiny->new(timeout => 10);

sub get
{
	my ($port, $path) = @_;
	return $http->get("http://127.0.0.1:$port$path");
}

sub metric
{
	my ($port, $name) = @_;
	my $r = get($port, '/metrics');
	return undef unless $r->{status} == 200;
	for my $line (split /\n/, $r->{content})
	{
		return $1 if $line =~ /^\Q$name\E (\S+)$/;
	}
	return undef;
}

sub wal_objects
{
	my ($prefix) = @_;
	my @objs = glob("$s3->{dir}/data/testbkt/$prefix/wal/00000001/*._S3rver_object");
	return scalar @objs;
}

sub backup_objects
{
	my ($prefix) = @_;
	my @objs = glob("$s3->{dir}/data/testbkt/$prefix/backup/*/*._S3rver_object");
	return scalar @objs;
}

# Nothing secret in text: no secret key, session token, web identity token or authorization token.
sub no_secrets
{
	my ($text, $what) = @_;
	my @found = grep { index($text, $_) >= 0 }
	  ((map { ($_->[1], $_->[2]) } @keys), 'jwt-one-5e8f', 'jwt-two-77ac', 'pod-auth-3c1d', 'imds-');
	is_deeply(\@found, [], "$what: no secret, session token or identity token in it");
	return;
}

my $node = RevrxTest::new_node('creds', timeout => 5);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
$node->command_ok([ 'pgbench', '-i', '-q', '-s', '2', 'postgres' ], 'pgbench init');

# One source end to end: WAL archived and a backup taken into its own prefix.
sub end_to_end
{
	my ($name, $prefix, $env, $log_like) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $agent = RevrxTest::Agent->start($node, repo => $s3->repo_url($prefix),
		env => { %$env, REVRX_LISTEN => "127.0.0.1:$port" });
	RevrxTest::switch_wal($node);
	my $id = $node->safe_psql('postgres', "SELECT revrx_backup_now('$name', wait => true)");
	like($id, qr/^\d{8}T\d{6}Z/, "$name: backup $id taken");
	my $last = RevrxTest::switch_wal($node);
	ok(RevrxTest::wait_archived($node, $last, 90), "$name: archived up to $last");
	cmp_ok(wal_objects($prefix), '>', 0, "$name: WAL objects in the bucket");
	cmp_ok(backup_objects($prefix), '>', 0, "$name: backup objects in the bucket");
	like($agent->log, $log_like, "$name: the log says where the credentials come from");
	ok(RevrxTest::wait_for(sub { (metric($port, "revrx_credentials_fetches_total{source=\"$name\"}") // 0) >= 1 },
			20, "$name metric"), "$name: /metrics names the source");
	is(get($port, '/readyz')->{status}, 200, "$name: /readyz is 200");
	no_secrets($agent->log, "$name: agent log");
	no_secrets(get($port, '/metrics')->{content}, "$name: /metrics");
	$agent->stop;
	return;
}

# ---------------------------------------------------------------- sources

put_token("$dir/web-identity-token", 'jwt-one-5e8f');
end_to_end('web identity', 'creds-web',
	s3_env(AWS_ROLE_ARN => $role, AWS_WEB_IDENTITY_TOKEN_FILE => "$dir/web-identity-token",
		AWS_ENDPOINT_URL_STS => $cs->url),
	qr/S3 credentials from web identity \(role \Q$role\E/);
my @sts = grep { $_->{source} eq 'sts' && $_->{status} == 200 } $cs->requests;
ok(@sts >= 1 && $sts[0]{token} eq 'jwt-one-5e8f', 'STS got the token from the file');

put_token("$dir/pod-auth-token", 'pod-auth-3c1d');
end_to_end('container credentials', 'creds-container',
	s3_env(AWS_CONTAINER_CREDENTIALS_FULL_URI => $cs->url . '/creds',
		AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE => "$dir/pod-auth-token"),
	qr/S3 credentials from container credentials \(http:/);
ok((grep { $_->{source} eq 'container' && $_->{status} == 200 && $_->{auth} eq 'pod-auth-3c1d' } $cs->requests),
	'the container endpoint got the authorization token from the file');

end_to_end('instance metadata', 'creds-imds',
	s3_env(AWS_EC2_METADATA_SERVICE_ENDPOINT => $cs->url),
	qr/S3 credentials from instance metadata \(http:[^)]*\) for role revrx-role/);
ok((grep { $_->{source} eq 'imds-token' && $_->{status} == 200 } $cs->requests),
	'IMDSv2: a session token was asked for first');
ok(!(grep { $_->{source} eq 'imds' && $_->{status} == 401 } $cs->requests),
	'IMDSv2: every metadata request carried it');

# --------------------------------------- short-lived keys, rotated token

$cs->set_lifetime(20);
my $sts_before = scalar grep { $_->{source} eq 'sts' && $_->{status} == 200 } $cs->requests;
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $first = RevrxTest::switch_wal($node);
my $agent = RevrxTest::Agent->start($node, repo => $s3->repo_url('creds-expiry'),
	env => s3_env(AWS_ROLE_ARN => $role, AWS_WEB_IDENTITY_TOKEN_FILE => "$dir/web-identity-token",
		AWS_ENDPOINT_URL_STS => $cs->url, REVRX_LISTEN => "127.0.0.1:$port"));

# load across two refreshes; the token is rotated in between
my $bench = RevrxTest::start_pgbench($node, '-n', '-c', '2', '-T', '50');
my $t0 = time;
my $rotated = 0;
while (time - $t0 < 25)
{
	RevrxTest::switch_wal($node);
	if (!$rotated && time - $t0 >= 8)
	{
		put_token("$dir/web-identity-token", 'jwt-two-77ac');
		$rotated = 1;
	}
	sleep 2;
}

# refreshed ahead of expiry: S3 never had to refuse a key as expired
my $log_before_freeze = $agent->log;
unlike($log_before_freeze, qr/ExpiredToken|as expired/, 'no request was refused for expired keys under load');

# then the agent is frozen past the keys' life while WAL piles up, and drains it
$agent->{handle}->signal('STOP');
my $frozen_at = time;
while (time - $frozen_at < 24)
{
	RevrxTest::switch_wal($node);
	sleep 2;
}
my $backlog = () = glob($node->data_dir . '/pg_wal/archive_status/*.ready');
cmp_ok($backlog, '>', 3, "a backlog of $backlog segments built while the agent was frozen");
$agent->{handle}->signal('CONT');
my $id = $node->safe_psql('postgres', "SELECT revrx_backup_now('short-lived keys', wait => true)");
like($id, qr/^\d{8}T\d{6}Z/, "a backup taken while the keys rotate every 10 s");
$bench->finish;
my $last = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $last, 180), "the backlog drained: archived up to $last");

my @refreshes = grep { $_->{source} eq 'sts' && $_->{status} == 200 } $cs->requests;
splice(@refreshes, 0, $sts_before);
cmp_ok(scalar(@refreshes), '>=', 4, scalar(@refreshes) . ' sets of keys fetched over ~60 s of 20 s keys');
ok((grep { $_->{token} eq 'jwt-one-5e8f' } @refreshes), 'the first token was used before the rotation');
ok((grep { $_->{token} eq 'jwt-two-77ac' } @refreshes), 'the rotated token was read and used');
ok(!(grep { $_->{source} eq 'sts' && $_->{status} != 200 } $cs->requests),
	'STS never received a stale token');
cmp_ok(metric($port, 'revrx_credentials_fetches_total{source="web identity"}'), '>=', 4,
	'/metrics counts the refreshes');
my $left = metric($port, 'revrx_credentials_expiry_seconds{source="web identity"}');
ok(defined $left && $left > 0 && $left <= 20, "/metrics shows the keys expire in $left s");
like($agent->log, qr/S3 credentials refreshed from web identity/, 'the log shows the refreshes');

my ($missing, $different) = RevrxTest::verify_archive($node, $agent->env, $first, $last);
is($missing, 0, 'no segment missing from the repository');
is($different, 0, 'every segment fetched back identical');
no_secrets($agent->log, 'short-lived keys: agent log');
no_secrets(get($port, '/metrics')->{content}, 'short-lived keys: /metrics');
$agent->stop;

# ------------------------------------------------------------ wrong role

my $wrong = 'arn:aws:iam::123456789012:role/not-this-one';
$port = PostgreSQL::Test::Cluster::get_free_port();
my $before = RevrxTest::last_archived($node);
my $fails = $node->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver');
my $bad = RevrxTest::Agent->start($node, repo => $s3->repo_url('creds-denied'),
	env => s3_env(AWS_ROLE_ARN => $wrong, AWS_WEB_IDENTITY_TOKEN_FILE => "$dir/web-identity-token",
		AWS_ENDPOINT_URL_STS => $cs->url, REVRX_LISTEN => "127.0.0.1:$port"));
$node->safe_psql('postgres', 'INSERT INTO revrx_switch VALUES (2)');
my $seg = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
ok( RevrxTest::wait_for(
		sub { (RevrxTest::status($node)->{last_error} // '') =~ /AccessDenied/ }, 60, 'AccessDenied'),
	'revrx_status() says STS refused the role');
my $msg = RevrxTest::status($node)->{last_error};
note "last_error: $msg";
like($msg, qr/\Q$wrong\E/, 'the error names the role');
like($bad->log, qr/AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity/,
	'the agent log says why');
my $r = get($port, '/readyz');
is($r->{status}, 503, '/readyz is 503');
like($r->{content}, qr/S3 credentials: .*AccessDenied/, '/readyz gives the reason');
ok(RevrxTest::wait_for(
		sub { $node->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver') > $fails }, 60,
		'archiver failure'),
	'pg_stat_archiver failed_count grows');
is(RevrxTest::last_archived($node), $before, 'last_archived_wal does not advance');
ok(-f $node->data_dir . "/pg_wal/archive_status/$seg.ready", "$seg is still .ready");
is(wal_objects('creds-denied'), 0, 'nothing stored');
cmp_ok(metric($port, 'revrx_credentials_refresh_failures_total{source="web identity"}'), '>=', 1,
	'/metrics counts the failures');
no_secrets($bad->log, 'wrong role: agent log');
$bad->stop;

# ------------------------------------------------ a refused configuration

my ($rc, $out, $err) = RevrxTest::run_agent(
	{ %{ s3_env(AWS_ROLE_ARN => $role, AWS_WEB_IDENTITY_TOKEN_FILE => "$dir/web-identity-token",
			AWS_ENDPOINT_URL_STS => 'http://sts.example.com') },
		REVRX_REPO => $s3->repo_url('creds-web') },
	'list');
is($rc, 3, 'plain http to a non-loopback STS is a configuration error (exit 3)');
like($err, qr/AWS_ENDPOINT_URL_STS.*plain http is allowed only to a loopback address/,
	'and the message names the setting');

# refused at start: exit 3, naming the setting
sub refused
{
	my (%env) = @_;
	my ($rc, $out, $err) = RevrxTest::run_agent(
		{ %{ s3_env(AWS_ROLE_ARN => $role, AWS_WEB_IDENTITY_TOKEN_FILE => "$dir/web-identity-token",
				%env) },
			REVRX_REPO => $s3->repo_url('creds-web') },
		'list');
	return ($rc, $err);
}

# user information after a port: curl would connect to the host after the @
($rc, $err) = refused(AWS_ENDPOINT_URL_STS => 'http://127.0.0.1:80@sts.example.com/');
is($rc, 3, 'an STS URL with user information after a loopback port is refused (exit 3)');
like($err, qr/AWS_ENDPOINT_URL_STS: user information is not allowed/, 'naming the setting and why');
($rc, $err) = refused(AWS_ENDPOINT_URL_STS => 'https://agent:hunter2-sts@sts.example.com/');
is($rc, 3, 'an STS URL with a password is refused (exit 3)');
like($err, qr/AWS_ENDPOINT_URL_STS.*user information/, 'naming the setting');
unlike($err, qr/hunter2-sts/, 'without repeating the password');

# the credentials endpoints have their own CA setting, checked at start
($rc, $err) = refused(AWS_ENDPOINT_URL_STS => $cs->url, REVRX_CREDENTIALS_CA_FILE => "$dir/no-such-ca.pem");
is($rc, 3, 'an unreadable REVRX_CREDENTIALS_CA_FILE is a configuration error (exit 3)');
like($err, qr/invalid value for REVRX_CREDENTIALS_CA_FILE/, 'naming the setting');

$cs->stop;
done_testing();
