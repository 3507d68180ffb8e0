# TLS to the S3 endpoint: certificates are verified by default.  The S3
# test server runs behind a certificate from a CA made here with openssl.
# The agent refuses it without REVRX_S3_CA_FILE (naming the certificate
# problem), with the wrong CA, and under a name the certificate does not
# carry; it ships and fetches WAL with REVRX_S3_CA_FILE set; and it works
# with REVRX_S3_VERIFY_TLS=off only after logging a warning.  STS is
# verified whatever REVRX_S3_VERIFY_TLS and REVRX_S3_CA_FILE say, against
# REVRX_CREDENTIALS_CA_FILE when set.

use strict;
use warnings FATAL => 'all';

use PostgreSQL::Test::Utils;
use Test::More;

use RevrxTest;

my $dir = PostgreSQL::Test::Utils::tempdir('tls');

sub openssl
{
	my (@args) = @_;
	my ($rc) = PostgreSQL::Test::Utils::run_log([ 'openssl', @args ]);
	die "openssl @args failed" unless $rc;
	return;
}

# a CA, and a server certificate for 127.0.0.1 signed by it
sub make_ca
{
	my ($name) = @_;
	openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
		'-nodes', '-keyout', "$dir/$name.key", '-out', "$dir/$name.pem", '-days', '2',
		'-subj', "/CN=revrx test $name");
	return "$dir/$name.pem";
}
my $ca = make_ca('ca');
my $other_ca = make_ca('other-ca');
open my $ext, '>', "$dir/server.ext" or die $!;
print $ext "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
  . "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n";
close $ext;
openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
	'-keyout', "$dir/server.key", '-out', "$dir/server.csr", '-subj', '/CN=127.0.0.1');
openssl('x509', '-req', '-in', "$dir/server.csr", '-CA', $ca, '-CAkey', "$dir/ca.key",
	'-CAcreateserial', '-out', "$dir/server.pem", '-days', '2', '-extfile', "$dir/server.ext");

