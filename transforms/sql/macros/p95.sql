-- p95(x): the continuous 95th percentile.
create or replace macro p95(x) as quantile_cont(x, 0.95);
