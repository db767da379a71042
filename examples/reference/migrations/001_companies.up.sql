create table companies (
	ticker text primary key,
	name text not null,
	sector text not null
);
insert into companies
select format('C%s', lpad(i::text, 3, '0')), format('Company %s', i),
	(array['technology', 'finance', 'energy', 'health'])[1 + i % 4]
from generate_series(0, 499) as i;
