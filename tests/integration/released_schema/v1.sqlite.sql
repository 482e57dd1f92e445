-- The metadata schema farmtel created before migrations (schema_version 1), as
-- storage.metadata.create_schema (removed since) emitted it on sqlite (commit 3b02d60).
-- Frozen: tests/integration/test_migrations.py upgrades a database made from it.

CREATE TABLE alerts (
	id INTEGER NOT NULL,
	rule_id VARCHAR(64) NOT NULL,
	subject_type VARCHAR(16) NOT NULL,
	subject_id VARCHAR(128) NOT NULL,
	device_id VARCHAR(128) NOT NULL,
	site_id VARCHAR(64) NOT NULL,
	farm_id VARCHAR(64) NOT NULL,
	county_id VARCHAR(32) NOT NULL,
	severity VARCHAR(16) NOT NULL,
	state VARCHAR(16) NOT NULL,
	title_zh VARCHAR(256) NOT NULL,
	title_en VARCHAR(256) NOT NULL,
	value FLOAT,
	threshold FLOAT,
	opened_at DATETIME NOT NULL,
	acknowledged_at DATETIME,
	acknowledged_by VARCHAR(128),
	resolved_at DATETIME,
	resolved_by VARCHAR(128),
	note TEXT,
	open_key INTEGER,
	PRIMARY KEY (id)
);

CREATE INDEX ix_alerts_county_state ON alerts (county_id, state);

CREATE INDEX ix_alerts_farm_state ON alerts (farm_id, state);

CREATE INDEX ix_alerts_opened_at ON alerts (opened_at);

CREATE INDEX ix_alerts_site_state ON alerts (site_id, state);

CREATE UNIQUE INDEX uq_alerts_one_open ON alerts (rule_id, subject_id, open_key);

CREATE TABLE api_tokens (
	id INTEGER NOT NULL,
	name VARCHAR(128) NOT NULL,
	role VARCHAR(16) NOT NULL,
	token_hash VARCHAR(64) NOT NULL,
	scope JSON NOT NULL,
	created_at DATETIME NOT NULL,
	revoked_at DATETIME,
	PRIMARY KEY (id),
	UNIQUE (token_hash)
);

CREATE TABLE counties (
	id VARCHAR(32) NOT NULL,
	name_zh VARCHAR(32) NOT NULL,
	name_en VARCHAR(64) NOT NULL,
	plan_group VARCHAR(32) NOT NULL,
	PRIMARY KEY (id)
);

