-- tool_stats: calls and failures per tool type, then per (tool type, function name):
-- the first columns of tool_analytics. A call fails when its step failed; the rate is
-- over calls in terminal steps.
create or replace view tool_stats as
select tool_type, function_name, calls, failed_calls, failure_rate
from tool_analytics
order by tool_type, function_name nulls first;
