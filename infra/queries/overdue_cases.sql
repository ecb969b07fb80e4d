-- Open cases past their due time, most severe and most overdue first (at most 1,000 rows).
-- localtimestamp: now as a plain timestamp in the session's zone, UTC in both engines (as the lake's times are).
select
    case_id,
    severity,
    category,
    type,
    host,
    report_count,
    first_seen,
    due_at,
    round(cast(date_diff('millisecond', due_at, localtimestamp) as double) / 3600000, 2) as hours_overdue
from cases
where status = 'OPEN' and due_at < localtimestamp
order by severity, due_at, case_id
limit 1000
