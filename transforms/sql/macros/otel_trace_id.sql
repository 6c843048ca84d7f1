-- otel_trace_id(thread_id, run_id): the OpenTelemetry trace id (32 hex digits) of a thread
-- or conversation, the same on every export: the first 16 bytes of
-- sha256('thread:' || thread_id), or of 'run:' || run_id for a run without a thread. Find
-- a thread's trace in a tracing tool with `select otel_trace_id('thread_abc', null)`.
create or replace macro otel_trace_id(thread_id, run_id) as
    left(sha256(coalesce('thread:' || thread_id, 'run:' || run_id)), 32);
