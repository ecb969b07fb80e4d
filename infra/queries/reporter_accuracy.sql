-- Reporters' volume and accuracy: the share of their decided reports that were actioned.
select
    coalesce(reporter, '(anonymous)') as reporter,
    reporter_tier,
    count(*) as reports,
    sum(case when status = 'COMPLETED' then 1 else 0 end) as decided,
    sum(case when reason_code = 'ACTIONED' then 1 else 0 end) as actioned,
    sum(case when reason_code = 'REVIEWED_NO_AWS_ACTION' then 1 else 0 end) as no_action,
    round(
        cast(sum(case when reason_code = 'ACTIONED' then 1 else 0 end) as double)
        / nullif(sum(case when status = 'COMPLETED' then 1 else 0 end), 0),
        4
    ) as share_actioned
from reports
group by coalesce(reporter, '(anonymous)'), reporter_tier
order by reports desc, reporter
