#!/usr/bin/perl
# The app of the format-1 data dir fixture: answers every request with "fixture $RELEASE".
use strict;
use IO::Socket::INET;
my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$ENV{PORT}", Listen => 64, ReuseAddr => 1) or die "listen: $!";
my $body = "fixture $ENV{RELEASE}\n";
while (my $c = $s->accept) {
    while (my $line = <$c>) { last if $line =~ /^\r?\n$/ }
    print $c "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
    close $c;
}
