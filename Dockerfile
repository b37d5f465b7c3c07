# IamBilly production image: web, worker and inference all run from it with different commands.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 BILLY_ENV=production HF_HUB_OFFLINE=1 \
    BILLY_DATA_DIR=/var/lib/iambilly
RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng ffmpeg libpq5 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /var/lib/iambilly --uid 10001 billy
WORKDIR /app
COPY requirements.txt .
# llama-cpp-python compiles from source (portable build: the native one segfaults on some CPUs); the compiler is
# removed again once the wheels are installed.
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-cache-dir -r requirements.txt \
    && apt-get purge -y build-essential cmake && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
COPY . .
RUN BILLY_ENV=development BILLY_DATA_DIR=/tmp/build DATABASE_URL=postgres://build@localhost/build \
    python manage.py collectstatic --noinput && rm -rf /tmp/build
USER billy
EXPOSE 8000
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py verify_keys && gunicorn billy.wsgi --bind 0.0.0.0:8000 --workers 3 --access-logfile -"]
