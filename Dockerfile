# ntrader in a container: dependencies from uv.lock, run as a non-root user.
FROM ghcr.io/astral-sh/uv:0.9-python3.12-bookworm-slim AS build
WORKDIR /app
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY src ./src
COPY data ./data
RUN uv sync --frozen --no-dev

FROM python:3.12-slim-bookworm
RUN groupadd --system ntrader && useradd --system --gid ntrader --create-home ntrader
COPY --from=build --chown=ntrader:ntrader /app /app
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1
USER ntrader
WORKDIR /home/ntrader
ENTRYPOINT ["ntrader"]
CMD ["--help"]
