-- otel_span_session(thread_id, observation_type, failed, error_code, status, api_name): the
-- attributes every exported span carries (otel_spans), as one struct (expand with unnest):
-- its session (the thread or conversation) in OpenInference's and Langfuse's words, its
-- Langfuse observation type, `error.type` when it failed (the error code, else the status,
-- else 'failed') and steplens's api and status.
create or replace macro otel_span_session(thread_id, observation_type, failed, error_code,
                                          status, api_name) as {
    'session.id': thread_id,
    'langfuse.observation.type': observation_type,
    'langfuse.session.id': thread_id,
    'error.type': case when failed then coalesce(error_code, status, 'failed') end,
    'steplens.api': api_name,
    'steplens.status': status
};
