-- DSA Art. 15(1)(c)/(d): decisions by ground (illegal content for child safety, terms and conditions otherwise, as
-- shared/domain/statements.py says), by action, and by whether a person took them (a decision without an analyst is
-- automated; today every decision is an analyst's).
select
    case when c.family = 'child_safety' then 'DECISION_GROUND_ILLEGAL_CONTENT' else 'DECISION_GROUND_INCOMPATIBLE_CONTENT' end
        as decision_ground,
    d.action,
    case when d.analyst is null then 'AUTOMATED_DECISION_FULLY' else 'AUTOMATED_DECISION_NOT_AUTOMATED' end
        as automated_decision,
    count(*) as decisions,
    count(distinct d.case_id) as cases
from decisions as d
join cases as c on c.case_id = d.case_id
group by
    case when c.family = 'child_safety' then 'DECISION_GROUND_ILLEGAL_CONTENT' else 'DECISION_GROUND_INCOMPATIBLE_CONTENT' end,
    d.action,
    case when d.analyst is null then 'AUTOMATED_DECISION_FULLY' else 'AUTOMATED_DECISION_NOT_AUTOMATED' end
order by decision_ground, d.action, automated_decision
