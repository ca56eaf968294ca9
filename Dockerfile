# newswatch: the monitoring process, for docker-compose.yml.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY flows ./flows
COPY storage ./storage
COPY alerts ./alerts
RUN pip install .

COPY examples ./examples
RUN useradd --create-home newswatch
USER newswatch
ENTRYPOINT ["newswatch"]
CMD ["run", "--config", "/config/newswatch.toml"]