CREATE TABLE dead_letters (
	id INTEGER NOT NULL,
	received_at DATETIME NOT NULL,
	reason VARCHAR(32) NOT NULL,
	detail VARCHAR(512) NOT NULL,
	topic VARCHAR(256) NOT NULL,
	device_id VARCHAR(128),
	quantity VARCHAR(64),
	payload BLOB NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_dead_letters_reason ON dead_letters (reason);

CREATE INDEX ix_dead_letters_received_at ON dead_letters (received_at);

CREATE TABLE indicator_hourly_counts (
	day DATE NOT NULL,
	quantity VARCHAR(64) NOT NULL,
	hours INTEGER NOT NULL,
	final BOOLEAN NOT NULL,
	n_devices INTEGER NOT NULL,
	list_key VARCHAR(40) NOT NULL,
	device_ids TEXT NOT NULL,
	counts BLOB NOT NULL,
	counters BLOB,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (day, quantity)
);

CREATE TABLE indicator_target_sets (
	id INTEGER NOT NULL,
	version VARCHAR(64) NOT NULL,
	title VARCHAR(256) NOT NULL,
	baseline_year INTEGER NOT NULL,
	target_year INTEGER NOT NULL,
	source JSON NOT NULL,
	created_at DATETIME NOT NULL,
	created_by VARCHAR(128),
	PRIMARY KEY (id),
	UNIQUE (version)
);

CREATE TABLE ingest_worker_stats (
	worker_id VARCHAR(128) NOT NULL,
	updated_at DATETIME NOT NULL,
	stats JSON NOT NULL,
	PRIMARY KEY (worker_id)
);

CREATE TABLE job_runs (
	job_id VARCHAR(64) NOT NULL,
	period VARCHAR(32) NOT NULL,
	claimed_at DATETIME NOT NULL,
	PRIMARY KEY (job_id, period)
);

CREATE TABLE registry_version (
	id INTEGER NOT NULL,
	version INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE TABLE schema_version (
	id INTEGER NOT NULL,
	version INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE TABLE site_rule_overrides (
	site_id VARCHAR(64) NOT NULL,
	overrides JSON NOT NULL,
	updated_by VARCHAR(128) NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (site_id)
);

CREATE TABLE station_days (
	device_id VARCHAR(128) NOT NULL,
	day DATE NOT NULL,
	et0_mm FLOAT,
	method VARCHAR(16) NOT NULL,
	t_max_c FLOAT,
	t_min_c FLOAT,
	rh_max_pct FLOAT,
	rh_min_pct FLOAT,
	wind_2m_m_s FLOAT,
	solar_mj_m2_day FLOAT,
	rain_mm FLOAT,
	computed_at DATETIME NOT NULL,
	PRIMARY KEY (device_id, day)
);

CREATE TABLE alert_events (
	id INTEGER NOT NULL,
	alert_id INTEGER NOT NULL,
	at DATETIME NOT NULL,
	from_state VARCHAR(16),
	to_state VARCHAR(16) NOT NULL,
	actor VARCHAR(128) NOT NULL,
	note TEXT,
	PRIMARY KEY (id),
	FOREIGN KEY(alert_id) REFERENCES alerts (id) ON DELETE CASCADE
);

CREATE INDEX ix_alert_events_alert_id ON alert_events (alert_id);

CREATE TABLE farms (
	id VARCHAR(64) NOT NULL,
	name VARCHAR(128) NOT NULL,
	county_id VARCHAR(32) NOT NULL,
	township VARCHAR(64),
	PRIMARY KEY (id),
	FOREIGN KEY(county_id) REFERENCES counties (id)
);

CREATE INDEX ix_farms_county_id ON farms (county_id);

CREATE TABLE indicator_snapshots (
	id INTEGER NOT NULL,
	kind VARCHAR(16) NOT NULL,
	month VARCHAR(7),
	period_label VARCHAR(64) NOT NULL,
	period_start DATETIME NOT NULL,
	period_end DATETIME NOT NULL,
	measured_until DATETIME NOT NULL,
	created_at DATETIME NOT NULL,
	created_by VARCHAR(128) NOT NULL,
	target_set_id INTEGER NOT NULL,
	active_threshold_pct FLOAT NOT NULL,
	reference JSON NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (month),
	FOREIGN KEY(target_set_id) REFERENCES indicator_target_sets (id)
);

CREATE INDEX ix_indicator_snapshots_period_start ON indicator_snapshots (period_start);

CREATE TABLE indicator_targets (
	id INTEGER NOT NULL,
	set_id INTEGER NOT NULL,
	position INTEGER NOT NULL,
	"key" VARCHAR(64) NOT NULL,
	name_zh VARCHAR(128) NOT NULL,
	name_en VARCHAR(256) NOT NULL,
	unit VARCHAR(16) NOT NULL,
	baseline FLOAT,
	target FLOAT,
	scope VARCHAR(8) NOT NULL,
	source_ref VARCHAR(512) NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (set_id, "key"),
	FOREIGN KEY(set_id) REFERENCES indicator_target_sets (id)
);

CREATE INDEX ix_indicator_targets_set_id ON indicator_targets (set_id);

CREATE TABLE indicator_snapshot_evidence (
	snapshot_id INTEGER NOT NULL,
	evidence JSON NOT NULL,
	PRIMARY KEY (snapshot_id),
	FOREIGN KEY(snapshot_id) REFERENCES indicator_snapshots (id)
);

CREATE TABLE indicator_snapshot_values (
	id INTEGER NOT NULL,
	snapshot_id INTEGER NOT NULL,
	"key" VARCHAR(64) NOT NULL,
	scope VARCHAR(32) NOT NULL,
	name_zh VARCHAR(128) NOT NULL,
	name_en VARCHAR(256) NOT NULL,
	unit VARCHAR(16) NOT NULL,
	value FLOAT,
	baseline FLOAT,
	target FLOAT,
	expected FLOAT,
	progress_pct FLOAT,
	status VARCHAR(16) NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(snapshot_id) REFERENCES indicator_snapshots (id)
);

CREATE INDEX ix_indicator_snapshot_values_snapshot_id ON indicator_snapshot_values (snapshot_id);

CREATE INDEX ix_snapshot_values_key_scope ON indicator_snapshot_values ("key", scope);

CREATE TABLE sites (
	id VARCHAR(64) NOT NULL,
	farm_id VARCHAR(64) NOT NULL,
	kind VARCHAR(16) NOT NULL,
	name VARCHAR(128) NOT NULL,
	area_mu FLOAT,
	head_count INTEGER,
	crop VARCHAR(64),
	species VARCHAR(64),
	planting_date DATE,
	lat_deg FLOAT,
	lon_deg FLOAT,
	elevation_m FLOAT,
	attributes JSON NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(farm_id) REFERENCES farms (id)
);

CREATE INDEX ix_sites_farm_id ON sites (farm_id);

CREATE TABLE devices (
	id VARCHAR(128) NOT NULL,
	type VARCHAR(32) NOT NULL,
	site_id VARCHAR(64) NOT NULL,
	gateway_id VARCHAR(128),
	attributes JSON NOT NULL,
	mqtt_username VARCHAR(160) NOT NULL,
	password_hash VARCHAR(256) NOT NULL,
	created_at DATETIME NOT NULL,
	revoked_at DATETIME,
	PRIMARY KEY (id),
	FOREIGN KEY(site_id) REFERENCES sites (id),
	FOREIGN KEY(gateway_id) REFERENCES devices (id),
	UNIQUE (mqtt_username)
);

CREATE INDEX ix_devices_site_id ON devices (site_id);

CREATE TABLE field_advice (
	site_id VARCHAR(64) NOT NULL,
	day DATE NOT NULL,
	irrigate BOOLEAN NOT NULL,
	net_depth_mm FLOAT NOT NULL,
	volume_m3 FLOAT NOT NULL,
	depletion_mm FLOAT NOT NULL,
	taw_mm FLOAT NOT NULL,
	raw_mm FLOAT NOT NULL,
	etc_mm_day FLOAT NOT NULL,
	why VARCHAR(512) NOT NULL,
	why_zh VARCHAR(512) NOT NULL,
	computed_at DATETIME NOT NULL,
	PRIMARY KEY (site_id, day),
	FOREIGN KEY(site_id) REFERENCES sites (id)
);

CREATE TABLE field_days (
	site_id VARCHAR(64) NOT NULL,
	day DATE NOT NULL,
	station_id VARCHAR(128) NOT NULL,
	et0_mm FLOAT NOT NULL,
	et0_method VARCHAR(16) NOT NULL,
	kc FLOAT NOT NULL,
	etc_mm FLOAT NOT NULL,
	etc_adj_mm FLOAT NOT NULL,
	rain_mm FLOAT,
	effective_rain_mm FLOAT NOT NULL,
	irrigation_mm FLOAT NOT NULL,
	irrigation_m3 FLOAT NOT NULL,
	deep_percolation_mm FLOAT NOT NULL,
	depletion_mm FLOAT NOT NULL,
	observed_depletion_mm FLOAT,
	taw_mm FLOAT NOT NULL,
	raw_mm FLOAT NOT NULL,
	root_depth_m FLOAT NOT NULL,
	computed_at DATETIME NOT NULL,
	PRIMARY KEY (site_id, day),
	FOREIGN KEY(site_id) REFERENCES sites (id)
);

CREATE TABLE harvest_records (
	id INTEGER NOT NULL,
	site_id VARCHAR(64) NOT NULL,
	season_year INTEGER NOT NULL,
	crop VARCHAR(64) NOT NULL,
	yield_kg_ha FLOAT NOT NULL,
	harvested_on DATE NOT NULL,
	entered_by VARCHAR(128) NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(site_id) REFERENCES sites (id)
);

CREATE INDEX ix_harvest_records_site_id ON harvest_records (site_id);

INSERT INTO schema_version (id, version) VALUES (1, 1);
