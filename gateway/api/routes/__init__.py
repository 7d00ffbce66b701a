"""One router per REST resource, mounted by `gateway.api.app.create_app`."""
