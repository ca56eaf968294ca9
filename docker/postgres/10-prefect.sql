-- Prefect's own database beside newswatch's store: both use alembic, and their
-- `alembic_version` tables must not meet. Run once, when the pgdata volume is new.
CREATE DATABASE prefect OWNER newswatch;
