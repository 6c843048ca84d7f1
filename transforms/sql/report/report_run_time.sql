-- report_run_time: median seconds per run by assistant, of where a run's time goes
-- (queued, tool_calls steps, message steps, waiting on tool outputs).
create or replace view report_run_time as
select value as assistant_id, measure, p50
from run_lifecycle_stats
where dimension = 'assistant_id'
    and measure in ('queue_s', 'tool_calls_s', 'message_creation_s', 'tool_wait_s')
order by value;
