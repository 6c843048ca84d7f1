-- report_version_comparison: the 10 latest configuration changes (version_comparison).
create or replace view report_version_comparison as
select assistant_id, version, previous_version, changed, changed_at, runs_before,
       runs_after, p95_duration_s_before, p95_duration_s_after, failure_rate_before,
       failure_rate_after, cost_per_run_usd_before, cost_per_run_usd_after
from version_comparison
order by changed_at desc nulls last, assistant_id, version
limit 10;
