-- otel_genai_call(operation, assistant_id, thread_id, model, response_id, finish_reasons):
-- the OpenTelemetry GenAI attributes of an exported span that calls an agent, a model or
-- a tool (otel_spans: `invoke_agent`, `chat`, `execute_tool`), as one struct (expand with
-- unnest); NULL attributes are left out of the span.
create or replace macro otel_genai_call(operation, assistant_id, thread_id, model,
                                        response_id, finish_reasons) as {
    'gen_ai.operation.name': operation,
    'gen_ai.provider.name': 'openai',
    'gen_ai.agent.id': assistant_id,
    'gen_ai.conversation.id': thread_id,
    'gen_ai.request.model': model,
    'gen_ai.response.model': model,
    'gen_ai.response.id': response_id,
    'gen_ai.response.finish_reasons': finish_reasons
};
