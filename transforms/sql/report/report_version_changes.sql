-- report_version_changes: the 10 configuration changes (5 runs or more on each side)
-- that moved the run failure rate most.
create or replace view report_version_changes as
select assistant_id, previous_version, version, array_to_string(changed, ', ') as changed,
       failure_rate_before, failure_rate_after
from version_comparison
where runs_before >= 5 and runs_after >= 5
    and failure_rate_before is not null and failure_rate_after is not null
order by abs(failure_rate_after - failure_rate_before) desc, assistant_id, version
limit 10;
