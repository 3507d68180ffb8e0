-- user check of the restore drill (tests/t/017_verify.pl): the data the
-- test wrote before its fingerprint restore point is all there
SELECT count(*) AS rows, count(DISTINCT id) AS ids FROM t;
SELECT v FROM marker;
