-- outcome_stats(status): terminal outcomes of failure_rate and failure_rate_by, as one
-- struct (expand with `.*`); each rate is its count over the terminal steps (`incomplete`:
-- a Responses API item cut by a token limit).
create or replace macro outcome_stats(status) as {
    'terminal': count_if(is_terminal(status))::bigint,
    'completed': count_if(status = 'completed')::bigint,
    'failed': count_if(status = 'failed')::bigint,
    'cancelled': count_if(status = 'cancelled')::bigint,
    'expired': count_if(status = 'expired')::bigint,
    'incomplete': count_if(status = 'incomplete')::bigint,
    'failure_rate': status_rate(status, 'failed'),
    'cancelled_rate': status_rate(status, 'cancelled'),
    'expired_rate': status_rate(status, 'expired'),
    'incomplete_rate': status_rate(status, 'incomplete')
};
