# tests/openapi.mk (API spec test): docs/openapi.yaml against the real
# server (structure, every operation called, answers match the schemas,
# routes and methods match both ways). Included from Makefile.am.
TESTS += tests/integration/test_openapi.py
EXTRA_DIST += tests/integration/test_openapi.py docs/openapi.yaml
