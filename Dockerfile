# smartstore: one image for the gateway, the edge agent and the simulator (`smartstore <command>`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# OpenCV (headless) still links GLib.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Dependencies first, from pyproject.toml alone, so code edits do not reinstall them.
COPY pyproject.toml README.md LICENSE ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

COPY smartstore ./smartstore
# smartstore/gateway etc. are links to these folders: the wheel holds them as smartstore.gateway, ...
COPY gateway ./gateway
COPY edge ./edge
COPY devices ./devices
COPY dashboard ./dashboard
COPY models ./models
RUN pip install --no-deps . && rm -rf /src

# A non-root user; the edge state dir exists in the image so a named volume there inherits its owner.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/smartstore --create-home smartstore \
    && mkdir -p /var/lib/smartstore/edge \
    && chown -R smartstore:smartstore /var/lib/smartstore
USER smartstore
WORKDIR /var/lib/smartstore

ENTRYPOINT ["smartstore"]
CMD ["--help"]
