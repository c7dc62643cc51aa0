# One command each: `make run` serves the platform with demo data, `make test` runs the tests.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: venv run test fuzz check bench bench-test lint migrate seed messages clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found); set PYTHON=..."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

migrate: venv
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo --if-empty

run: seed
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py demo_accounts
	$(VENV)/bin/daphne -b 127.0.0.1 -p $(PORT) config.asgi:application

test: venv
	$(PY) -m pytest --ds=config.settings.test $(PYTEST_ARGS)

# schemathesis against the API's schema on a live server, once per role (scripts/fuzz_api.py).
fuzz: venv
	$(PY) scripts/fuzz_api.py $(FUZZ_ARGS)

# The checks CI makes besides the tests: lint, types (mypy), Django's system checks (the production settings'
# deployment checks too, with a throwaway key), migrations in step with the models, the schema.
check: lint
	$(VENV)/bin/mypy
	$(PY) manage.py check --fail-level WARNING
	DJANGO_SETTINGS_MODULE=config.settings.production DJANGO_ALLOWED_HOSTS=dispatch.example.org \
		DJANGO_SECRET_KEY=$$($(PY) -c "import secrets; print(secrets.token_urlsafe(50))") \
		$(PY) manage.py check --deploy --fail-level WARNING
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

# The benchmark helpers' own tests: not part of `make test`.
bench-test: venv
	$(PY) -m pytest --ds=config.settings.test bench/tests

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# One script per figure, each printing its figure last (bench/README.md). bench/push_hold.py (minutes of
# held connections) and bench/idle_penalty.py (a diagnostic) are run by hand.
bench: venv
	$(PY) bench/lifecycle.py $(BENCH_ARGS)
	$(PY) bench/matching.py $(BENCH_ARGS)
	$(PY) bench/push.py $(BENCH_ARGS)
	$(PY) bench/pages.py $(BENCH_ARGS)
	$(PY) bench/board.py $(BENCH_ARGS)
	$(PY) bench/export.py $(BENCH_ARGS)

messages: venv
	cd $(CURDIR) && $(PY) manage.py makemessages -l zh_Hans --ignore '.venv/*' --ignore 'bench/*' --ignore 'tests/*'
	$(PY) manage.py compilemessages --ignore '.venv/*'

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles fuzz-reports
