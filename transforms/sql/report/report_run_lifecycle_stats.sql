-- report_run_lifecycle_stats: run_lifecycle_stats over all runs (the report's section).
create or replace view report_run_lifecycle_stats as
select measure, n, mean, p50, p90, p95, p99, max
from run_lifecycle_stats
where dimension = 'all'
order by measure;
