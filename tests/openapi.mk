# tests/openapi.mk (API spec test)
