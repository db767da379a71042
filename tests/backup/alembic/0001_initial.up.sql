create table companies (id serial primary key, ticker text unique not null, name text not null,
	sector text not null);
create table filings (id serial primary key, company_id int not null references companies (id),
	kind text not null, filed_on date not null);
insert into companies (ticker, name, sector)
	select 'T' || g, 'Company ' || g, (array['tech', 'energy', 'finance', 'health'])[g % 4 + 1]
	from generate_series(1, 400) g;
insert into filings (company_id, kind, filed_on)
	select g % 400 + 1, (array['10-K', '10-Q', '8-K'])[g % 3 + 1], date '2020-01-01' + g % 1500
	from generate_series(1, 3000) g;
