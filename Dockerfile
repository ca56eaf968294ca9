# newswatch: the `newswatch serve` process of docker-compose.yml (any command works:
# `docker compose run --rm newswatch run`, `... newswatch sources list`).
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false
WORKDIR /app
COPY pyproject.toml README.md ./
COPY flows ./flows
COPY storage ./storage
COPY alerts ./alerts
# Prefect exactly as the compose stack's server (prefecthq/prefect:3.8.8); the rest within
# pyproject.toml's ranges, SQLAlchemy below 2.1 among them.
RUN pip install . "prefect==3.8.8"

COPY examples ./examples
RUN useradd --create-home newswatch
USER newswatch
ENTRYPOINT ["newswatch"]
CMD ["serve", "--config", "/config/newswatch.toml"]
