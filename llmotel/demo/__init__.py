"""The built-in fake provider and demo traffic."""
