#!/usr/bin/env bash
# One command per kind of host. Configuration only through the environment, the same on every host:
#   DATABASE_URL            the primary            postgres://storefront:...@10.0.0.11:5432/storefront
#   DATABASE_REPLICA_URLS   read replicas (comma-separated; optional)   postgres://...@10.0.0.12:5432/storefront
#   REDIS_URL               broker and cache       redis://:password@10.0.0.21:6379/0
#   SECRET_KEY (50+ chars), ALLOWED_HOSTS, MEDIA_ROOT (a volume every web and worker host shares), NUM_PROXIES=1
#
#   deploy/hosts/storefront.sh migrate             once per release, from any one host (runs on the primary)
#   deploy/hosts/storefront.sh web                 each web host: gunicorn on $BIND (0.0.0.0:8000)
#   deploy/hosts/storefront.sh worker-embeddings   each embedding host (a GPU, if any): photos -> vectors
#   deploy/hosts/storefront.sh worker-serving      search by photo, trending, retraining, the sweeps
#   deploy/hosts/storefront.sh beat                exactly ONE in the whole shop (two would send every task twice)
set -euo pipefail
cd "$(dirname "$0")/../.."
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-storefront.settings.production}"
BIN="${VENV:-.venv}/bin"
NAME="${HOST_NAME:-$(hostname)}"
case "${1:?role: migrate | web | worker-embeddings | worker-serving | beat}" in
  migrate)
    "$BIN/python" manage.py migrate --noinput && "$BIN/python" manage.py collectstatic --noinput ;;
  web)
    # One process more than cores, three threads each: a thread holds its process's GIL while it
    # ranks or renders, and on 2 cores 3 x 3 served customers' homepages faster than 2 x 4
    # (docs/benchmarks.md). Each process holds the models (about 350 MB on the H&M week).
    # A connection per request (--keep-alive 0): a kept connection, the load balancer's included,
    # stays with the worker that accepted it, and one worker could hold most of them while the
    # others idled; closed, each request goes to a worker free to accept it.
    exec "$BIN/gunicorn" storefront.wsgi --bind "${BIND:-0.0.0.0:8000}" \
      --workers "${WEB_WORKERS:-$(( $(nproc) + 1 ))}" --threads "${WEB_THREADS:-3}" --keep-alive "${WEB_KEEP_ALIVE:-0}" \
      --limit-request-line 8190 --timeout 30 --graceful-timeout 20 --log-level warning ;;
  worker-embeddings)
    # One process per core and one torch thread each (EMBEDDING_TORCH_THREADS); on a GPU host, 1-2.
    # search shares the host that holds the encoder, so a search by photo is embedded there too.
    exec "$BIN/celery" -A workers worker -Q search,embeddings -n "embeddings@$NAME" \
      --concurrency "${EMBEDDING_WORKER_CONCURRENCY:-$(nproc)}" --loglevel "${LOG_LEVEL:-INFO}" ;;
  worker-serving)
    exec "$BIN/celery" -A workers worker -Q search,default -n "serving@$NAME" \
      --concurrency "${SERVING_WORKER_CONCURRENCY:-2}" --loglevel "${LOG_LEVEL:-INFO}" ;;
  beat)
    exec "$BIN/celery" -A workers beat --loglevel "${LOG_LEVEL:-INFO}" \
      --schedule "${BEAT_SCHEDULE:-/var/lib/storefront/celerybeat-schedule}" ;;
  *) echo "unknown role: $1" >&2; exit 2 ;;
esac
