#!/bin/sh
# The container's commands: web (gunicorn), worker (qcluster), migrate, or any command given.
set -eu

# prometheus_client's multiprocess files must start empty with the processes that write them.
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  rm -rf "$PROMETHEUS_MULTIPROC_DIR"
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi

# deploy/healthcheck.py asks the process this container runs.
echo "${1:-web}" > "${TRAVELFIT_ROLE_FILE:-/tmp/travelfit-role}"

case "${1:-web}" in
  web)
    # Hashed static files into DATA_DIR/static, which whitenoise serves (a few seconds).
    python manage.py collectstatic --noinput --verbosity 0
    exec gunicorn -c travelfit/gunicorn.conf.py
    ;;
  worker)
    exec python manage.py qcluster
    ;;
  migrate)
    python manage.py migrate --noinput
    exec python manage.py createcachetable
    ;;
  *)
    exec "$@"
    ;;
esac
