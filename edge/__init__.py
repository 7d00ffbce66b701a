"""smartstore edge agent: a store's raw device topics in, durable contract signals out."""
