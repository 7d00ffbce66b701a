"""The gateway REST API: FastAPI app, dependencies, schemas and one router per resource."""
