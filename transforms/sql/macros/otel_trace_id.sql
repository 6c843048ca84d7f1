-- otel_trace_id(run_id): the OpenTelemetry trace id (32 hex digits) of a run (an Assistants
-- run or a Responses response), the same on every export: the first 16 bytes of
-- sha256('run:' || run_id). One trace per run; the thread or conversation is the trace's
-- session (`session.id`), not its trace. A step whose run is not in the warehouse gets the
-- trace of its run id, or of its own step id when it has none. Find a run's trace in a
-- tracing tool with `select otel_trace_id('run_abc')`.
create or replace macro otel_trace_id(run_id) as left(sha256('run:' || run_id), 32);
