"""The app's pages: each module has ``layout(**query)`` and ``register_callbacks(app)``."""
