-- otel_span_order(run_start, run_key, rank, step_start, step_key, call_index): the keys
-- otel_spans sorts its spans by (a total order with span_id, so the same warehouse always
-- gives the same file): the run's start and id, then the run (0), its model call (1) and
-- its steps (2), each step by start and id, its tool calls by index. One struct, expanded
-- with unnest into the `_run_start` ... `_call_index` columns the export leaves out.
create or replace macro otel_span_order(run_start, run_key, rank, step_start, step_key,
                                        call_index) as {
    '_run_start': run_start,
    '_run_key': run_key,
    '_rank': rank,
    '_step_start': step_start,
    '_step_key': step_key,
    '_call_index': call_index
};
