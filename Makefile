# IamBilly. `make run` starts the app on the embedded database; `make test` runs every test.
.PHONY: run test bench lint check-keys verify-audit

run:
	bin/bootstrap run
	.venv/bin/python bin/launch.py

test:
	bin/bootstrap test
	.venv/bin/python -m pytest $(PYTEST_ARGS)

bench:
	bin/bootstrap run
	.venv/bin/python bench/run.py

lint:
	.venv/bin/ruff check .

verify-audit:
	.venv/bin/python manage.py verify_audit
