"""The Dash app (see the app issue)."""
