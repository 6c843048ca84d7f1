-- is_failure(status): a run or step that ended in an error: `failed` (the API's error,
-- with last_error) or `expired` (it timed out, e.g. waiting on the caller's tool outputs).
-- `cancelled` (someone's choice) and `incomplete` (a token limit, partial answer kept)
-- are other endings, not failures. Used for `failed_turns` (threads) and the ERROR status
-- of exported OpenTelemetry spans (otel_spans).
create or replace macro is_failure(status) as status in ('failed', 'expired');
