-- Where abuse keeps coming back: the hosts, buckets and IPs with the most cases first reported in the last 30 days.
-- localtimestamp: now as a plain timestamp in the session's zone, UTC in both engines (as the lake's times are).
select
    case resource_kind when 'object' then 'bucket' when 'ip' then 'ip' else 'host' end as kind,
    host,
    count(*) as cases,
    sum(report_count) as reports,
    count(distinct category) as categories,
    sum(case when action = 'RESTRICT' then 1 else 0 end) as restricted_cases,
    max(last_seen) as last_seen
from cases
where first_seen >= localtimestamp - interval '30' day
group by case resource_kind when 'object' then 'bucket' when 'ip' then 'ip' else 'host' end, host
order by cases desc, reports desc, host
limit 50
