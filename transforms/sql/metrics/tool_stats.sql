-- tool_stats: calls and failures per api and tool type, then per (api, tool type, function
-- name): the first columns of tool_analytics. A call fails when `call_failed` (an
-- Assistants call with its step, a Responses API call on its own); the rate is over
-- calls that ended.
create or replace view tool_stats as
select api, tool_type, function_name, calls, failed_calls, failure_rate
from tool_analytics
order by api, tool_type, function_name nulls first;
