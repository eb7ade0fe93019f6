"""mmssl."""
