-- latency_stats(latency_s): the latency aggregates of step_latency and step_latency_by,
-- as one struct (expand with `.*`). One list quantile computes the four percentiles in
-- one sort (DuckDB binds the repeated aggregate once).
create or replace macro latency_stats(latency_s) as {
    'n': count(latency_s),
    'mean_s': avg(latency_s),
    'p50_s': quantile_cont(latency_s, [0.50, 0.90, 0.95, 0.99])[1],
    'p90_s': quantile_cont(latency_s, [0.50, 0.90, 0.95, 0.99])[2],
    'p95_s': quantile_cont(latency_s, [0.50, 0.90, 0.95, 0.99])[3],
    'p99_s': quantile_cont(latency_s, [0.50, 0.90, 0.95, 0.99])[4],
    'max_s': max(latency_s)
};
