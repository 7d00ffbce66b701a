"""One router per REST resource, mounted by `smartstore.gateway.api.app.create_app`."""
