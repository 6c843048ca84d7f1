-- report_tool_analytics: the report's columns of tool_analytics.
create or replace view report_tool_analytics as
select tool_type, function_name, calls, calls_per_run, failure_rate, step_p50_s,
       step_p95_s, args_chars_mean, output_chars_mean, invalid_json_args,
       file_search_results_mean, code_log_chars_mean, code_images
from tool_analytics;
