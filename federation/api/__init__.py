"""The HTTP API handlers: record collections, the node profile, meta, exports and introspection."""