my $s3 = RevrxTest::S3->start(tls_key => "$dir/server.key", tls_cert => "$dir/server.pem");
like($s3->endpoint, qr{^https://}, 'S3 test server serves HTTPS');
my $repo = $s3->repo_url('tls');

# -- refused by default
my ($rc, $out, $err) = RevrxTest::run_agent({ %{ $s3->env }, REVRX_REPO => $repo }, 'list');
isnt($rc, 0, 'list fails against an unknown CA by default');
like($err, qr/certificate/i, "the error is about the certificate: $err");

($rc, $out, $err) = RevrxTest::run_agent(
	{ %{ $s3->env(REVRX_S3_CA_FILE => $other_ca) }, REVRX_REPO => $repo }, 'list');
isnt($rc, 0, 'list fails when REVRX_S3_CA_FILE is another CA');
like($err, qr/certificate/i, 'and says it is the certificate');

(my $by_name = $s3->endpoint) =~ s/127\.0\.0\.1/localhost/;
($rc, $out, $err) = RevrxTest::run_agent(
	{ %{ $s3->env(REVRX_S3_CA_FILE => $ca, REVRX_S3_ENDPOINT => $by_name) }, REVRX_REPO => $repo },
	'list');
isnt($rc, 0, 'a certificate for 127.0.0.1 is refused for "localhost" (host name checked)');
like($err, qr/certificate|subject|name/i, "and says why: $err");

($rc, $out, $err) = RevrxTest::run_agent(
	{ %{ $s3->env(REVRX_S3_CA_FILE => "$dir/missing.pem") }, REVRX_REPO => $repo }, 'list');
is($rc, 3, 'a CA file that does not exist is a configuration error');
like($err, qr/REVRX_S3_CA_FILE/, 'naming the setting');

# -- verified with the right CA: ship and fetch WAL
($rc, $out, $err) = RevrxTest::run_agent(
	{ %{ $s3->env(REVRX_S3_CA_FILE => $ca) }, REVRX_REPO => $repo }, 'list');
is($rc, 0, 'list works with REVRX_S3_CA_FILE') or diag($err);
unlike($err, qr/not verified|verification is turned off/i, 'no warning when verifying');

my $node = RevrxTest::new_node('tls');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION revrx');
my $agent = RevrxTest::Agent->start($node, repo => $repo,
	env => $s3->env(REVRX_S3_CA_FILE => $ca));
my $seg = RevrxTest::switch_wal($node);
ok(RevrxTest::wait_archived($node, $seg, 60), "WAL archived over verified TLS (up to $seg)");
my $dest = "$dir/$seg";
($rc, $out, $err) = RevrxTest::run_agent($agent->env, 'wal-fetch', $seg, $dest);
is($rc, 0, 'wal-fetch over verified TLS') or diag($err);
my $orig = $node->data_dir . "/pg_wal/$seg";
ok(-s $dest && RevrxTest::slurp_bin($dest) eq RevrxTest::slurp_bin($orig),
	'the fetched segment is identical');
$agent->stop;
unlike($agent->log, qr/not verified|verification is turned off/i, 'the verifying agent logged no TLS warning');

# -- verification explicitly off: works, with a warning
unlink $dest;
($rc, $out, $err) = RevrxTest::run_agent(
	{ %{ $s3->env(REVRX_S3_VERIFY_TLS => 'off') }, REVRX_REPO => $repo }, 'wal-fetch', $seg, $dest);
is($rc, 0, 'wal-fetch works with REVRX_S3_VERIFY_TLS=off') or diag($err);
like($err, qr/warning: .*REVRX_S3_VERIFY_TLS=off/, 'a warning says verification is off');
($rc, $out, $err) = RevrxTest::run_agent(
	{ %{ $s3->env(REVRX_S3_VERIFY_TLS => 'maybe') }, REVRX_REPO => $repo }, 'list');
is($rc, 3, 'REVRX_S3_VERIFY_TLS takes only on/off values');
like($err, qr/invalid value for REVRX_S3_VERIFY_TLS/, 'naming the setting');

# -- the credentials endpoints never take S3's TLS settings (STS gets the
# identity token and returns keys).  The TLS test server stands in for an
# STS behind the test CA: once TLS is through, its answer is no STS answer.
open my $tok, '>', "$dir/web-identity-token" or die $!;
print $tok "jwt-for-tls-test\n";
close $tok;
sub sts_env
{
	my (%over) = @_;
	my $env = $s3->env(AWS_ROLE_ARN => 'arn:aws:iam::123456789012:role/revrx-tls',
		AWS_WEB_IDENTITY_TOKEN_FILE => "$dir/web-identity-token",
		AWS_ENDPOINT_URL_STS => $s3->endpoint . '/', REVRX_RETRIES => 0, %over);
	delete @$env{qw(AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY)};
	return { %$env, REVRX_REPO => $repo };
}
($rc, $out, $err) = RevrxTest::run_agent(sts_env(REVRX_S3_VERIFY_TLS => 'off'), 'list');
isnt($rc, 0, 'REVRX_S3_VERIFY_TLS=off does not turn off the check of STS');
like($err, qr/from STS .*certificate/i, "STS's certificate is still verified: $err");
($rc, $out, $err) = RevrxTest::run_agent(sts_env(REVRX_S3_CA_FILE => $ca), 'list');
like($err, qr/from STS .*certificate/i, 'nor does REVRX_S3_CA_FILE apply to STS');
($rc, $out, $err) = RevrxTest::run_agent(sts_env(REVRX_S3_CA_FILE => $ca, REVRX_CREDENTIALS_CA_FILE => $ca),
	'list');
isnt($rc, 0, 'the test server is no STS');
like($err, qr/from STS/, "it was asked: $err");
unlike($err, qr/certificate/i, 'with REVRX_CREDENTIALS_CA_FILE its certificate is accepted');
unlike($err, qr/jwt-for-tls-test/, 'the identity token is not in the message');

done_testing();
