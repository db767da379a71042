create table filings (
	id bigserial primary key,
	ticker text not null references companies (ticker),
	filed_on date not null,
	kind text not null
);
insert into filings (ticker, filed_on, kind)
select ticker, date '2026-01-01' + (row_number() over ()) :: int % 300, '10-K' from companies;
