# Perl string churn for `make bench` (scripts/bench.py): run by Debian's /usr/bin/perl.
#
# Usage: perl churn.pl [ROUNDS]
#
# Each round builds strings by concatenation, sprintf, join, substitution and split,
# keeps them in hashes and arrays, sorts and deletes part of them, and keeps a sliding
# window of rounds alive.  Deterministic (its own LCG, sorted hash keys); prints one
# checksum.
use strict;
use warnings;

my $rounds = @ARGV ? $ARGV[0] : 40;
my $seed = 12345;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed; }

my @window;
my $sum = 0;
for my $r (1 .. $rounds) {
    my %h;
    my @list;
    for my $i (1 .. 5000) {
        my $n = rnd() % 40 + 4;
        my $s = sprintf("r%d-i%d-", $r, $i) . ("x" x $n) . join(",", map { rnd() % 1000 } 1 .. 4);
        $s =~ s/x{3}/yz/g;
        $s .= uc(substr($s, 0, 6));
        push @list, $s;
        $h{"k" . (rnd() % 20000)} .= $s;
    }
    my @parts = map { [ split /[-,]/, $_ ] } @list[0 .. 1999];
    my $joined = join("|", map { join(":", @$_) } @parts);
    $sum = ($sum * 33 + length($joined)) % 4294967291;
    for my $k (sort keys %h) {
        $sum = ($sum * 31 + length($h{$k})) % 4294967291;
        delete $h{$k} if rnd() % 3 == 0;
    }
    my @sorted = sort { length($a) <=> length($b) or $a cmp $b } @list;
    $sum = ($sum + length($sorted[0]) + length($sorted[-1])) % 4294967291;
    push @window, [ \%h, [ @sorted[0 .. 499] ] ];
    shift @window if @window > 4;
}
my $kept = 0;
$kept += scalar(keys %{ $_->[0] }) for @window;
printf "churn.pl: %d rounds, %d keys kept, checksum %u\n", $rounds, $kept, $sum;
