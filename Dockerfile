# Ka-Ro LMS production image: Python 3.11 slim, WeasyPrint's system libraries, non-root,
# static files collected at build time, served by gunicorn + WhiteNoise.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 libjpeg62-turbo fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 karo
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=karo:karo . .

# collectstatic needs settings to load; these build-time values are not used at run time.
RUN DEBUG=false SECRET_KEY=build-only-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz \
    KARO_AUDIT_KEY=build-only-not-a-secret-audit-key-0123456789 \
    ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput \
 && chown -R karo:karo /app/staticfiles

USER karo
EXPOSE 8000
# Migrations run once per release (see README: `docker run ... python manage.py migrate`).
CMD ["gunicorn", "--config", "gunicorn.conf.py", "karo.wsgi:application"]
