-- report_run_failure_funnel: run_failure_funnel over all runs, most frequent first.
create or replace view report_run_failure_funnel as
select status, last_error_code, incomplete_reason, runs, share_of_runs, share_of_terminal
from run_failure_funnel
where dimension = 'all'
order by runs desc, status, last_error_code, incomplete_reason;
