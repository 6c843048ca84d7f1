-- p50(x): the continuous median (linear interpolation), as every reported percentile.
create or replace macro p50(x) as quantile_cont(x, 0.50);
