-- p99(x): the continuous 99th percentile.
create or replace macro p99(x) as quantile_cont(x, 0.99);
