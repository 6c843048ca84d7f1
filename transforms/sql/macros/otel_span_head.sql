-- otel_span_head(span_kind, start_at, end_at, failed, status_message): the columns every
-- exported span starts with after its ids and name (otel_spans), as one struct (expand
-- with unnest): its OpenTelemetry kind, start and end in Unix nanoseconds, whether it is
-- an error and the status message.
create or replace macro otel_span_head(span_kind, start_at, end_at, failed, status_message) as {
    'span_kind': span_kind,
    'start_ns': epoch_ns(start_at),
    'end_ns': epoch_ns(end_at),
    'is_error': failed,
    'status_message': status_message
};
