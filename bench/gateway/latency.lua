-- prints latency percentiles in microseconds for bench/gateway to read
done = function(summary, latency, requests)
  io.write(string.format("P50 %d\nP99 %d\nP999 %d\n", latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
