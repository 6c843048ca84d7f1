-- tool_analytics: per api and tool type (function_name NULL), then per (api, tool type,
-- function name) for calls that have a name.
--   calls, runs, calls_per_run   calls; distinct runs (responses) that made one; calls / runs
--   failed_calls, failure_rate   as tool_stats: calls that failed (`call_failed`: an
--                                Assistants call fails with its step, a Responses API call
--                                on its own); the rate is over calls that ended (in a
--                                terminal step, or failed)
--   step_p50_s, step_p95_s       latency_s of the completed steps holding these calls,
--                                each step counted once
--   args_chars_*, output_chars_* length in characters of function arguments / output
--                                (`*_chars` columns: known even when content is redacted)
--   invalid_json_args            calls whose arguments are not valid JSON
--                                (arguments_valid_json = false); the rate is over calls
--                                that have arguments; both NULL when no call has any
--   file_search_*                file_search result counts (calls that reported them;
--                                NULL when none did); _empty: calls with 0 results;
--                                _score_mean / _score_p50: the best result score of each
--                                call that had scored results
--   code_log_chars_*, code_images  code_interpreter log characters and image outputs
create or replace view tool_analytics as
with calls as (
    select
        tool_calls.api,
        tool_calls.type as tool_type,
        tool_calls.function_name,
        tool_calls.run_id,
        tool_calls.step_id,
        tool_calls.step_status,
        tool_calls.call_failed,
        tool_calls.function_arguments_chars as args_chars,  -- kept when redacted
        tool_calls.function_output_chars as output_chars,
        tool_calls.arguments_valid_json,
        tool_calls.file_search_result_count,
        tool_calls.file_search_max_score,
        tool_calls.code_log_chars,
        tool_calls.code_image_count,
        steps.latency_s as step_latency_s,
        steps.status = 'completed' as step_completed
    from tool_calls
    left join steps on tool_calls.step_id = steps.step_id
),

call_stats as (
    select
        grouping(function_name) as by_type,
        api,
        tool_type,
        function_name,
        count(*) as calls,
        count(distinct run_id) as runs,
        count(*) filter (where call_failed) as failed_calls,
        count(*) filter (where call_failed or is_terminal(step_status)) as terminal_calls,
        avg(args_chars) as args_chars_mean,
        p95(args_chars) as args_chars_p95,
        max(args_chars) as args_chars_max,
        avg(output_chars) as output_chars_mean,
        max(output_chars) as output_chars_max,
        case when count(arguments_valid_json) > 0
             then count(*) filter (where not arguments_valid_json) end as invalid_json_args,
        count(arguments_valid_json) as calls_with_args,
        count(file_search_result_count) as file_search_calls_with_results,
        try_cast(sum(file_search_result_count) as bigint) as file_search_results,
        avg(file_search_result_count) as file_search_results_mean,
        case when count(file_search_result_count) > 0
             then count(*) filter (where file_search_result_count = 0) end
            as file_search_empty,
        avg(file_search_max_score) as file_search_score_mean,
        p50(file_search_max_score) as file_search_score_p50,
        try_cast(sum(code_log_chars) as bigint) as code_log_chars,
        avg(code_log_chars) as code_log_chars_mean,
        try_cast(sum(code_image_count) as bigint) as code_images
    from calls
    group by grouping sets ((api, tool_type), (api, tool_type, function_name))
    having grouping(function_name) = 1 or function_name is not null
),

step_latencies as (
    select distinct api, tool_type, function_name, step_id, step_latency_s
    from calls
    where step_completed and step_latency_s is not null
),

latency_stats as (
    select
        grouping(function_name) as by_type,
        api,
        tool_type,
        function_name,
        p50(step_latency_s) as step_p50_s,
        p95(step_latency_s) as step_p95_s
    from step_latencies
    group by grouping sets ((api, tool_type), (api, tool_type, function_name))
),

final as (
    select
        c.api,
        c.tool_type,
        c.function_name,
        c.calls,
        c.runs,
        c.calls / c.runs as calls_per_run,
        c.failed_calls,
        c.failed_calls / nullif(c.terminal_calls, 0) as failure_rate,
        l.step_p50_s,
        l.step_p95_s,
        c.args_chars_mean,
        c.args_chars_p95,
        c.args_chars_max,
        c.output_chars_mean,
        c.output_chars_max,
        c.invalid_json_args,
        c.invalid_json_args / nullif(c.calls_with_args, 0) as invalid_json_rate,
        c.file_search_calls_with_results,
        c.file_search_results,
        c.file_search_results_mean,
        c.file_search_empty,
        c.file_search_score_mean,
        c.file_search_score_p50,
        c.code_log_chars,
        c.code_log_chars_mean,
        c.code_images
    from call_stats as c
    left join latency_stats as l
        on c.by_type = l.by_type
        and c.api = l.api
        and c.tool_type is not distinct from l.tool_type
        and c.function_name is not distinct from l.function_name
)

select * from final order by api, tool_type, function_name nulls first;
