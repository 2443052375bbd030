# authsvc image: the web app (gunicorn), the Celery worker and beat all run it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# Static files (admin, API docs) collected, compressed and content-hashed at
# build time; whitenoise serves them. The key only lets settings load here.
RUN DEBUG=0 SECRET_KEY=collectstatic-only-not-a-real-key python manage.py collectstatic --noinput

RUN useradd --system --uid 10001 --no-create-home authsvc
USER authsvc

EXPOSE 8000
CMD ["gunicorn", "authsvc.wsgi", "--bind", "0.0.0.0:8000"]
