"""The OpenAPI 3.1 document of the HTTP API (GET /openapi.json), built from the
operation catalogue and the pydantic models the handlers validate with."""
