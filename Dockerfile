# molgfn service image: API (`molgfn serve`), workers (`molgfn worker`) and migrations (`molgfn db upgrade`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# RDKit's wheels load libXrender/libXext for drawing.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libxrender1 libxext6 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/molgfn

# CPU torch first, from its own index, so that installing the project does not pull a CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md ./
COPY gfn ./gfn
COPY app ./app
RUN pip install .

RUN useradd --create-home --uid 10001 molgfn \
    && mkdir -p /data \
    && chown molgfn /data
USER molgfn

ENV MOLGFN_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)" || exit 1

# API only by default; workers run as their own service (see docker-compose.yml).
CMD ["molgfn", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "0"]
