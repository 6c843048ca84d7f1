-- otel_span_id(kind, key): an OpenTelemetry span id (16 hex digits), the same on every
-- export: the first 8 bytes of sha256(kind || ':' || key); kind is 'run' (key run_id),
-- 'response' (run_id: a Responses response's model call), 'step' (step_id) or 'tool_call'
-- (step_id || ':' || call_index).
create or replace macro otel_span_id(kind, key) as left(sha256(kind || ':' || key), 16);
