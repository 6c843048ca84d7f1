-- p90(x): the continuous 90th percentile.
create or replace macro p90(x) as quantile_cont(x, 0.90);
