-- share_of_group(n, dimension, value): a row's count `n` over the sum of `n` in its
-- (dimension, value) group of a metric view (the funnels: share_of_runs, share_of_steps).
create or replace macro share_of_group(n, dimension, value) as
    n / sum(n) over (partition by dimension, value);
